"""FairBiNN under torch's DistributedDataParallel: each process trains on its share of the
training nodes, and the steps equal one process's on all of them.

Two pieces make the union batch exact: ``reduce=fb.all_reduce_sum`` gives the fairness loss
the group statistics of every process's rows and the follower the averaged gradient, and
each process's task loss is its sum over the global count, times the processes (DDP
averages the leader's gradients).  Every process selects the same epoch on validation with
the library's rule.  Prints vanilla against fair test ACC and ΔDP.

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

FOLLOWERS = {'bilevel': fb.UnrolledFollower, 'bilevel_first_order': fb.FirstOrderFollower}
METHODS = ('vanilla', 'lagrangian', *FOLLOWERS)


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


class FairStep(torch.nn.Module):
    """One process's loss of a step, computed in ``forward`` so that DDP sees the call."""

    def __init__(self, model, method: str, eta: float = 100.0, lam: float = 1.0) -> None:
        super().__init__()
        self.model, self.method, self.lam = model, method, lam
        # global group statistics: groups are 0 .. num_groups - 1 on every process
        self.fairness = fb.DemographicParityLoss(reduce=fb.all_reduce_sum, num_groups=2)
        self.follower = FOLLOWERS[method](model, self.fairness, eta=eta, lr=1e-2,
                                          reduce=fb.all_reduce_sum) \
            if method in FOLLOWERS else None

    def forward(self, x, edge_index, rows, y, sens, total: int):
        hidden = self.model.encode(x, edge_index)[rows]
        if self.follower is not None:
            logits = self.follower.respond(hidden, self.model.decode, sens)
        else:
            logits = self.model.decode(hidden)
        # this process's share of the union batch's mean, scaled for DDP's averaging
        loss = F.binary_cross_entropy_with_logits(logits, y, reduction='sum') * (
            dist.get_world_size() / total)
        if self.method == 'lagrangian':
            loss = loss + self.lam * self.fairness(logits, sens)
        return loss


def train(method: str, *, seed: int = 0, epochs: int = 200, dtype=torch.float32,
          data=None, select: bool = True):
    """Train in the current process group on this rank's share of the training nodes; the
    trained model (the same on every rank), at the epoch selected on validation or, with
    ``select=False``, at the last."""
    data = (fair_sbm() if data is None else data).clone()
    data.x = data.x.to(dtype)
    torch.manual_seed(seed)
    model = FairGCN(data.num_features).to(dtype)
    step = FairStep(model, method)  # builds the follower before DDP wraps the model
    ddp = DistributedDataParallel(step)
    optimizer = torch.optim.Adam(ddp.parameters(), lr=1e-2, weight_decay=1e-5)
    nodes = data.train_mask.nonzero().view(-1)
    rows = torch.tensor_split(nodes, dist.get_world_size())[dist.get_rank()]
    y = data.y[rows].to(dtype)
    archive = fb.ParetoArchive()
    for epoch in range(1, epochs + 1):
        optimizer.zero_grad()
        ddp(data.x, data.edge_index, rows, y, data.sens[rows], len(nodes)).backward()
        optimizer.step()
        if select:
            archive.add({'epoch': epoch, **fb.evaluate(model, data, data.val_mask)},
                        model.state_dict())
    if select:
        model.load_state_dict(archive.snapshot(fb.SelectionRule('tolerance').select(
            archive.records)))
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
