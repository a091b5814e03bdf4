"""Parse the raw FairGNN format: a node CSV (``user_id``, label, sensitive, features) and a
whitespace-separated edge list of user-id pairs.  Every check names the file and the fix."""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import List

import numpy as np
import pandas as pd

__all__ = ['RawGraph', 'read_fairgnn', 'read_nodes', 'read_edges']


@dataclass
class RawGraph:
    features: np.ndarray        # [n, f] float32, every column but user_id and the label
    feature_names: List[str]
    labels: np.ndarray          # [n] int64, -1 = unlabelled, as in the file
    sens: np.ndarray            # [n] int64, as in the file (-1 = unknown)
    edges: np.ndarray           # [2, m] int64 row indices, as listed (may repeat)


def read_table(path: Path, header: str) -> pd.DataFrame:
    """A node CSV with at least one row; ``header`` says what its header row should hold."""
    try:
        frame = pd.read_csv(path)
    except pd.errors.EmptyDataError:
        raise ValueError(f'{path}: the file is empty; expected a CSV with a header row '
                         f'({header})') from None
    except (UnicodeDecodeError, pd.errors.ParserError) as error:
        raise ValueError(f'{path}: not a readable CSV file ({type(error).__name__}: '
                         f'{str(error).splitlines()[0][:120]}); is it the right file?') from None
    if frame.empty:
        raise ValueError(f'{path}: the file has a header but no node rows')
    return frame


def read_nodes(path: Path, label: str, sens: str) -> pd.DataFrame:
    """The node table, checked: a CSV with ``user_id``, ``label`` and ``sens`` columns,
    unique ids, numeric columns and no empty value."""
    frame = read_table(path, f'user_id, {label}, {sens}, features')
    missing = [c for c in ('user_id', label, sens) if c not in frame.columns]
    if missing:
        raise ValueError(f'{path}: missing column(s) {", ".join(missing)}; the FairGNN format '
                         f'needs user_id, {label} (label) and {sens} (sensitive attribute)')
    duplicated = frame['user_id'][frame['user_id'].duplicated()]
    if len(duplicated):
        raise ValueError(f'{path}: {len(duplicated)} duplicate user_id value(s), e.g. '
                         f'{duplicated.iloc[0]}; each row must be one node')
    non_numeric = [c for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])]
    if non_numeric:
        raise ValueError(f'{path}: non-numeric column(s) {", ".join(map(str, non_numeric[:5]))}; '
                         'encode them as numbers before loading')
    for column in ('user_id', label, sens):
        if frame[column].isna().any():
            raise ValueError(f'{path}: column {column} has {int(frame[column].isna().sum())} '
                             'empty value(s); fill them (-1 marks unlabelled/unknown)')
    nan_columns = frame.columns[frame.isna().any()].tolist()
    if nan_columns:
        raise ValueError(f'{path}: feature column(s) {", ".join(map(str, nan_columns[:5]))} '
                         'have empty values; impute them before loading')
    return frame


def read_edges(path: Path) -> np.ndarray:
    """The edge list as an ``[m, 2]`` array of user ids (``[0, 2]`` when empty)."""
    try:
        edges = np.loadtxt(path, dtype=np.int64, ndmin=2)
    except (ValueError, UnicodeDecodeError) as error:
        detail = str(error).splitlines()[0][:120]
        raise ValueError(f'{path}: not a list of integer user-id pairs ({detail})') from None
    if edges.size == 0:
        return np.zeros((0, 2), dtype=np.int64)
    if edges.shape[1] != 2:
        raise ValueError(f'{path}: expected two user ids per line, found {edges.shape[1]}')
    return edges


def read_fairgnn(nodes_path: Path, edges_path: Path, *, label: str, sens: str,
                 drop_unknown_edges: bool = False) -> RawGraph:
    """Read and validate one dataset in the FairGNN raw format.

    Args:
        nodes_path: the node CSV.
        edges_path: the edge list, one ``user_id user_id`` pair per line.
        label, sens: the label and sensitive-attribute columns.
        drop_unknown_edges: drop edges whose ids are not in the node table (with a
            warning) instead of raising.
    """
    frame = read_nodes(Path(nodes_path), label, sens)
    raw_edges = read_edges(Path(edges_path))
    index = pd.Index(frame['user_id'].to_numpy())
    positions = index.get_indexer(raw_edges.reshape(-1)).reshape(raw_edges.shape)
    unknown = (positions < 0).any(1)
    if unknown.any():
        example = raw_edges[unknown][0].tolist()
        message = (f'{edges_path}: {int(unknown.sum())} of {len(raw_edges)} edges name user ids '
                   f'not in {Path(nodes_path).name} (e.g. {example})')
        if not drop_unknown_edges:
            raise ValueError(message + '; fix the files or pass drop_unknown_edges=True')
        warnings.warn(message + '; dropped', stacklevel=3)
        positions = positions[~unknown]
    names = [c for c in frame.columns if c not in ('user_id', label)]
    return RawGraph(features=frame[names].to_numpy(dtype=np.float32), feature_names=names,
                    labels=frame[label].to_numpy(dtype=np.int64),
                    sens=frame[sens].to_numpy(dtype=np.int64), edges=positions.T.copy())
