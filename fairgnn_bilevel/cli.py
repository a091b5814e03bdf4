"""Command line: ``fairgnn-bilevel train``."""
from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path
from typing import List, Optional

from graph_data import DATASETS as REPRODUCIBLE

from . import __version__
from .config import (ConfigError, bound_settings, flat_keys, load_config, override_keys,
                     read_yaml)
from .fairlearn_reference import DEFAULT_BOUNDS
from .report import format_table, read_runs, summarize
from .train.strategies import METHODS

__all__ = ['main']


def _common(command: argparse.ArgumentParser, *, seeds: Optional[int], seeds_help: str) -> None:
    command.add_argument('--seeds', type=int, default=seeds, help=seeds_help)
    command.add_argument('--set', dest='overrides', action='append', default=[],
                         metavar='KEY=VALUE',
                         help='override a config key, e.g. train.eta=100 (repeatable)')
    command.add_argument('--overwrite', action='store_true',
                         help='replace results of another config found in the output folder '
                              '(default: refuse)')
    command.add_argument('--no-progress', action='store_true', help='hide progress bars')


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog='fairgnn-bilevel',
                                     description='Fair node classification with FairBiNN.')
    parser.add_argument('--version', action='version', version=f'%(prog)s {__version__}')
    commands = parser.add_subparsers(dest='command', required=True)
    train = commands.add_parser('train', help='train over seeds, print and save test metrics')
    train.add_argument('--config', required=True, help='YAML experiment file')
    train.add_argument('--method', choices=METHODS, help='overrides train.method')
    train.add_argument('--out', type=Path, help='output folder (default: runs/<config>-<method>)')
    train.add_argument('--root', help='folder of the raw dataset files (overrides data.root)')
    bound = train.add_mutually_exclusive_group()
    bound.add_argument('--max-dp', type=float, metavar='EPS',
                       help='train toward ΔDP ≤ EPS (a fraction) and select the most accurate '
                            'validation epoch within it (sets train.max_dp)')
    bound.add_argument('--max-eo', type=float, metavar='EPS',
                       help='the same for ΔEO (sets train.max_eo and train.fairness=eo)')
    _common(train, seeds=1, seeds_help='number of seeds: train.seed, +1, … (default: 1)')

    reproduce = commands.add_parser('reproduce', help="the paper's graph table, both splits")
    reproduce.add_argument('--dataset', required=True, choices=REPRODUCIBLE,
                           help='graph whose table to reproduce')
    reproduce.add_argument('--splits', type=int, default=1,
                           help="split seeds per section: the protocol's own and the ones "
                                "after it (default: 1); with more, intervals cover splits × "
                                "seeds and the table says how much of the spread is the "
                                "split's")
    reproduce.add_argument('--root', required=True, help='folder of the raw dataset files')
    reproduce.add_argument('--max-dp', type=float, metavar='EPS',
                           help='add the rows "at ΔDP ≤ EPS": FairBiNN and the Lagrangian trained '
                                'toward the bound and selected within it')
    reproduce.add_argument('--out', type=Path,
                           help='output folder (default: runs/reproduce-<dataset>)')
    reproduce.add_argument('--configs', type=Path, default=Path('configs'),
                           help='folder holding <dataset>.yaml (default: configs)')
    reproduce.add_argument('--jobs', type=int, default=os.cpu_count() or 1,
                           help='sections (split × feature setting) trained in parallel, '
                                'one thread each (default: cores)')
    _common(reproduce, seeds=None, seeds_help='seeds per row and section (default: 10 on '
                                              'graphs under 5,000 nodes, else 5)')

    sweep = commands.add_parser('sweep', help='accuracy vs ΔDP across η (bilevel) and λ')
    sweep.add_argument('--config', required=True, help='YAML experiment file')
    sweep.add_argument('--eta', type=float, nargs='+', required=True,
                       help='FairBiNN fairness weights η (>= 0)')
    sweep.add_argument('--lam', type=float, nargs='+',
                       help='Lagrangian weights λ (>= 0; default: the --eta values)')
    sweep.add_argument('--bounds', type=float, nargs='+', default=list(DEFAULT_BOUNDS),
                       help="tables: fairlearn ExponentiatedGradient's demographic-parity "
                            'bounds, drawn as a reference front (needs the fairlearn extra; '
                            f'default: {" ".join(map(str, DEFAULT_BOUNDS))})')
    sweep.add_argument('--max-dp', type=float, nargs='+', default=[], metavar='EPS',
                       help='also train bilevel and lagrangian toward each bound ΔDP ≤ EPS '
                            '(selected within it), each method a series of its own')
    sweep.add_argument('--no-fairlearn', action='store_true',
                       help='tables: leave out the fairlearn reference front')
    sweep.add_argument('--out', type=Path, help='output folder (default: runs/sweep-<config>)')
    sweep.add_argument('--root', help='folder of the raw dataset files (overrides data.root)')
    _common(sweep, seeds=None, seeds_help='seeds per point (default: 10 on graphs under 5,000 '
                                          'nodes, else 5)')
    return parser


