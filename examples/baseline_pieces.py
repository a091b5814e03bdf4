"""The baselines' pieces in a loop of your own, around a plain PyG GCN.

Three ideas from the fair-graph literature, each a piece that takes tensors:

* FairSIN's :class:`~fairgnn_bilevel.nn.input_layers.Neutralizer`: fit it once to predict each
  node's neighbours of other groups, freeze it, and feed the GCN ``x + δ F(x)``;
* FairINV's invariance: :func:`~fairgnn_bilevel.partitions.infer_partitions` splits the
  training nodes where a reference model is least invariant, and
  :func:`~fairgnn_bilevel.partitions.invariance_loss` replaces the task loss;
* post-processing: :class:`~fairgnn_bilevel.postprocessing.GroupThresholds` (fairlearn's
  ``ThresholdOptimizer``) turns the trained model's validation scores into per-group
  thresholds (needs the ``fairlearn`` extra).

    python examples/baseline_pieces.py --epochs 100
"""
import argparse

import torch
import torch.nn.functional as F
from torch_geometric.nn import GCNConv

from fairgnn_bilevel.postprocessing import GroupThresholds
from fairgnn_bilevel.metrics import binary_report
from fairgnn_bilevel.nn.input_layers import Neutralizer
from fairgnn_bilevel.partitions import environment_risks, infer_partitions, invariance_loss
from fairgnn_bilevel.train.baselines import fit_neutralizer
from graph_data.synthetic import fair_sbm


class GCN(torch.nn.Module):
    def __init__(self, channels: int, hidden: int = 32) -> None:
        super().__init__()
        self.conv1, self.conv2 = GCNConv(channels, hidden), GCNConv(hidden, hidden)
        self.out = torch.nn.Linear(hidden, 1)

    def embed(self, x, edge_index):
        return self.conv2(self.conv1(x, edge_index).relu(), edge_index).relu()

    def forward(self, x, edge_index):
        return self.out(self.embed(x, edge_index)).view(-1)


def train(model, x, data, loss_of_logits, epochs):
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01, weight_decay=1e-5)
    for _ in range(epochs):
        optimizer.zero_grad()
        loss_of_logits(model(x, data.edge_index)[data.train_mask]).backward()
        optimizer.step()
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--epochs', type=int, default=100)
    parser.add_argument('--nodes', type=int, default=1000)
    args = parser.parse_args()
    torch.manual_seed(0)
    data = fair_sbm(num_nodes=args.nodes, seed=0)
    y = data.y[data.train_mask].float()

    def task(logits):
        return F.binary_cross_entropy_with_logits(logits, y)

    # 1. FairSIN: neutralised inputs, then an ordinary loop
    neutralizer = Neutralizer(data.num_features, 32, delta=1.0)
    fit_neutralizer(neutralizer, data, steps=200, lr=0.1, weight_decay=1e-3)
    with torch.no_grad():
        neutral_x = neutralizer(data.x)
    fairsin = train(GCN(data.num_features), neutral_x, data, task, args.epochs)

    # 2. FairINV: partitions from a reference model, then the invariance loss
    reference = train(GCN(data.num_features), data.x, data, task, args.epochs)
    with torch.no_grad():
        logits = reference(data.x, data.edge_index)[data.train_mask]
        hidden = reference.embed(data.x, data.edge_index)[data.train_mask]
    environments = infer_partitions(
        lambda scale: F.binary_cross_entropy_with_logits(logits * scale, y, reduction='none'),
        torch.cat([hidden, y[:, None]], 1), 2, steps=200).argmax(-1)

    def invariant(logits):
        losses = F.binary_cross_entropy_with_logits(logits, y, reduction='none')
        return invariance_loss(environment_risks(losses, environments, 2), mean_weight=1.0)

    fairinv = train(GCN(data.num_features), data.x, data, invariant, args.epochs)

    # 3. Post-processing of the reference model: thresholds fitted on validation
    test, val = data.test_mask, data.val_mask
    for name, model, x in (('GCN', reference, data.x), ('FairSIN inputs', fairsin, neutral_x),
                           ('FairINV loss', fairinv, data.x)):
        model.eval()
        with torch.no_grad():
            scores = torch.sigmoid(model(x, data.edge_index))
        report = binary_report(data.y[test], scores[test], sensitive_features=data.sens[test])
        print(f'{name:<16} test ACC {report["acc"]:.3f}  ΔDP {report["dp"]:.3f}')
        if model is reference:
            thresholds = GroupThresholds('dp', seed=0).fit(scores[val], data.y[val],
                                                           data.sens[val])
            post = binary_report(data.y[test], scores[test], sensitive_features=data.sens[test],
                                 y_pred=thresholds(scores[test], data.sens[test]))
            print(f'{"GCN + thresholds":<16} test ACC {post["acc"]:.3f}  ΔDP {post["dp"]:.3f}')


if __name__ == '__main__':
    main()
