"""The trade-off sweep: FairBiNN across η and the Lagrangian across λ (and, on a table,
fairlearn's ExponentiatedGradient across its bound), with Pareto fronts and hypervolumes
whose uncertainty over seeds is measured."""
from __future__ import annotations

import csv
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
from torch_geometric.data import Data

from .config import Config, ConfigError, bound_settings
from .experiment import check_seeds, default_seeds, load_data, run_seeds
from .fairlearn_reference import DEFAULT_BOUNDS, check_bounds, exponentiated_gradient_runs
from .metrics import METRICS
from .plot import hypervolume, plot_fronts, tradeoff_front
from .report import write_json
from .statistics import describe_difference, mean_interval, paired_difference
from .engine import resolve_config

__all__ = ['run_sweep', 'seed_hypervolumes']

_LABEL = {'eta': 'η=', 'lam': 'λ=', 'bound': 'bound=', 'max_dp': 'ΔDP ≤ '}
BOUNDED = ' (bounded)'  # a bounded method's series: 'bilevel (bounded)'


def seed_hypervolumes(runs: Sequence[dict]) -> Tuple[Dict[str, Dict[int, float]],
                                                     Tuple[float, float]]:
    """Each method's hypervolume per seed: the front of that seed's (test ΔDP, test ACC)
    points across the method's weights, measured from one reference point shared by every
    method and seed (the worst ΔDP and ACC of all runs)."""
    reference = (max(r['test']['dp'] for r in runs), min(r['test']['acc'] for r in runs))
    points: Dict[str, Dict[int, list]] = {}
    for run in runs:
        points.setdefault(run['method'], {}).setdefault(run['seed'], []).append(
            (run['test']['dp'], run['test']['acc']))
    return ({method: {seed: hypervolume(p, reference) for seed, p in by_seed.items()}
             for method, by_seed in points.items()}, reference)


def run_sweep(config: Config, etas: Sequence[float], lams: Sequence[float],
              seeds: Optional[int],
              out: Path, *, progress: bool = True, overwrite: bool = False,
              bounds: Optional[Sequence[float]] = DEFAULT_BOUNDS, max_dps: Sequence[float] = (),
              log: Callable[[str], None] = print) -> dict:
    """Train bilevel at each η and lagrangian at each λ (``seeds`` runs each; ``None``:
    :func:`~fairgnn_bilevel.experiment.default_seeds` of the data), and both at each bound
    of ``max_dps`` (``fit(max_dp=ε)``: trained toward ΔDP ≤ ε and selected within it; their
    own series, ``'bilevel (bounded)'``); on a table, also fit fairlearn's
    ExponentiatedGradient at each demographic-parity ``bounds`` (when fairlearn is
    installed; ``None`` skips it).

    Writes ``out/sweep.json`` (every point: method, weight, mean val/test metrics; every
    method's hypervolume per seed with its 95 % interval, and the paired per-seed
    differences), ``out/sweep.csv``, ``out/sweep.png`` (test ACC against test ΔDP with each
    method's Pareto front; only with matplotlib, the ``plots`` extra) and returns the
    summary, with the names of the files ``written``.
    """
    if seeds is not None:
        check_seeds(seeds)
    check_bounds(bounds or ())
    settings = [('bilevel', 'eta', eta) for eta in etas] + [
        ('lagrangian', 'lam', lam) for lam in lams] + [
        (method, 'max_dp', bound) for method in ('bilevel', 'lagrangian') for bound in max_dps]
    configs = [resolve_config(config, method, **(bound_settings(weight) if key == 'max_dp'
                                                  else {f'train.{key}': weight}))
               for method, key, weight in settings]  # every value checked before training
    if out.exists() and not out.is_dir():
        raise ConfigError(f'output folder {out} is a file; pass a folder to --out')
    data = load_data(config)
    if seeds is None:
        seeds = default_seeds(data)
    groups: List[Tuple[str, str, float, List[dict]]] = []
    for (method, key, weight), cfg in zip(settings, configs):
        runs = run_seeds(cfg, seeds, out / f'{method}-{key}{weight:g}', progress=progress,
                         data=data, overwrite=overwrite, log=log)
        if key == 'max_dp':  # a series of its own
            method = method + BOUNDED
            runs = [{**run, 'method': method} for run in runs]
        groups.append((method, key, weight, runs))
    if bounds and not isinstance(data, Data):
        try:
            reference_runs = exponentiated_gradient_runs(
                data, bounds, [config.train.seed + i for i in range(seeds)])
        except ModuleNotFoundError as error:
            log(f'note: no fairlearn front: it needs {error.name}; install the fairlearn extra '
                '(pip install "fairgnn-bilevel[fairlearn]")')
        else:
            for bound in bounds:
                groups.append(('fairlearn', 'bound', bound,
                               [r for r in reference_runs if r['bound'] == bound]))
    points: List[dict] = []
    for method, key, weight, runs in groups:
        mean = lambda split, m: float(np.mean([r[split][m] for r in runs]))  # noqa: E731
        point = {'method': method, key: weight, 'seeds': len(runs),
                 **{f'{split}_{m}': mean(split, m) for split in ('val', 'test')
                    for m, *_ in METRICS}}
        points.append(point)
        log(f'{method:>10} {key}={weight:<8g} test ACC {100 * point["test_acc"]:6.2f}  '
            f'ΔDP {100 * point["test_dp"]:5.2f}  ΔEO {100 * point["test_eo"]:5.2f}')
    series: Dict[str, list] = {}
    for p in points:
        key = next(k for k in _LABEL if k in p)
        series.setdefault(p['method'], []).append((p['test_dp'], p['test_acc'],
                                                   f'{_LABEL[key]}{p[key]:g}'))
    per_seed, reference = seed_hypervolumes([r for *_, runs in groups for r in runs])
    volumes = {}
    for method, by_seed in per_seed.items():
        interval = mean_interval(list(by_seed.values()))
        volumes[method] = {'mean': interval.mean, 'low': interval.low, 'high': interval.high,
                           'per_seed': by_seed}
    paired = [describe_difference('bilevel', other, 'hypervolume',
                                  paired_difference(per_seed['bilevel'], per_seed[other]),
                                  scale=1.0, digits=5)
              for other in per_seed if other != 'bilevel' and 'bilevel' in per_seed]
    summary = {'dataset': config.data.name, 'seeds': seeds, 'points': points,
               'reference_point': reference,
               'fronts': {m: tradeoff_front([(x, y) for x, y, _ in s]) for m, s in series.items()},
               'hypervolume': volumes, 'paired': paired}
    write_json(out / 'sweep.json', summary)
    with open(out / 'sweep.csv', 'w', newline='') as handle:
        writer = csv.DictWriter(handle, fieldnames=['method', 'eta', 'lam', 'bound', 'max_dp',
                                                    'seeds'] + [
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
