"""The baselines beside FairBiNN on one graph: test metrics over seeds, paired differences
against vanilla and FairBiNN, and each method's cost per epoch relative to vanilla.

Every method trains the same network from the same config (its own hyperparameters at their
defaults: the authors' published settings), is selected by the config's validation rule,
and runs once per seed; the seeds' runs of all methods are interleaved, so a busy machine
slows them alike.  Seconds per epoch exclude what a method fits before its first step
(FairSIN's neutraliser, FairINV's reference models and partitions), printed apart as
"set-up" relative to a whole vanilla run.

    python benchmarks/baselines.py --config configs/synthetic.yaml --seeds 5
    python benchmarks/baselines.py --config configs/nba.yaml --root ../shared/data/nba \\
        --set data.split=stratified --seeds 10
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import fairgnn_bilevel as fb  # noqa: E402
from fairgnn_bilevel.config import load_config  # noqa: E402
from fairgnn_bilevel.experiment import load_data  # noqa: E402
from fairgnn_bilevel.report import format_table, summarize  # noqa: E402
from fairgnn_bilevel.statistics import paired_comparisons  # noqa: E402

METHODS = ('vanilla', 'bilevel', 'fairvgnn', 'fairsin', 'fairinv', 'threshold')
LABELS = {'bilevel': 'FairBiNN'}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--config', default='configs/synthetic.yaml')
    parser.add_argument('--root')
    parser.add_argument('--set', dest='overrides', action='append', default=[])
    parser.add_argument('--seeds', type=int, default=5)
    parser.add_argument('--methods', nargs='+', default=list(METHODS))
    parser.add_argument('--threads', type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    overrides = list(args.overrides) + ([f'data.root={args.root}'] if args.root else [])
    config = load_config(args.config, overrides)
    data = load_data(config)
    runs, per_epoch, setup = [], {m: [] for m in args.methods}, {m: [] for m in args.methods}
    for seed in range(args.seeds):
        for method in args.methods:
            values = config.to_dict()
            values['train'] = {**values['train'], 'method': method, 'seed': seed}
            with warnings.catch_warnings():  # one-class selections are counted in the table
                warnings.simplefilter('ignore', fb.SelectionWarning)
                start = time.perf_counter()
                result = fb.fit(data, config=values, progress=False)
                total = time.perf_counter() - start
            epochs = config.train.epochs
            per_epoch[method].append(result.seconds / epochs)
            setup[method].append(total - result.seconds)
            runs.append({'row': LABELS.get(method, method), 'seed': seed, 'test': result.test,
                         'val': result.val})
            print(f'seed {seed} {method}: test ACC {result.test["acc"]:.4f} ΔDP '
                  f'{result.test["dp"]:.4f} ({total:.1f} s)', flush=True)
    labels = [LABELS.get(m, m) for m in args.methods]
    print()
    print(format_table(summarize(runs, ('row',)), label='row'))
    print()
    pairs = [(label, 'vanilla') for label in labels if label != 'vanilla']
    pairs += [(label, 'FairBiNN') for label in labels if label not in ('vanilla', 'FairBiNN')]
    for line in paired_comparisons(runs, pairs, metrics=(('acc', 'ACC'), ('dp', 'ΔDP'),
                                                         ('eo', 'ΔEO'))):
        print(line)
    print()
    base = statistics.median(per_epoch['vanilla']) if 'vanilla' in per_epoch else None
    whole = base * config.train.epochs if base else None
    print('| method | seconds per epoch / vanilla | set-up / one vanilla run |')
    print('|---|---|---|')
    for method in args.methods:
        epoch = statistics.median(per_epoch[method])
        ratio = f'{epoch / base:.2f}×' if base else '—'
        fixed = statistics.median(setup[method])
        print(f'| {LABELS.get(method, method)} | {ratio} | '
              f'{fixed / whole:.2f}× |' if whole else f'| {method} | {ratio} | — |')


if __name__ == '__main__':
    main()
