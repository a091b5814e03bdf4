"""Parse the raw NIFTY format (German, Bail, Credit): a node CSV whose row ``i`` is node
``i`` (no id column; label, sensitive and feature columns, some as text), and a
whitespace-separated edge list of 0-based row pairs, written as integers or as floats
(``0.000000000000000000e+00``).  Every check names the file and the fix."""
from __future__ import annotations

from pathlib import Path
from typing import Dict, Sequence

import numpy as np
import pandas as pd

from .fairgnn_format import RawGraph, read_table

__all__ = ['read_nifty', 'read_nifty_nodes', 'read_row_pairs']


def read_nifty_nodes(path: Path, *, label: str, sens: str,
                     values: Dict[str, Dict[str, int]]) -> pd.DataFrame:
    """The node table, checked, with the columns named in ``values`` mapped to numbers
    (a value not listed there is an error naming it)."""
    frame = read_table(path, f'{label}, {sens}, features')
    missing = [c for c in (label, sens) if c not in frame.columns]
    if missing:
        raise ValueError(f'{path}: missing column(s) {", ".join(missing)}; this format needs '
                         f'{label} (label) and {sens} (sensitive attribute)')
    for column, mapping in values.items():
        if column not in frame.columns:
            continue
        unknown = sorted(set(frame[column].dropna().astype(str)) - set(mapping))
        if unknown:
            raise ValueError(f'{path}: column {column} holds {unknown[:3]}; expected one of '
                             f'{sorted(mapping)}')
        frame[column] = frame[column].astype(str).map(mapping)
    nan_columns = frame.columns[frame.isna().any()].tolist()
    if nan_columns:
        raise ValueError(f'{path}: column(s) {", ".join(map(str, nan_columns[:5]))} have empty '
                         'values; fill or impute them before loading')
    return frame


def read_row_pairs(path: Path, num_nodes: int | None = None) -> np.ndarray:
    """The edge list as an ``[m, 2]`` int64 array of row indices; float-written integers
    are accepted, fractions and indices outside ``[0, num_nodes)`` are not."""
    try:
        pairs = np.loadtxt(path, dtype=np.float64, ndmin=2)
    except (ValueError, UnicodeDecodeError) as error:
        detail = str(error).splitlines()[0][:120]
        raise ValueError(f'{path}: not a list of node-index pairs ({detail})') from None
    if pairs.size == 0:
        return np.zeros((0, 2), dtype=np.int64)
    if pairs.shape[1] != 2:
        raise ValueError(f'{path}: expected two node indices per line, found {pairs.shape[1]}')
    whole = np.isfinite(pairs) & (pairs == np.round(pairs))
    if not whole.all():
        row = int(np.flatnonzero(~whole.all(1))[0])
        raise ValueError(f'{path}: line {row + 1} holds {pairs[row].tolist()}, not two whole '
                         'node indices')
    pairs = pairs.astype(np.int64)
    if num_nodes is not None and len(pairs) and (pairs.min() < 0 or pairs.max() >= num_nodes):
        bad = int(np.flatnonzero(((pairs < 0) | (pairs >= num_nodes)).any(1))[0])
        raise ValueError(f'{path}: line {bad + 1} names node {pairs[bad].tolist()}, outside the '
                         f'{num_nodes} rows of the node file (indices are 0-based rows)')
    return pairs


def read_nifty(nodes_path: Path, edges_path: Path, *, label: str, sens: str,
               drop: Sequence[str] = (), values: Dict[str, Dict[str, int]] | None = None
               ) -> RawGraph:
    """Read and validate one dataset in the NIFTY raw format.

    Args:
        nodes_path: the node CSV (row ``i`` = node ``i``).
        edges_path: the edge list, one ``row row`` pair per line.
        label, sens: the label and sensitive-attribute columns.
        drop: columns left out of the features besides the label (absent ones are fine).
        values: columns whose values stand for numbers, each value as the file writes it
            (``{'Gender': {'Female': 1, 'Male': 0}, 'GoodCustomer': {'1': 1, '-1': 0}}``);
            the label and the sensitive column may be among them.
    """
    frame = read_nifty_nodes(Path(nodes_path), label=label, sens=sens, values=values or {})
    non_numeric = [c for c in frame.columns
                   if c not in drop and not pd.api.types.is_numeric_dtype(frame[c])]
    if non_numeric:
        raise ValueError(f'{nodes_path}: non-numeric column(s) {", ".join(non_numeric[:5])}; '
                         'encode them as numbers before loading')
    for column in (label, sens):
        column_values = frame[column].to_numpy()
        if not np.array_equal(column_values, np.round(column_values)):
            raise ValueError(f'{nodes_path}: column {column} holds fractions; expected whole '
                             'class / group numbers')
    edges = read_row_pairs(Path(edges_path), len(frame))
    names = [c for c in frame.columns if c != label and c not in drop]
    return RawGraph(features=frame[names].to_numpy(dtype=np.float32), feature_names=names,
                    labels=frame[label].to_numpy(dtype=np.int64),
                    sens=frame[sens].to_numpy(dtype=np.int64), edges=edges.T.copy())
