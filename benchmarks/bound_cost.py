"""What a bound costs in time: a bounded run (``fit(max_dp=ε)``) against the same run
without it, interleaved in one process so that a busy machine slows both alike.

Prints each method's median seconds per run over ``--repeats`` pairs and their ratio.

    python benchmarks/bound_cost.py --config configs/synthetic.yaml --repeats 5
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


def _seconds(data, config, **options) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', fb.SelectionWarning)
        start = time.perf_counter()
        fb.fit(data, config=config, progress=False, **options)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--config', default='configs/synthetic.yaml')
    parser.add_argument('--root')
    parser.add_argument('--set', dest='overrides', action='append', default=[])
    parser.add_argument('--repeats', type=int, default=5)
    parser.add_argument('--max-dp', type=float, default=0.02)
    args = parser.parse_args()
    torch.set_num_threads(1)
    config = load_config(args.config, args.overrides + (
        [f'data.root={args.root}'] if args.root else []))
    data = load_data(config)
    for method in ('bilevel', 'lagrangian'):
        plain, bounded = [], []
        for repeat in range(args.repeats):  # interleaved: a slower moment hits both
            plain.append(_seconds(data, config, method=method, seed=repeat))
            bounded.append(_seconds(data, config, method=method, seed=repeat,
                                    max_dp=args.max_dp))
        a, b = statistics.median(plain), statistics.median(bounded)
        print(f'{method}: {a:.2f} s without a bound, {b:.2f} s with ΔDP ≤ {args.max_dp:g} '
              f'(medians of {args.repeats}): ratio {b / a:.2f}')


if __name__ == '__main__':
    main()
