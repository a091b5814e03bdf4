"""Epoch time and peak memory of each training strategy, side by side in one run.

Every variant runs in its own child process on the same saved graph, for its own peak RSS.
Times of the library's variants come from one more child that holds them all and runs their
epochs round-robin (``--warmup``, then ``--epochs`` rounds; median per variant), so machine
noise and drift hit every variant alike and the ratios are side by side.  An epoch is one
training step plus validation metrics and the selection bookkeeping, as in
``fairgnn-bilevel train``.  ``reference`` is a straightforward
loop written here: a PyG ``GCNConv`` model run on the whole graph twice per epoch (follower,
then leader) without caching, as a new user would write it.

    python benchmarks/epoch_time.py                  # Pokec-z-sized graph
    python benchmarks/epoch_time.py --preset nba
    python benchmarks/epoch_time.py --device cuda --json out.json
    python benchmarks/epoch_time.py --preset nba --classes 3 --groups 3
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from peak_memory import peak_rss_mb

if TYPE_CHECKING:
    import torch_geometric

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

VARIANTS = ('vanilla', 'lagrangian', 'bilevel_first_order', 'bilevel_unrolled', 'reference')
PRESETS = {  # sizes of the real graphs: Pokec-z (FairGNN) and NBA
    'pokec': dict(nodes=67796, features=266, degree=17.7, train=500),
    'nba': dict(nodes=403, features=95, degree=52.7, train=100),
}


def make_graph(args) -> 'torch_geometric.data.Data':
    from graph_data import fair_sbm
    return fair_sbm(num_nodes=args.nodes, num_features=args.features, avg_degree=args.degree,
                    max_train=args.train, num_classes=args.classes, num_groups=args.groups,
                    seed=0)


def _sync(device: torch.device) -> None:
    if device.type == 'cuda':
        torch.cuda.synchronize()


def library_epochs(data, variant: str, args, device):
    from fairgnn_bilevel.nn import FairBiNNGNN
    from fairgnn_bilevel.train.graph import GraphTask
    from fairgnn_bilevel.train.selection import ParetoArchive
    from fairgnn_bilevel.train.strategies import make_strategy
    model = FairBiNNGNN(data.num_features, args.hidden, num_classes=args.classes).to(device)
    method = {'bilevel_unrolled': 'bilevel'}.get(variant, variant)
    strategy = make_strategy(method, model, leader_lr=1e-3, follower_lr=1e-3,
                             follower_step_size=1e-3, eta=100.0, lam=1.0)
    task, archive = GraphTask(model, data), ParetoArchive()

    def epoch(number: int) -> None:
        model.train()
        task.train_epoch(strategy)
        archive.add({'epoch': number, **task.evaluate('val')}, model.state_dict())
    return epoch


def reference_epochs(data, args, device):
    from torch_geometric.nn import GCNConv
    from fairgnn_bilevel.losses import demographic_parity_loss, probabilities
    from fairgnn_bilevel.metrics import fairness_report
    from fairgnn_bilevel.nn import FairnessBlock
    from fairgnn_bilevel.train.strategies import task_loss

    class Naive(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = GCNConv(data.num_features, args.hidden)
            self.conv2 = GCNConv(args.hidden, args.hidden)
            self.block = FairnessBlock(args.hidden)
            self.head = torch.nn.Linear(args.hidden, 1 if args.classes == 2 else args.classes)

        def forward(self, x, edge_index):
            h = self.conv2(self.conv1(x, edge_index).relu(), edge_index).relu()
            out = self.head(self.block(h))
            return out.view(-1) if out.size(1) == 1 else out

    model = Naive().to(device)
    follower = list(model.block.parameters())
    leader = [p for n, p in model.named_parameters() if not n.startswith('block')]
    opt_f = torch.optim.Adam(follower, lr=1e-3)
    opt_l = torch.optim.Adam(leader, lr=1e-3)
    train, val = data.train_mask, data.val_mask

    def epoch(number: int) -> None:
        model.train()
        opt_f.zero_grad()
        phi = 100.0 * demographic_parity_loss(model(data.x, data.edge_index)[train],
                                              data.sens[train])
        phi.backward()
        opt_f.step()
        opt_l.zero_grad()
        f = task_loss(model(data.x, data.edge_index)[train], data.y[train])
        f.backward()
        opt_l.step()
        model.eval()
        with torch.no_grad():
            prob = probabilities(model(data.x, data.edge_index))[val]
        fairness_report(data.y[val], prob, sensitive_features=data.sens[val])
    return epoch


def _timed(epoch, number: int, device: torch.device) -> float:
    _sync(device)
    start = time.perf_counter()
    epoch(number)
    _sync(device)
    return time.perf_counter() - start


def child(args) -> None:
    device = torch.device(args.device)
    data = torch.load(args.graph, weights_only=False).to(device)
    if args.variant == 'round-robin':
        names = [v for v in args.variants if v != 'reference']
        epochs = {name: library_epochs(data, name, args, device) for name in names}
        times = {name: [] for name in names}
        for number in range(args.warmup + args.epochs):
            for name in names:
                times[name].append(_timed(epochs[name], number, device))
        print(json.dumps({name: 1000 * statistics.median(t[args.warmup:])
                          for name, t in times.items()}))
        return
    epoch = (reference_epochs(data, args, device) if args.variant == 'reference'
             else library_epochs(data, args.variant, args, device))
    rounds = args.reference_epochs if args.variant == 'reference' else args.epochs
    times = [_timed(epoch, number, device) for number in range(args.warmup + rounds)]
    result = {'ms_per_epoch': 1000 * statistics.median(times[args.warmup:]),
              'peak_rss_mb': peak_rss_mb()}
    if device.type == 'cuda':
        result['peak_gpu_mb'] = torch.cuda.max_memory_allocated() / 2**20
    print(json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--preset', choices=PRESETS, default='pokec')
    parser.add_argument('--nodes', type=int)
    parser.add_argument('--features', type=int)
    parser.add_argument('--degree', type=float, help='average undirected degree')
    parser.add_argument('--train', type=int, help='labelled training nodes')
    parser.add_argument('--hidden', type=int, default=128)
    parser.add_argument('--classes', type=int, default=2, help='label classes of the graph')
    parser.add_argument('--groups', type=int, default=2, help='sensitive groups of the graph')
    parser.add_argument('--epochs', type=int, default=20, help='timed epochs (median taken)')
    parser.add_argument('--warmup', type=int, default=3)
    parser.add_argument('--reference-epochs', type=int, default=5,
                        help='timed epochs of the (slow) reference loop')
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--variants', nargs='+', choices=VARIANTS, default=list(VARIANTS))
    parser.add_argument('--json', type=Path, help='write the figures here')
    parser.add_argument('--variant', help=argparse.SUPPRESS)
    parser.add_argument('--graph', help=argparse.SUPPRESS)
    args = parser.parse_args()
    for key, value in PRESETS[args.preset].items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.variant:
        return child(args)

    data = make_graph(args)
    graph = {'nodes': data.num_nodes, 'directed_edges': data.edge_index.size(1),
             'features': data.num_features, 'hidden': args.hidden,
             'classes': args.classes, 'groups': args.groups,
             'train_nodes': int(data.train_mask.sum()), 'val_nodes': int(data.val_mask.sum()),
             'device': args.device, 'threads': torch.get_num_threads()}
    print('graph:', json.dumps(graph))
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / 'graph.pt'
        torch.save(data, path)
        forwarded = ['--hidden', str(args.hidden), '--epochs', str(args.epochs), '--warmup',
                     str(args.warmup), '--device', args.device, '--graph', str(path),
                     '--reference-epochs', str(args.reference_epochs),
                     '--classes', str(args.classes), '--groups', str(args.groups),
                     '--variants', *args.variants]

        def run_child(variant: str) -> dict:
            out = subprocess.run([sys.executable, __file__, '--variant', variant, *forwarded],
                                 capture_output=True, text=True, check=True)
            return json.loads(out.stdout.strip().splitlines()[-1])

        side_by_side = run_child('round-robin')
        for variant in args.variants:
            results[variant] = run_child(variant)
            if variant in side_by_side:
                results[variant]['ms_alone'] = results[variant]['ms_per_epoch']
                results[variant]['ms_per_epoch'] = side_by_side[variant]
            figures = results[variant]
            print(f'{variant:>22}: {figures["ms_per_epoch"]:9.1f} ms/epoch   '
                  f'peak RSS {figures["peak_rss_mb"]:7.0f} MB'
                  + (f'   peak GPU {figures["peak_gpu_mb"]:7.0f} MB'
                     if 'peak_gpu_mb' in figures else ''), flush=True)
    ms = {k: v['ms_per_epoch'] for k, v in results.items()}
    rss = {k: v['peak_rss_mb'] for k, v in results.items()}
    if {'vanilla', 'bilevel_first_order'} <= set(ms):
        print(f'bilevel (first-order) / vanilla time: {ms["bilevel_first_order"] / ms["vanilla"]:.3f}')
        print(f'bilevel (first-order) / vanilla peak RSS: '
              f'{rss["bilevel_first_order"] / rss["vanilla"]:.3f}')
    if {'vanilla', 'bilevel_unrolled'} <= set(ms):
        print(f'bilevel (unrolled) / vanilla time: {ms["bilevel_unrolled"] / ms["vanilla"]:.3f}')
    if {'reference', 'bilevel_first_order'} <= set(ms):
        print(f'reference / bilevel (first-order) time: '
              f'{ms["reference"] / ms["bilevel_first_order"]:.1f}')
    if args.json:
        payload = {'graph': graph, 'ms_per_epoch': ms, 'peak_rss_mb': rss}
        if any('peak_gpu_mb' in v for v in results.values()):
            payload['peak_gpu_mb'] = {k: v.get('peak_gpu_mb') for k, v in results.items()}
        args.json.write_text(json.dumps(payload, indent=2))


if __name__ == '__main__':
    main()
