"""Wall time of real commands on an idle machine and beside a CPU-bound process, in one run.

Each workload is a ``fairgnn-bilevel train`` command in a fresh process: the README quick
start (synthetic graph, 3 seeds) and a 5-epoch Adult run.  Each runs with the library's
automatic thread choice (``train.threads: auto``) and, for comparison, with every core
(torch's own default), first on the idle machine and then beside one busy-looping
process per ``--busy`` (default 1).  Printed: seconds and the busy / idle ratios.

    python benchmarks/busy_machine.py                 # full sizes, ~2-6 minutes
    python benchmarks/busy_machine.py --json docs/busy_machine.json
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List

ROOT = Path(__file__).resolve().parents[1]


def workloads(args: argparse.Namespace) -> Dict[str, List[str]]:
    quick = ['--config', str(ROOT / 'configs' / 'synthetic.yaml'), '--seeds', str(args.seeds)]
    if args.epochs is not None:
        quick += ['--set', f'train.epochs={args.epochs}']
    if args.nodes is not None:
        quick += ['--set', f'data.synthetic.num_nodes={args.nodes}']
    jobs = {'quick start': quick}
    if (Path(args.adult) / 'adult.data').is_file():
        jobs['adult, 5 epochs'] = ['--config', str(ROOT / 'configs' / 'adult.yaml'), '--root',
                                   args.adult, '--set', f'train.epochs={args.adult_epochs}']
    else:
        print(f'note: {args.adult} has no adult.data: the Adult run is left out')
    return jobs


def timed(command: List[str], threads: str) -> float:
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        subprocess.run([sys.executable, '-m', 'fairgnn_bilevel.cli', 'train', *command,
                        '--set', f'train.threads={threads}', '--out', out, '--no-progress'],
                       check=True, capture_output=True, text=True, cwd=ROOT)
        return time.perf_counter() - start


def busy_loops(count: int) -> List[subprocess.Popen]:
    return [subprocess.Popen([sys.executable, '-c', 'while True: pass']) for _ in range(count)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--seeds', type=int, default=3, help='quick-start seeds (default 3)')
    parser.add_argument('--epochs', type=int, help='quick-start epochs (default: the config)')
    parser.add_argument('--nodes', type=int, help='quick-start nodes (default: the config)')
    parser.add_argument('--adult', default=str(ROOT.parent / 'shared' / 'data' / 'adult'),
                        help='folder with adult.data and adult.test')
    parser.add_argument('--adult-epochs', type=int, default=5)
    parser.add_argument('--busy', type=int, default=1, help='CPU-bound background processes')
    parser.add_argument('--json', type=Path, help='also write the figures here')
    args = parser.parse_args()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else os.cpu_count()
    settings = {'auto': 'auto', f'{cores} threads (torch default)': str(cores)}
    figures: Dict[str, Dict[str, Dict[str, float]]] = {}
    for name, command in workloads(args).items():
        for label, threads in settings.items():
            idle = timed(command, threads)
            loops = busy_loops(args.busy)
            try:
                time.sleep(0.5)  # let the loops take their cores
                busy = timed(command, threads)
            finally:
                for loop in loops:
                    loop.kill()
                    loop.wait()
            figures.setdefault(name, {})[label] = {'idle_s': round(idle, 2),
                                                   'busy_s': round(busy, 2),
                                                   'busy_over_idle': round(busy / idle, 2)}
            print(f'{name:>16} | {label:>24} | idle {idle:7.2f} s | busy {busy:7.2f} s | '
                  f'busy/idle {busy / idle:5.2f}', flush=True)
    if args.json:
        args.json.write_text(json.dumps({'cores': cores, 'busy_processes': args.busy,
                                         'figures': figures}, indent=2) + '\n')


if __name__ == '__main__':
    main()
