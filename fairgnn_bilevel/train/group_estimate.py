"""Estimated sensitive groups for strategies that see only a few known ones (FairGNN)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor
from torch_geometric.data import Data

from ..nn.group_estimator import GroupEstimator

__all__ = ['estimate_groups', 'ESTIMATOR_HIDDEN']

ESTIMATOR_HIDDEN = 128  # FairGNN's estimator width


def estimate_groups(data: Data, known: Tensor, *, epochs: int = 800, lr: float = 1e-3,
                    weight_decay: float = 1e-5, hidden: int = ESTIMATOR_HIDDEN,
                    dropout: float = 0.5) -> Tensor:
    """Train FairGNN's estimator on the groups of the ``known`` nodes only and return,
    for every node, the estimated probability of group 1, with the ``known`` nodes set to
    their true group.

    The defaults are FairGNN's (``train_sens.py``).  Unlike FairGNN, which keeps the
    checkpoint with the best accuracy on the *test* nodes' groups, the estimator of the
    last epoch is used (no node outside ``known`` is looked at), and its scores are
    computed once, in eval mode.

    Args:
        data: a graph with ``x``, ``edge_index`` and ``sens``.
        known: indices of the nodes whose group the estimator may see.

    Returns:
        Shape ``[num_nodes]``, values in ``[0, 1]``, ``data.x``'s dtype.
    """
    groups = data.sens[known]
    present = torch.unique(groups).tolist()
    if present != [0, 1]:
        raise ValueError(f'the group estimator needs nodes of both groups 0 and 1 among the '
                         f'{len(known)} nodes of known group it trains on, found groups '
                         f'{present}; raise train.sens_number')
    estimator = GroupEstimator(data.num_features, hidden, dropout).to(data.x.device,
                                                                       data.x.dtype)
    optimizer = torch.optim.Adam(estimator.parameters(), lr=lr, weight_decay=weight_decay)
    target = groups.to(data.x.dtype)
    prepared = estimator.prepare(data.x, data.edge_index)
    estimator.train()
    for _ in range(epochs):
        optimizer.zero_grad(set_to_none=True)
        logits = estimator.encode_prepared(prepared)[known]
        F.binary_cross_entropy_with_logits(logits, target).backward()
        optimizer.step()
    estimator.eval()
    with torch.no_grad():
        scores = torch.sigmoid(estimator.encode_prepared(prepared))
    scores[known] = target
    return scores
