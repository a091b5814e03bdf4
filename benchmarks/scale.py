"""Full-graph vs mini-batch vs two-process FairBiNN on large generated graphs.

    python benchmarks/scale.py --nodes 100000 1000000 3000000 --json docs/scale.json

For each size a biased stochastic-block-model graph (``graph_data.synthetic.fair_sbm``:
average degree ``--degree``, ``--features`` columns, groups and labels homophilous) is
generated once and saved; every configuration then trains in a fresh process of its own,
so that its peak resident memory (``VmHWM``) is its own:

- ``full_bilevel``: full-graph FairBiNN (unrolled bilevel step);
- ``minibatch_bilevel`` / ``minibatch_vanilla``: NeighborLoader mini-batches
  (``--batch-size`` seeds, ``--num-neighbors`` fan-out);
- ``minibatch_bilevel_2proc``: the same on two gloo processes, each with half of every batch.

Every run uses ``--threads`` torch threads per process (default one) and evaluates on the
validation nodes after every epoch, so its peak memory includes exact evaluation.
``seconds_per_epoch`` is the median training epoch after the first (the first, alone, with
``--epochs 1``), validation excluded (``validation_seconds``: its median);
``seed_nodes_per_second`` = training nodes / ``seconds_per_epoch``; for two processes the
slower rank's epoch counts and ``peak_rss_mb`` is the sum of the ranks' peaks.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from peak_memory import peak_rss_mb

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

RUNS = ('full_bilevel', 'minibatch_bilevel', 'minibatch_vanilla', 'minibatch_bilevel_2proc')


def generate(nodes: int, args: argparse.Namespace, path: Path) -> dict:
    import torch
    from graph_data.synthetic import fair_sbm
    data = fair_sbm(num_nodes=nodes, num_features=args.features, avg_degree=args.degree,
                    train=args.train, val=args.val, seed=0)
    torch.save(data, path)
    return {'nodes': nodes, 'edges': int(data.edge_index.size(1)),
            'train_nodes': int(data.train_mask.sum())}


def _train(args: argparse.Namespace, run: str) -> dict:
    """Train ``run`` in this process; returns its epoch times and the validation metrics."""
    import torch
    from fairgnn_bilevel.nn import FairBiNNGNN
    from fairgnn_bilevel.train.graph import GraphTask
    from fairgnn_bilevel.train.minibatch import MiniBatchGraphTask
    from fairgnn_bilevel.train.strategies import make_strategy
    torch.set_num_threads(args.threads)
    data = torch.load(args.graph, weights_only=False).to(args.device)
    torch.manual_seed(0)
    model = FairBiNNGNN(data.num_features, args.hidden).to(args.device)
    if run.startswith('full'):
        task = GraphTask(model, data)
    else:
        task = MiniBatchGraphTask(model, data, batch_size=args.batch_size,
                                  num_neighbors=args.num_neighbors, seed=0)
    strategy = make_strategy('vanilla' if run.endswith('vanilla') else 'bilevel', model)
    times, evaluations = [], []
    for _ in range(args.epochs):  # each epoch validated, as training does
        start = time.perf_counter()
        task.train_epoch(strategy)
        times.append(time.perf_counter() - start)
        val = task.evaluate('val')
        evaluations.append(time.perf_counter() - start - times[-1])
    measured = times[1:] or times
    return {'epoch_seconds': times, 'seconds_per_epoch': statistics.median(measured),
            'validation_seconds': statistics.median(evaluations),
            'train_nodes': int(data.train_mask.sum()), 'val_acc': val['acc'],
            'val_dp': val['dp'], 'peak_rss_mb': peak_rss_mb()}


def _rank(rank: int, args: argparse.Namespace, init: str, out: str) -> None:
    import torch.distributed as dist
    dist.init_process_group('gloo', init_method=f'file://{init}', rank=rank, world_size=2)
    try:
        result = _train(args, 'minibatch_bilevel')
        Path(f'{out}.{rank}').write_text(json.dumps(result))
    finally:
        dist.destroy_process_group()


def worker(args: argparse.Namespace) -> dict:
    if args.worker != 'minibatch_bilevel_2proc':
        result = _train(args, args.worker)
    else:
        import torch.multiprocessing as mp
        with tempfile.TemporaryDirectory() as tmp:
            mp.spawn(_rank, args=(args, f'{tmp}/init', f'{tmp}/out'), nprocs=2, join=True)
            ranks = [json.loads(Path(f'{tmp}/out.{r}').read_text()) for r in range(2)]
        epochs = [max(pair) for pair in zip(*(r['epoch_seconds'] for r in ranks))]
        result = {**ranks[0], 'epoch_seconds': epochs,
                  'seconds_per_epoch': statistics.median(epochs[1:] or epochs),
                  'peak_rss_mb': sum(r['peak_rss_mb'] for r in ranks)}
    result['seed_nodes_per_second'] = result['train_nodes'] / result['seconds_per_epoch']
    return result


def _child(args: argparse.Namespace, run: str, graph: Path) -> dict:
    command = [sys.executable, __file__, '--worker', run, '--graph', str(graph),
               '--epochs', str(args.epochs), '--batch-size', str(args.batch_size),
               '--num-neighbors', *map(str, args.num_neighbors), '--hidden', str(args.hidden),
               '--threads', str(args.threads), '--device', args.device]
    env = {**os.environ, 'OMP_NUM_THREADS': str(args.threads)}
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    if done.returncode != 0:  # e.g. killed for memory: record it, go on with the others
        tail = (done.stderr.strip().splitlines() or [f'exit code {done.returncode}'])[-1]
        return {'error': f'exit code {done.returncode}: {tail}'}
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--nodes', type=int, nargs='+', default=[100_000, 1_000_000, 3_000_000])
    parser.add_argument('--runs', nargs='+', choices=RUNS, default=list(RUNS))
    parser.add_argument('--json', type=Path, help='write the figures to this file')
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--epochs', type=int, default=3)
    parser.add_argument('--batch-size', type=int, default=1024)
    parser.add_argument('--num-neighbors', type=int, nargs='+', default=[15, 10])
    parser.add_argument('--hidden', type=int, default=64)
    parser.add_argument('--features', type=int, default=128)
    parser.add_argument('--degree', type=float, default=20.0)
    parser.add_argument('--train', type=float, default=0.1, help='fraction of training nodes')
    parser.add_argument('--val', type=float, default=0.1, help='fraction of validation nodes')
    parser.add_argument('--threads', type=int, default=1, help='torch threads per process')
    parser.add_argument('--worker', choices=RUNS, help=argparse.SUPPRESS)
    parser.add_argument('--graph', type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args)))
        return
    if args.device.startswith('cuda') and 'minibatch_bilevel_2proc' in args.runs:
        args.runs.remove('minibatch_bilevel_2proc')  # two processes need two devices
    graphs = []
    with tempfile.TemporaryDirectory() as tmp:
        for nodes in args.nodes:
            path = Path(tmp) / f'graph_{nodes}.pt'
            start = time.perf_counter()
            graph = generate(nodes, args, path)
            print(f'{nodes:,} nodes, {graph["edges"]:,} edges, {graph["train_nodes"]:,} '
                  f'training nodes (generated in {time.perf_counter() - start:.0f} s)',
                  flush=True)
            graph['runs'] = {}
            for run in args.runs:
                result = graph['runs'][run] = _child(args, run, path)
                if 'error' in result:
                    print(f'  {run:<24} {result["error"]}', flush=True)
                    continue
                print(f'  {run:<24} {result["seconds_per_epoch"]:8.2f} s/epoch '
                      f'{result["seed_nodes_per_second"]:10.0f} seed nodes/s '
                      f'{result["peak_rss_mb"]:8.0f} MB peak RSS  '
                      f'(val ACC {100 * result["val_acc"]:.1f}, ΔDP {100 * result["val_dp"]:.1f})',
                      flush=True)
            _ratios(graph['runs'])
            graphs.append(graph)
            path.unlink()
    if args.json:
        settings = {k: getattr(args, k) for k in ('epochs', 'batch_size', 'num_neighbors',
                                                  'hidden', 'features', 'degree', 'train',
                                                  'val', 'threads', 'device')}
        args.json.write_text(json.dumps({'settings': settings, 'graphs': graphs}, indent=2))
        print(f'written: {args.json}')


def _ratios(runs: dict) -> None:
    def get(name: str, key: str):
        return runs.get(name, {}).get(key)
    pairs = [('peak RSS, mini-batch / full-graph FairBiNN', 'minibatch_bilevel', 'full_bilevel',
              'peak_rss_mb'),
             ('seed nodes/s, 2 processes / 1 process', 'minibatch_bilevel_2proc',
              'minibatch_bilevel', 'seed_nodes_per_second'),
             ('epoch time, mini-batch bilevel / vanilla', 'minibatch_bilevel',
              'minibatch_vanilla', 'seconds_per_epoch')]
    for label, a, b, key in pairs:
        if get(a, key) and get(b, key):
            print(f'  {label}: {get(a, key) / get(b, key):.2f}', flush=True)


if __name__ == '__main__':
    main()
