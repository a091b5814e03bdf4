"""Reporting: mean ± std tables over seeds and the ``results.json`` run records."""
from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Annotated, Any, Dict, Iterable, List, Optional, Sequence

import numpy as np
from pydantic import (AllowInfNan, BaseModel, ConfigDict, Field, StrictFloat, StrictInt,
                      StrictStr, ValidationError)

from .metrics import METRICS
from .statistics import mean_interval

__all__ = ['summarize', 'format_cell', 'format_table', 'table_columns', 'write_json',
           'read_runs', 'RunRecord', 'CHECKS']

# Shown after the four metrics where every run has them: F1 and the share predicted
# positive tell a model that looks fair because it predicts one class from a real one.
CHECKS = (('f1', 'F1'), ('positive_rate', 'pos. rate'))


def summarize(runs: Iterable[dict], key: Sequence[str] = ('dataset', 'method')) -> List[dict]:
    """Group runs by ``key`` and give, for each test metric, (mean, sample std, and the
    95 % Student-t interval of the mean)."""
    groups: Dict[tuple, List[dict]] = {}
    for run in runs:
        groups.setdefault(tuple(run[k] for k in key), []).append(run)
    rows = []
    for values, members in groups.items():
        row = dict(zip(key, values), runs=len(members))
        shown = [m for m, _ in CHECKS if all(m in run['test'] for run in members)]
        for metric in [m for m, *_ in METRICS] + shown:
            data = np.array([m['test'][metric] for m in members], dtype=float)
            interval = mean_interval(data)
            row[metric] = (interval.mean, float(data.std(ddof=1)) if len(data) > 1 else 0.0,
                           interval.low, interval.high)
        rows.append(row)
    return rows


def format_cell(mean: float, std: float, low: float = math.nan, high: float = math.nan, *,
                runs: int) -> str:
    """``mean ± std [low, high]`` in percent (the 95 % interval of the mean when known);
    one run has no spread, so its std prints as ``–``."""
    text = f'{100 * mean:.2f} ± ' + (f'{100 * std:.2f}' if runs > 1 else '–')
    return text if math.isnan(low) else f'{text} [{100 * low:.2f}, {100 * high:.2f}]'


def table_columns(rows: Sequence[dict]) -> List[tuple]:
    """(key, name) of the columns :func:`format_table` shows for ``rows``: the four
    metrics, then each of :data:`CHECKS` that every row has."""
    return [(m, name) for m, name, _ in METRICS] + [
        (m, name) for m, name in CHECKS if rows and all(m in row for row in rows)]


def format_table(rows: Sequence[dict], label: str = 'method') -> str:
    """A Markdown table of ``rows`` from :func:`summarize`, metrics in percent."""
    columns = table_columns(rows)
    header = f'| {label} | runs | ' + ' | '.join(name for _, name in columns) + ' |'
    lines = [header, '|' + '---|' * (len(columns) + 2)]
    for row in rows:
        cells = [format_cell(*row[m], runs=row['runs']) for m, _ in columns]
        lines.append(f'| {row[label]} | {row["runs"]} | ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def write_json(path: str | Path, payload) -> None:
    """Write JSON atomically (temp file + rename), so an interruption never truncates it.

    The file gets the permissions of any newly created file (``0666`` less the umask),
    not the owner-only mode of the temporary file.  When the write fails (a full disk, a
    file that cannot be replaced) the temporary file is removed, the file at ``path`` is
    left as it was, and the ``OSError`` propagates.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix='.tmp')
    try:
        with os.fdopen(fd, 'w') as handle:
            json.dump(payload, handle, indent=2, ensure_ascii=False)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


Fraction = Annotated[StrictFloat, Field(ge=0, le=1), AllowInfNan(False)]


class _Metrics(BaseModel):
    model_config = ConfigDict(extra='allow')
    acc: Fraction
    auc: Fraction
    dp: Fraction
    eo: Fraction


class RunRecord(BaseModel):
    """What a record of ``results.json`` must hold to be reused or printed: the fields
    that resuming and the tables read, of the right types and ranges (metrics are
    fractions in [0, 1]); other fields are kept as they are."""

    model_config = ConfigDict(extra='allow')
    dataset: StrictStr
    method: StrictStr
    seed: Annotated[StrictInt, Field(ge=0)]
    config_hash: StrictStr
    selected_epoch: Annotated[StrictInt, Field(ge=0)]
    val: _Metrics
    test: Optional[_Metrics]


def _record_problem(record: Any) -> Optional[str]:
    """What is wrong with one record, in words, or ``None``."""
    if not isinstance(record, dict):
        return f'a {type(record).__name__}, not a mapping of fields'
    try:
        RunRecord.model_validate(record)
    except ValidationError as error:
        first = error.errors()[0]
        where = '.'.join(str(p) for p in first['loc'])
        if first['type'] == 'missing':
            return f'field {where} is missing'
        return f'{where} = {first["input"]!r}: {first["msg"].lower()}'
    return None


def read_runs(path: str | Path) -> List[dict]:
    """The run records of a ``results.json`` (empty if the file does not exist), each
    checked against :class:`RunRecord`: a file that is not JSON, not a list, or holds a
    record of the wrong shape (a hand-edited ``acc: 5.0``, a seed written as text) is
    refused in one line naming the record, never printed or silently replaced."""
    path = Path(path)
    if not path.is_file():
        return []
    try:
        runs = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        runs = error
    if not isinstance(runs, list):
        problem = f' ({runs})' if isinstance(runs, Exception) else ''
        raise ValueError(f'{path} is not a valid results file, a list of run records{problem}; '
                         'move it away or pick another output folder')
    for index, record in enumerate(runs):
        problem = _record_problem(record)
        if problem is not None:
            seed = f' (seed {record.get("seed")!r})' if isinstance(record, dict) else ''
            raise ValueError(f'{path}: record {index}{seed} is not a valid run record '
                             f'({problem}); fix or remove it, or move the file away')
    return runs
