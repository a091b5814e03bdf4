"""Command line: ``fairgnn-bilevel train``."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import List, Optional

from .config import ConfigError, load_config
from .report import format_table, summarize

__all__ = ['main']


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog='fairgnn-bilevel',
                                     description='Fair node classification with FairBiNN.')
    commands = parser.add_subparsers(dest='command', required=True)
    train = commands.add_parser('train', help='train over seeds, print and save test metrics')
    train.add_argument('--config', required=True, help='YAML experiment file')
    train.add_argument('--method', choices=('vanilla', 'lagrangian', 'bilevel', 'reference'),
                       help='overrides train.method')
    train.add_argument('--seeds', type=int, default=1, help='number of seeds (default: 1)')
    train.add_argument('--out', type=Path, help='output folder (default: runs/<config>-<method>)')
    train.add_argument('--root', help='folder of the raw dataset files (overrides data.root)')
    train.add_argument('--set', dest='overrides', action='append', default=[],
                       metavar='KEY=VALUE', help='override a config key, e.g. train.eta=100')
    train.add_argument('--no-progress', action='store_true', help='hide progress bars')
    return parser


def _train(args: argparse.Namespace) -> int:
    from .experiment import run_seeds
    overrides = list(args.overrides)
    if args.method:
        overrides.append(f'train.method={args.method}')
    if args.root:
        overrides.append(f'data.root={args.root}')
    config = load_config(args.config, overrides)
    if args.seeds < 1:
        raise ConfigError(f'--seeds must be >= 1, got {args.seeds}')
    out = args.out or Path('runs') / f'{Path(args.config).stem}-{config.train.method}'
    runs = run_seeds(config, args.seeds, out, progress=not args.no_progress)
    print(f'{config.data.name}: test metrics (%), mean ± std over {args.seeds} seed(s); '
          f'selection: {runs[0]["selection"]}')
    if runs[0].get('val_is_test'):
        print('note: this split has validation = test (FairGNN protocol on NBA), so model '
              'selection saw test labels; use --set data.split=stratified for a leak-free one')
    print(format_table(summarize(runs)))
    print(f'runs written to {out / "results.json"}')
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return _train(args)
    except (ConfigError, FileNotFoundError, ValueError) as error:
        print(f'fairgnn-bilevel: error: {error}', file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print('fairgnn-bilevel: interrupted; finished runs are kept in results.json',
              file=sys.stderr)
        return 130


if __name__ == '__main__':
    sys.exit(main())