def _train(args: argparse.Namespace) -> int:
    from .engine import check_read, unread_keys
    from .experiment import load_data, run_seeds
    from .train.distributed import init_from_environment, launched_by_torchrun
    overrides = list(args.overrides)
    if args.method:
        overrides.append(f'train.method={args.method}')
    if args.root:
        overrides.append(f'data.root={args.root}')
    bound = bound_settings(args.max_dp, args.max_eo,
                           fairness_named='train.fairness' in override_keys(args.overrides))
    overrides += [f'{key}={value!r}' for key, value in bound.items()]
    config = load_config(args.config, overrides, command_line=True)
    # a --set value (or --max-dp / --max-eo) the run would not read is refused; a file may
    # hold every method's keys
    check_read(config, override_keys(args.overrides)
               + [key for key in bound if key != 'train.fairness'])
    unread = unread_keys(config, flat_keys(read_yaml(args.config)))
    out = args.out or Path('runs') / f'{Path(args.config).stem}-{config.train.method}'
    args.resolved_out = out
    rank, data = 0, None
    if launched_by_torchrun():  # one of several processes: rank 0 writes and reports
        import torch.distributed as dist
        init_from_environment(config.train.device)
        rank = dist.get_rank()
        if rank != 0:
            dist.barrier()  # rank 0 processes the raw files first, then the others read
        data = load_data(config)
        if rank == 0:
            dist.barrier()
    runs = run_seeds(config, args.seeds, out, progress=not args.no_progress and rank == 0,
                     overwrite=args.overwrite, data=data, write=rank == 0,
                     log=print if rank == 0 else (lambda line: None))
    if rank != 0:
        return 0
    if unread:
        print(f'note: {args.config} keys that {config.train.method} does not read: '
              f'{", ".join(unread)}')
    print(f'{config.data.name}: test metrics (%), mean ± std over {args.seeds} seed(s); '
          f'selection: {runs[0]["selection"]}')
    bounds = [run['bound'] for run in runs if run.get('bound')]
    if bounds:
        held = sum(b['held_on_val'] for b in bounds)
        print(f'bound: Δ{bounds[0]["gap"].upper()} ≤ {bounds[0]["max_gap"]:g} held on validation '
              f'in {held} of {len(bounds)} run(s); the test gap is in the table')
    if runs[0].get('val_is_test'):
        print('note: this split has validation = test (FairGNN protocol on NBA), so model '
              'selection saw test labels; use --set data.split=stratified for a leak-free one')
    if config.train.fairness_rows == 'known':
        print('note: the fairness terms saw every node of known group, labelled or not, '
              'validation and test nodes included (a transductive use of group membership)')
    for run in runs:
        for warning in run.get('warnings', []):
            print(f'note: seed {run["seed"]}: {warning}')
    print(format_table(summarize(runs)))
    rates = [run['test'].get('fpr_by_group') for run in runs if run.get('test')]
    if rates and all(rates):  # binary labels: the other half of a small gap's story
        groups = list(dict.fromkeys(g for r in rates for g in r))
        print('test false-positive rate by group (%, mean over runs): ' + ', '.join(
            f'{g}: {100 * sum(r.get(g, 0.0) for r in rates) / len(rates):.2f}'
            for g in groups))
    print(f'runs written to {out / "results.json"}')
    return 0


