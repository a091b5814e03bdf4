"""FairBiNN in your own training loop: PyG's GCN, a fairness block and a head.

The follower (the fairness block) moves first on η·ΔDP-loss; the leader (the GCN and the
head) then trains with an ordinary ``loss.backward(); optimizer.step()``, so the loop stays
yours: optimiser, scheduler, clipping.  The epoch is selected on validation with the
library's rule (the fairest epoch within a point of the best accuracy).  Prints vanilla
against fair test ACC and ΔDP on the library's synthetic graph (mean over seeds).

    python examples/own_loop.py --seeds 3
"""
import argparse

import torch
import torch.nn.functional as F
from torch_geometric.nn import GCN

import fairgnn_bilevel as fb
from graph_data import fair_sbm


class FairGCN(torch.nn.Module):
    """PyG's two-layer GCN → FairnessBlock → linear head; ``encode`` and ``decode`` split
    it at the block, so the follower can replay the part after the encoder."""

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


def train(data, *, fair: bool, seed: int, epochs: int = 200):
    torch.manual_seed(seed)
    model = FairGCN(data.num_features)
    follower = fb.UnrolledFollower(model, fb.DemographicParityLoss(), eta=100.0, step_size=1e-2) \
        if fair else None
    # the follower took the block out of autograd: model.parameters() trains the leader only
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2, weight_decay=1e-5)
    train_mask, y = data.train_mask, data.y.float()
    # validation records, and snapshots of the epochs the rule can still select
    archive = fb.ParetoArchive(fb.SelectionRule('tolerance'))
    for epoch in range(1, epochs + 1):
        model.train()
        optimizer.zero_grad()
        hidden = model.encode(data.x, data.edge_index)[train_mask]
        if fair:
            logits = follower.respond(hidden, model.decode, data.sens[train_mask])
        else:
            logits = model.decode(hidden)
        F.binary_cross_entropy_with_logits(logits, y[train_mask]).backward()
        optimizer.step()
        archive.add({'epoch': epoch, **fb.evaluate(model, data, data.val_mask)},
                    model.state_dict())
    model.load_state_dict(archive.best()[1])
    return fb.evaluate(model, data, data.test_mask)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--seeds', type=int, default=3)
    parser.add_argument('--epochs', type=int, default=200)
    args = parser.parse_args()
    torch.set_num_threads(1)  # a 2,000-node graph: more threads only add overhead
    data = fair_sbm()
    for fair in (False, True):
        runs = [train(data, fair=fair, seed=s, epochs=args.epochs) for s in range(args.seeds)]
        acc = sum(r['acc'] for r in runs) / len(runs)
        dp = sum(r['dp'] for r in runs) / len(runs)
        print(f"{'fair' if fair else 'vanilla'}: test ACC {100 * acc:.2f}  ΔDP {100 * dp:.2f}")


if __name__ == '__main__':
    main()
