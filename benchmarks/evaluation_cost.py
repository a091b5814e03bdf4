"""What per-epoch evaluation costs: one run with the library's ROC AUC against the same run
with scikit-learn's ``roc_auc_score`` in its place, interleaved in one process so that a
busy machine slows both alike, and checked to select the same epoch with the same figures.

Prints the median seconds per run over ``--repeats`` pairs and their ratio.

    python benchmarks/evaluation_cost.py --config configs/nba.yaml --root ../shared/data/nba
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from pathlib import Path
from unittest import mock

import torch
from sklearn.metrics import roc_auc_score

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import fairgnn_bilevel as fb  # noqa: E402
from fairgnn_bilevel import metrics  # noqa: E402
from fairgnn_bilevel.config import load_config  # noqa: E402
from fairgnn_bilevel.experiment import load_data  # noqa: E402


def _run(data, config, seed: int):
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', fb.SelectionWarning)
        start = time.perf_counter()
        result = fb.fit(data, config=config, progress=False, seed=seed)
    return time.perf_counter() - start, (result.selected_epoch, result.val, result.test)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--config', default='configs/nba.yaml')
    parser.add_argument('--root')
    parser.add_argument('--set', dest='overrides', action='append', default=[])
    parser.add_argument('--method', default='vanilla')
    parser.add_argument('--repeats', type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    config = load_config(args.config, [f'train.method={args.method}', *args.overrides] + (
        [f'data.root={args.root}'] if args.root else []))
    data = load_data(config)
    ours, sklearn = [], []
    for repeat in range(args.repeats):  # interleaved: a slower moment hits both
        seconds, mine = _run(data, config, repeat)
        ours.append(seconds)
        with mock.patch.object(metrics, 'binary_roc_auc',
                               lambda positive, scores: float(roc_auc_score(positive, scores))):
            seconds, theirs = _run(data, config, repeat)
        sklearn.append(seconds)
        if mine != theirs:
            raise SystemExit(f'seed {repeat}: the two AUCs selected different models')
    a, b = statistics.median(ours), statistics.median(sklearn)
    print(f'{args.method}, {config.train.epochs} epochs: {a:.2f} s with the library\'s AUC, '
          f'{b:.2f} s with roc_auc_score (medians of {args.repeats}; same selected epoch and '
          f'figures): ratio {a / b:.2f}')


if __name__ == '__main__':
    main()
