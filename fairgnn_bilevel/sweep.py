"""The trade-off sweep: FairBiNN across η and the Lagrangian across λ, with Pareto fronts."""
from __future__ import annotations

import csv
from pathlib import Path
from typing import Callable, Dict, List, Sequence

import numpy as np

from .config import Config, ConfigError
from .experiment import check_seeds, load_data, run_seeds
from .metrics import METRICS
from .plot import hypervolume, plot_fronts, tradeoff_front
from .report import write_json
from .train.engine import resolve_config

__all__ = ['run_sweep']


def run_sweep(config: Config, etas: Sequence[float], lams: Sequence[float], seeds: int,
              out: Path, *, progress: bool = True, overwrite: bool = False,
              log: Callable[[str], None] = print) -> dict:
    """Train bilevel at each η and lagrangian at each λ (``seeds`` runs each).

    Writes ``out/sweep.json`` (every point: method, weight, mean val/test metrics),
    ``out/sweep.csv``, ``out/sweep.png`` (test ACC against test ΔDP with each method's
    Pareto front; only with matplotlib, the ``plots`` extra) and returns the summary,
    including each front's hypervolume measured from the same reference point (the worst
    ΔDP and ACC seen) and the names of the files ``written``.
    """
    check_seeds(seeds)
    settings = [('bilevel', 'eta', eta) for eta in etas] + [
        ('lagrangian', 'lam', lam) for lam in lams]
    configs = [resolve_config(config, method, **{f'train.{key}': weight})
               for method, key, weight in settings]  # every value checked before training
    if out.exists() and not out.is_dir():
        raise ConfigError(f'output folder {out} is a file; pass a folder to --out')
    data = load_data(config)
    points: List[dict] = []
    for (method, key, weight), cfg in zip(settings, configs):
        runs = run_seeds(cfg, seeds, out / f'{method}-{key}{weight:g}', progress=progress,
                         data=data, overwrite=overwrite, log=log)
        mean = lambda split, m: float(np.mean([r[split][m] for r in runs]))  # noqa: E731
        point = {'method': method, key: weight, 'seeds': seeds,
                 **{f'{split}_{m}': mean(split, m) for split in ('val', 'test')
                    for m, *_ in METRICS}}
        points.append(point)
        log(f'{method:>10} {key}={weight:<8g} test ACC {100 * point["test_acc"]:6.2f}  '
            f'ΔDP {100 * point["test_dp"]:5.2f}  ΔEO {100 * point["test_eo"]:5.2f}')
    series: Dict[str, list] = {}
    for p in points:
        label = f'η={p["eta"]:g}' if p['method'] == 'bilevel' else f'λ={p["lam"]:g}'
        series.setdefault(p['method'], []).append((p['test_dp'], p['test_acc'], label))
    reference = (max(p['test_dp'] for p in points), min(p['test_acc'] for p in points))
    summary = {'dataset': config.data.name, 'points': points, 'reference_point': reference,
               'fronts': {m: tradeoff_front([(x, y) for x, y, _ in s]) for m, s in series.items()},
               'hypervolume': {m: hypervolume([(x, y) for x, y, _ in s], reference)
                               for m, s in series.items()}}
    write_json(out / 'sweep.json', summary)
    with open(out / 'sweep.csv', 'w', newline='') as handle:
        writer = csv.DictWriter(handle, fieldnames=['method', 'eta', 'lam', 'seeds'] + [
            f'{s}_{m}' for s in ('val', 'test') for m, *_ in METRICS])
        writer.writeheader()
        writer.writerows(points)
    summary['written'] = ['sweep.json', 'sweep.csv']
    try:
        plot_fronts(series, out / 'sweep.png',
                    f'{config.data.name}: accuracy vs ΔDP ({seeds} seed(s) per point)')
        summary['written'].append('sweep.png')
    except ModuleNotFoundError as error:
        log(f'note: no sweep.png: the plot needs {error.name}; install the plots extra '
            '(pip install "fairgnn-bilevel[plots]", or pip install -e ".[plots]" in a checkout)')
    return summary
