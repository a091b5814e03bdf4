"""A step of a user's own loop: vanilla against the unrolled follower, side by side.

The loop is the one ``examples/own_loop.py`` writes: a two-layer GCN (PyG ``GCNConv``)
encodes the whole graph, the training rows go through a ``FairnessBlock`` and a head, and
the leader steps with its own Adam.  The vanilla step decodes once; the fair step lets an
:class:`~fairgnn_bilevel.UnrolledFollower` play first.  Both run round-robin in one process
(``--warmup``, then ``--steps`` rounds; median per variant), so machine noise hits both
alike; the ratio is what to read.

    python benchmarks/own_loop_step.py                  # Pokec-z-sized graph
    python benchmarks/own_loop_step.py --preset nba --json out.json
    python benchmarks/own_loop_step.py --classes 3 --groups 3   # cross-entropy, C logits
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PRESETS = {  # sizes of the real graphs: Pokec-z (FairGNN) and NBA
    'pokec': dict(nodes=67796, features=266, degree=17.7, train=500),
    'nba': dict(nodes=403, features=95, degree=52.7, train=100),
}


class SplitGCN(torch.nn.Module):
    def __init__(self, features: int, hidden: int, classes: int) -> None:
        super().__init__()
        import fairgnn_bilevel as fb
        from torch_geometric.nn import GCNConv
        self.conv1, self.conv2 = GCNConv(features, hidden), GCNConv(hidden, hidden)
        self.block = fb.FairnessBlock(hidden)
        self.head = torch.nn.Linear(hidden, 1 if classes == 2 else classes)

    def encode(self, x, edge_index):
        return self.conv2(self.conv1(x, edge_index).relu(), edge_index).relu()

    def decode(self, hidden):
        out = self.head(self.block(hidden))
        return out.view(-1) if out.size(1) == 1 else out


def make_step(data, fair: bool, hidden: int, classes: int):
    import fairgnn_bilevel as fb
    torch.manual_seed(0)
    model = SplitGCN(data.num_features, hidden, classes)
    follower = fb.UnrolledFollower(model, fb.DemographicParityLoss(), eta=100.0,
                                   step_size=1e-3) if fair else None
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    train = data.train_mask
    y = data.y.float() if classes == 2 else data.y

    def task_loss(logits):
        if classes == 2:
            return F.binary_cross_entropy_with_logits(logits, y[train])
        return F.cross_entropy(logits, y[train])

    def step() -> None:
        optimizer.zero_grad()
        rows = model.encode(data.x, data.edge_index)[train]
        logits = (follower.respond(rows, model.decode, data.sens[train]) if fair
                  else model.decode(rows))
        task_loss(logits).backward()
        optimizer.step()
    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--preset', choices=PRESETS, default='pokec')
    parser.add_argument('--nodes', type=int)
    parser.add_argument('--features', type=int)
    parser.add_argument('--degree', type=float)
    parser.add_argument('--train', type=int)
    parser.add_argument('--hidden', type=int, default=128)
    parser.add_argument('--steps', type=int, default=20)
    parser.add_argument('--warmup', type=int, default=3)
    parser.add_argument('--threads', type=int, default=1)
    parser.add_argument('--classes', type=int, default=2)
    parser.add_argument('--groups', type=int, default=2)
    parser.add_argument('--json', type=Path)
    args = parser.parse_args()
    for key, value in PRESETS[args.preset].items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    from graph_data import fair_sbm
    torch.set_num_threads(args.threads)
    data = fair_sbm(num_nodes=args.nodes, num_features=args.features, avg_degree=args.degree,
                    max_train=args.train, num_classes=args.classes, num_groups=args.groups,
                    seed=0)
    steps = {'vanilla': make_step(data, False, args.hidden, args.classes),
             'unrolled': make_step(data, True, args.hidden, args.classes)}
    times = {name: [] for name in steps}
    for _ in range(args.warmup + args.steps):
        for name, step in steps.items():
            start = time.perf_counter()
            step()
            times[name].append(time.perf_counter() - start)
    ms = {name: 1000 * statistics.median(t[args.warmup:]) for name, t in times.items()}
    ratio = ms['unrolled'] / ms['vanilla']
    print(f'graph: {data.num_nodes} nodes, {data.edge_index.size(1)} directed edges, '
          f'{int(data.train_mask.sum())} training nodes, hidden {args.hidden}, '
          f'{args.classes} classes, {args.groups} groups, {args.threads} thread(s)')
    for name, value in ms.items():
        print(f'{name:>9}: {value:8.2f} ms/step')
    print(f'unrolled / vanilla step: {ratio:.3f}')
    if args.json:
        args.json.write_text(json.dumps({'nodes': data.num_nodes, 'hidden': args.hidden,
                                         'classes': args.classes, 'groups': args.groups,
                                         'threads': args.threads, 'ms_per_step': ms,
                                         'ratio': ratio}, indent=2))


if __name__ == '__main__':
    main()