def _reproduce(args: argparse.Namespace) -> int:
    from .reproduce import run_reproduce
    out = args.out or Path('runs') / f'reproduce-{args.dataset}'
    print(run_reproduce(args.dataset, args.root, args.seeds, out, config_dir=args.configs,
                        overrides=args.overrides, progress=not args.no_progress,
                        jobs=args.jobs, overwrite=args.overwrite, splits=args.splits,
                        max_dp=args.max_dp, log=lambda line: print(line, flush=True)))
    print(f'written: {out / "table.md"}, {out / "results.json"}')
    return 0


def _sweep(args: argparse.Namespace) -> int:
    from .engine import resolve_config, unread_keys
    from .sweep import run_sweep
    overrides = list(args.overrides) + ([f'data.root={args.root}'] if args.root else [])
    config = load_config(args.config, overrides, command_line=True)
    # a --set value is refused when neither of the sweep's methods reads it
    keys = override_keys(args.overrides)
    for key in set(unread_keys(resolve_config(config, 'bilevel'), keys)) & set(
            unread_keys(resolve_config(config, 'lagrangian'), keys)):
        raise ConfigError(f'{key} is not read by a sweep (it trains bilevel and lagrangian); '
                          'remove it')
    out = args.out or Path('runs') / f'sweep-{Path(args.config).stem}'
    args.resolved_out = out
    summary = run_sweep(config, args.eta, args.lam or args.eta, args.seeds, out,
                        progress=not args.no_progress, overwrite=args.overwrite,
                        bounds=None if args.no_fairlearn else args.bounds,
                        max_dps=args.max_dp)
    reference = summary['reference_point']
    print(f'Pareto-front hypervolume per seed, mean [95 % interval] over {summary["seeds"]} '
          f'seed(s) (reference ΔDP {reference[0]:.4f}, ACC {reference[1]:.4f}; larger is better):')
    for method, volume in summary['hypervolume'].items():
        print(f'  {method}: {volume["mean"]:.5f} [{volume["low"]:.5f}, {volume["high"]:.5f}]')
    for line in summary['paired']:
        print(f'  {line}')
    written = ', '.join(str(out / name) for name in summary['written'])
    print(f'written: {written}')
    return 0


class _Terminated(Exception):
    """SIGTERM, raised in the main thread so that a run stops as on Ctrl-C."""


def _terminate(signum: int, frame: object) -> None:
    raise _Terminated()


def _saved(args: argparse.Namespace) -> str:
    """What an interrupted command kept, and how to resume it."""
    out = getattr(args, 'resolved_out', None)
    if out is None or not (out / 'results.json').is_file():
        return 'finished runs are kept in results.json; run the same command again to resume'
    try:
        count = len(read_runs(out / 'results.json'))
    except ValueError:
        count = 0
    return (f'{count} finished run(s) are kept in {out / "results.json"}; run the same command '
            'again to resume')


def main(argv: Optional[List[str]] = None) -> int:
    args = _parser().parse_args(argv)
    command = {'train': _train, 'reproduce': _reproduce, 'sweep': _sweep}[args.command]
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        return command(args)
    except (ConfigError, OSError, ValueError, ImportError) as error:
        print(f'fairgnn-bilevel: error: {error}', file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f'fairgnn-bilevel: interrupted; {_saved(args)}', file=sys.stderr)
        return 130
    except _Terminated:
        print(f'fairgnn-bilevel: terminated (SIGTERM); {_saved(args)}', file=sys.stderr)
        return 143
    finally:
        signal.signal(signal.SIGTERM, previous)


if __name__ == '__main__':
    sys.exit(main())
