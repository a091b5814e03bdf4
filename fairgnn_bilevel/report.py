"""Reporting: mean ± std tables over seeds and the ``results.json`` run records."""
from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Dict, Iterable, List, Sequence

import numpy as np

from .metrics import METRICS
from .statistics import mean_interval

__all__ = ['summarize', 'format_cell', 'format_table', 'write_json', 'read_runs']


def summarize(runs: Iterable[dict], key: Sequence[str] = ('dataset', 'method')) -> List[dict]:
    """Group runs by ``key`` and give, for each test metric, (mean, sample std, and the
    95 % Student-t interval of the mean)."""
    groups: Dict[tuple, List[dict]] = {}
    for run in runs:
        groups.setdefault(tuple(run[k] for k in key), []).append(run)
    rows = []
    for values, members in groups.items():
        row = dict(zip(key, values), runs=len(members))
        for metric, *_ in METRICS:
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


def format_table(rows: Sequence[dict], label: str = 'method') -> str:
    """A Markdown table of ``rows`` from :func:`summarize`, metrics in percent."""
    header = f'| {label} | runs | ' + ' | '.join(name for _, name, _ in METRICS) + ' |'
    lines = [header, '|' + '---|' * (len(METRICS) + 2)]
    for row in rows:
        cells = [format_cell(*row[m], runs=row['runs']) for m, *_ in METRICS]
        lines.append(f'| {row[label]} | {row["runs"]} | ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def write_json(path: str | Path, payload) -> None:
    """Write JSON atomically (temp file + rename), so an interruption never truncates it.

    The file gets the permissions of any newly created file (``0666`` less the umask),
    not the owner-only mode of the temporary file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix='.tmp')
    with os.fdopen(fd, 'w') as handle:
        json.dump(payload, handle, indent=2, ensure_ascii=False)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    os.replace(tmp, path)


def read_runs(path: str | Path) -> List[dict]:
    """The run records of a ``results.json`` (empty if the file does not exist)."""
    path = Path(path)
    if not path.is_file():
        return []
    try:
        runs = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        runs = error
    if not isinstance(runs, list) or not all(isinstance(r, dict) and 'seed' in r for r in runs):
        problem = f' ({runs})' if isinstance(runs, Exception) else ''
        raise ValueError(f'{path} is not a valid results file, a list of run records{problem}; '
                         'move it away or pick another output folder')
    return runs
