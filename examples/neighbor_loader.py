"""FairBiNN on PyG ``NeighborLoader`` mini-batches, in your own loop.

Each step samples the neighbourhoods of a batch of training nodes; the follower plays on
the batch's seed rows, then the leader takes an ordinary optimiser step.  Each epoch is
evaluated exactly on the full graph's validation nodes and the epoch selected with the
library's rule.  Prints vanilla against fair test ACC and ΔDP on the library's synthetic
graph (mean over seeds).
Needs PyG's neighbour sampler (torch-sparse or pyg-lib).

    python examples/neighbor_loader.py --seeds 3
"""
import argparse

import torch
import torch.nn.functional as F
from torch_geometric.loader import NeighborLoader
from torch_geometric.nn import GCN

import fairgnn_bilevel as fb
from graph_data import fair_sbm


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


def train(data, *, fair: bool, seed: int, epochs: int = 50, batch_size: int = 256):
    torch.manual_seed(seed)
    model = FairGCN(data.num_features)
    follower = fb.UnrolledFollower(model, fb.DemographicParityLoss(), eta=100.0, step_size=1e-2) \
        if fair else None
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2, weight_decay=1e-5)
    loader = NeighborLoader(data, num_neighbors=[10, 10], batch_size=batch_size,
                            input_nodes=data.train_mask, shuffle=True,
                            generator=torch.Generator().manual_seed(seed))
    archive = fb.ParetoArchive(fb.SelectionRule('tolerance'))
    for epoch in range(1, epochs + 1):
        model.train()
        for batch in loader:
            optimizer.zero_grad()
            seeds = slice(0, batch.batch_size)  # the seed nodes come first
            hidden = model.encode(batch.x, batch.edge_index)[seeds]
            if fair:
                logits = follower.respond(hidden, model.decode, batch.sens[seeds])
            else:
                logits = model.decode(hidden)
            F.binary_cross_entropy_with_logits(logits, batch.y[seeds].float()).backward()
            optimizer.step()
        archive.add({'epoch': epoch, **fb.evaluate(model, data, data.val_mask)},
                    model.state_dict())
    model.load_state_dict(archive.best()[1])
    return fb.evaluate(model, data, data.test_mask)  # exact: the full graph


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--seeds', type=int, default=3)
    parser.add_argument('--epochs', type=int, default=50)
    args = parser.parse_args()
    torch.set_num_threads(1)
    data = fair_sbm()
    for fair in (False, True):
        runs = [train(data, fair=fair, seed=s, epochs=args.epochs) for s in range(args.seeds)]
        acc = sum(r['acc'] for r in runs) / len(runs)
        dp = sum(r['dp'] for r in runs) / len(runs)
        print(f"{'fair' if fair else 'vanilla'}: test ACC {100 * acc:.2f}  ΔDP {100 * dp:.2f}")


if __name__ == '__main__':
    main()
