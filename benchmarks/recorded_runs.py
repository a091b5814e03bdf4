"""The recorded runs whose numbers a restructuring must leave bit-identical.

Trains every method on the synthetic default, the NBA FairGNN split and Adult (2 epochs),
plus one mini-batch run, through the CLI (the door users take), and writes each run's
selected epoch and its validation and test metrics as JSON.  Run it at two commits and
compare the files:

    python benchmarks/recorded_runs.py --json before.json --shared ../shared/data
    python benchmarks/recorded_runs.py --json after.json --shared ../shared/data
    python benchmarks/recorded_runs.py --compare before.json after.json
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GRAPH_METHODS = ('vanilla', 'lagrangian', 'bilevel', 'bilevel_first_order', 'reference',
                 'fairgnn')
TABLE_METHODS = GRAPH_METHODS[:-1]  # FairGNN estimates groups on a graph


def runs(shared: Path):
    """(name, config file, extra CLI arguments) of every recorded run."""
    for method in GRAPH_METHODS:
        yield f'synthetic/{method}', 'synthetic.yaml', ['--method', method]
    yield ('synthetic/bilevel minibatch', 'synthetic.yaml',
           ['--set', 'train.batch_size=256', '--set', 'train.epochs=20'])
    if (shared / 'nba').is_dir():
        for method in GRAPH_METHODS:
            yield (f'nba/{method}', 'nba.yaml', ['--method', method, '--root', str(shared / 'nba'),
                                                 '--set', 'train.epochs=200'])
    if (shared / 'adult').is_dir():
        for method in TABLE_METHODS:
            yield (f'adult/{method}', 'adult.yaml', ['--method', method, '--root',
                                                     str(shared / 'adult'),
                                                     '--set', 'train.epochs=2'])


def record(shared: Path) -> dict:
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for i, (name, config, extra) in enumerate(runs(shared)):
            folder = Path(tmp) / str(i)
            subprocess.run([sys.executable, '-m', 'fairgnn_bilevel', 'train', '--config',
                            str(ROOT / 'configs' / config), '--out', str(folder),
                            '--no-progress', *extra], check=True, cwd=ROOT,
                           stdout=subprocess.DEVNULL)
            run = json.loads((folder / 'results.json').read_text())[0]
            out[name] = {'selected_epoch': run['selected_epoch'], 'val': run['val'],
                         'test': run['test']}
            print(name, out[name]['selected_epoch'], out[name]['test'], flush=True)
    return out


def _recorded(before: dict, after: dict) -> dict:
    """``after`` restricted to what ``before`` recorded: a figure added since (a new metric)
    is reported, not compared."""
    return {key: ({k: v for k, v in value.items() if k in before[key]}
                  if isinstance(value, dict) and isinstance(before.get(key), dict) else value)
            for key, value in after.items() if key in before}


def compare(before: dict, after: dict) -> bool:
    """Print a before/after table; True when every figure recorded before is bit-identical
    after (figures recorded only after are listed below the table)."""
    same, added = True, set()
    print('| run | selected epoch before / after | test ACC, AUC, ΔDP, ΔEO before | after | identical |')
    print('|---|---|---|---|---|')
    for name in before:
        b, a = before[name], after.get(name)
        if a is not None:
            added |= {f'{part}.{k}' for part in ('val', 'test') for k in a[part]
                      if k not in b[part]}
        equal = a is not None and _recorded(b, a) == b
        same &= equal
        cells = lambda r: ', '.join(f"{r['test'][k]:.6f}" for k in ('acc', 'auc', 'dp', 'eo'))
        print(f"| {name} | {b['selected_epoch']} / {a['selected_epoch'] if a else '–'} | "
              f"{cells(b)} | {cells(a) if a else '–'} | {'yes' if equal else 'NO'} |")
    if added:
        print(f'\nRecorded after only (not compared): {", ".join(sorted(added))}')
    return same


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--json', type=Path, help='write the recorded runs here')
    parser.add_argument('--shared', type=Path, default=ROOT.parent / 'shared' / 'data',
                        help='folder holding nba/ and adult/ (default: ../shared/data)')
    parser.add_argument('--compare', nargs=2, type=Path, metavar=('BEFORE', 'AFTER'))
    args = parser.parse_args()
    if args.compare:
        before, after = (json.loads(p.read_text()) for p in args.compare)
        return 0 if compare(before, after) else 1
    result = record(args.shared)
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == '__main__':
    sys.exit(main())
