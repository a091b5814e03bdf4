"""FairBiNN under torch's DistributedDataParallel: each process trains on its share of the
training nodes, and the steps equal one process's on all of them.

Three pieces make the union batch exact: ``reduce=fb.all_reduce_sum`` gives the fairness
loss the group statistics of every process's rows (and the follower, which takes the loss's,
the averaged gradient); ``fb.FairForward`` runs the step inside the forward that DDP wraps,
so DDP reduces the leader's gradients of that forward; and each process's task loss is its
sum over the global count, times the processes (DDP averages the leader's gradients).
Every process selects the same epoch on validation with the library's rule.  Prints vanilla
against fair test ACC and ΔDP.

    python examples/ddp.py --processes 2 --seeds 3
"""
import argparse
import os
import tempfile

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel
from torch_geometric.nn import GCN

import fairgnn_bilevel as fb
from graph_data import fair_sbm

METHODS = ('vanilla', 'lagrangian', 'bilevel', 'bilevel_first_order')


class FairGCN(torch.nn.Module):
    """PyG's two-layer GCN → FairnessBlock → linear head, split at the block."""

    def __init__(self, in_channels: int, hidden: int = 64) -> None:
        super().__init__()
        self.encoder = GCN(in_channels, hidden, num_layers=2)
        self.block = fb.FairnessBlock(hidden)
        self.head = torch.nn.Linear(hidden, 1)

    def encode(self, x, edge_index):
        return self.encoder(x, edge_index).relu()

    def decode(self, hidden):
        return self.head(self.block(hidden)).view(-1)

    def forward(self, x, edge_index):
        return self.decode(self.encode(x, edge_index))


def make_follower(model, method: str, fairness, eta: float = 100.0):
    """The follower of ``method`` (None for the methods without one); it takes the loss's
    ``reduce``, so both see the union batch's group statistics."""
    if method == 'bilevel':
        return fb.UnrolledFollower(model, fairness, eta=eta, step_size=1e-2)
    if method == 'bilevel_first_order':
        return fb.FirstOrderFollower(model, fairness, eta=eta, lr=1e-2)
    return None


def train(method: str, *, seed: int = 0, epochs: int = 200, dtype=torch.float32,
          data=None, select: bool = True):
    """Train in the current process group on this rank's share of the training nodes; the
    trained model (the same on every rank), at the epoch selected on validation or, with
    ``select=False``, at the last."""
    data = (fair_sbm() if data is None else data).clone()
    data.x = data.x.to(dtype)
    torch.manual_seed(seed)
    model = FairGCN(data.num_features).to(dtype)
    # global group statistics: groups are 0 .. num_groups - 1 on every process
    fairness = fb.DemographicParityLoss(reduce=fb.all_reduce_sum, num_groups=2)
    follower = make_follower(model, method, fairness)  # before DDP wraps the model
    # the step inside forward: DDP reduces the leader's gradients of this very forward
    ddp = DistributedDataParallel(fb.FairForward(model, follower))
    optimizer = torch.optim.Adam(ddp.parameters(), lr=1e-2, weight_decay=1e-5)
    nodes = data.train_mask.nonzero().view(-1)
    rows = torch.tensor_split(nodes, dist.get_world_size())[dist.get_rank()]
    y, sens = data.y[rows].to(dtype), data.sens[rows]
    archive = fb.ParetoArchive(fb.SelectionRule('tolerance'))
    for epoch in range(1, epochs + 1):
        optimizer.zero_grad()
        logits = ddp(data.x, data.edge_index, sens, rows=rows)
        # this process's share of the union batch's mean, scaled for DDP's averaging
        loss = F.binary_cross_entropy_with_logits(logits, y, reduction='sum') * (
            dist.get_world_size() / len(nodes))
        if method == 'lagrangian':
            loss = loss + fairness(logits, sens)  # λ = 1
        loss.backward()
        optimizer.step()
        if select:
            archive.add({'epoch': epoch, **fb.evaluate(model, data, data.val_mask)},
                        model.state_dict())
    if select:
        model.load_state_dict(archive.best()[1])
    return model


def _process(rank: int, processes: int, init_file: str, seeds: int, epochs: int) -> None:
    torch.set_num_threads(1)
    dist.init_process_group('gloo', init_method=f'file://{init_file}', rank=rank,
                            world_size=processes)
    try:
        data = fair_sbm()
        for method in ('vanilla', 'bilevel'):
            runs = [fb.evaluate(train(method, seed=s, epochs=epochs, data=data), data,
                                data.test_mask) for s in range(seeds)]
            if rank == 0:
                acc = sum(r['acc'] for r in runs) / len(runs)
                dp = sum(r['dp'] for r in runs) / len(runs)
                label = 'fair' if method == 'bilevel' else 'vanilla'
                print(f'{label}: test ACC {100 * acc:.2f}  ΔDP {100 * dp:.2f}', flush=True)
    finally:
        dist.destroy_process_group()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--processes', type=int, default=2)
    parser.add_argument('--seeds', type=int, default=3)
    parser.add_argument('--epochs', type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        mp.spawn(_process, args=(args.processes, os.path.join(folder, 'init'), args.seeds,
                                 args.epochs), nprocs=args.processes, join=True)


if __name__ == '__main__':
    main()
