"""Choose a method's settings for a graph on validation metrics only.

Trains vanilla and each point of a small grid on the graph's own config and split, over a
few seeds, and prints the mean *validation* ACC, AUC, ΔDP and positive rate of each
selected model.  By default the grid is FairBiNN's (η, rate) for both its updates (unrolled:
``follower_step_size``; Algorithm 1: ``follower_lr``); ``--method M --grid KEY=V1,V2 ...``
tunes any other method on the keys named (the product of the lists).  The choice: the
smallest mean val ΔDP among settings whose mean val AUC is within ``--auc-drop`` of
vanilla's and whose selected models never predict one class; test labels are never read.

    python benchmarks/tune_on_validation.py --dataset german --root ../shared/data/german
    python benchmarks/tune_on_validation.py --dataset synthetic --method fairsin \
        --grid delta=1,2,4
"""
from __future__ import annotations

import argparse
import itertools
import sys
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fairgnn_bilevel.config import load_config  # noqa: E402
from fairgnn_bilevel.engine import train  # noqa: E402
from fairgnn_bilevel.experiment import load_data  # noqa: E402
from fairgnn_bilevel.train.selection import SelectionWarning, predicts_one_class  # noqa: E402

UPDATES = {'unrolled': ('bilevel', 'follower_step_size'),
           'algorithm_1': ('bilevel_first_order', 'follower_lr')}


def validation(config_path: Path, overrides: list, seeds: int, data) -> dict:
    """Mean validation metrics of the selected models over ``seeds`` seeds."""
    records = []
    for seed in range(seeds):
        config = load_config(config_path, [*overrides, f'train.seed={seed}', 'train.threads=1'])
        with warnings.catch_warnings():
            warnings.simplefilter('ignore', SelectionWarning)  # reported below as one_class
            records.append(train(data, config, progress=False).val)
    return {'acc': np.mean([r['acc'] for r in records]),
            'auc': np.mean([r['auc'] for r in records]),
            'dp': np.mean([r['dp'] for r in records]),
            'positive_rate': np.mean([r['positive_rate'] for r in records]),
            'one_class': sum(predicts_one_class(r) for r in records)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--dataset', required=True)
    parser.add_argument('--root', help='folder of the raw files (not for the synthetic graph)')
    parser.add_argument('--method', help='tune this method on --grid instead of FairBiNN')
    parser.add_argument('--grid', action='append', default=[], metavar='KEY=V1,V2',
                        help='train.KEY values to try with --method (repeatable)')
    parser.add_argument('--seeds', type=int, default=3)
    parser.add_argument('--eta', type=float, nargs='+', default=[1, 10, 100])
    parser.add_argument('--rate', type=float, nargs='+', default=[1e-3, 1e-2])
    parser.add_argument('--auc-drop', type=float, default=0.03)
    parser.add_argument('--set', dest='overrides', action='append', default=[],
                        metavar='KEY=VALUE', help='config overrides for every run (e.g. epochs)')
    args = parser.parse_args()
    if bool(args.method) != bool(args.grid):
        parser.error('--method and --grid go together')
    if args.method:
        grids = {args.method: (args.method, _grid(args.grid))}
    else:
        grids = {update: (method, {'eta': args.eta, rate_key: args.rate})
                 for update, (method, rate_key) in UPDATES.items()}
    config_path = ROOT / 'configs' / f'{args.dataset}.yaml'
    base = ([f'data.root={args.root}'] if args.root else []) + args.overrides
    data = load_data(load_config(config_path, base))
    vanilla = validation(config_path, base + ['train.method=vanilla'], args.seeds, data)
    print(f'vanilla: val {_cells(vanilla)}', flush=True)
    for name, (method, grid) in grids.items():
        results = {}
        for point in itertools.product(*grid.values()):
            settings = ', '.join(f'{key}={value:g}' for key, value in zip(grid, point))
            overrides = base + [f'train.method={method}'] + [
                f'train.{key}={value:g}' for key, value in zip(grid, point)]
            results[settings] = validation(config_path, overrides, args.seeds, data)
            print(f'{name} {settings}: val {_cells(results[settings])}', flush=True)
        eligible = {k: v for k, v in results.items()
                    if v['auc'] >= vanilla['auc'] - args.auc_drop and not v['one_class']}
        if eligible:
            print(f'chosen for {name}: {min(eligible, key=lambda k: eligible[k]["dp"])}')
        else:
            print(f'chosen for {name}: none keeps val AUC within {args.auc_drop} of vanilla')
    return 0


def _grid(items: list) -> dict:
    """``['delta=1,2', 'clip=0.1']`` → ``{'delta': [1.0, 2.0], 'clip': [0.1]}``."""
    grid = {}
    for item in items:
        key, _, values = item.partition('=')
        try:
            grid[key] = [float(v) for v in values.split(',')]
        except ValueError:
            raise SystemExit(f'--grid {item!r}: give KEY=V1,V2 with numbers') from None
    return grid


def _cells(record: dict) -> str:
    return (f"ACC {100 * record['acc']:.2f}, AUC {100 * record['auc']:.2f}, "
            f"ΔDP {100 * record['dp']:.2f}, pos. rate {100 * record['positive_rate']:.1f}, "
            f"one-class {record['one_class']}")


if __name__ == '__main__':
    sys.exit(main())
