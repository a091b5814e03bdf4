"""A synthetic biased graph: the embedded default dataset, needing no download.

Nodes belong to a sensitive group ``s`` (a minority of fraction ``minority``) and carry a
label ``y`` (binary, or one of ``num_classes``) whose distribution differs by group.  Edges
follow a stochastic block model that is homophilous in both ``s`` and ``y``; features mix a
label signal, a sensitive-attribute proxy and noise.  A plain GNN therefore picks up ``s``
through the features and the neighbourhood and shows a clear demographic-parity gap.
"""
from __future__ import annotations

from typing import Optional

import numpy as np
import torch
from torch_geometric.data import Data
from torch_geometric.utils import coalesce, to_undirected

from .splits import stratified_split

__all__ = ['fair_sbm']


# Each argument's kind and the range it must lie in: (integer?, low, high, low inclusive).
_ARGUMENTS = {
    'num_nodes': (True, 2, None, True), 'num_features': (True, 2, None, True),
    'avg_degree': (False, 0, None, True), 'minority': (False, 0, 1, False),
    'positive_rate': (False, 0, 1, False), 'label_gap': (False, 0, 1, True),
    'sens_homophily': (False, 0, None, False), 'label_homophily': (False, 0, None, False),
    'label_signal': (False, None, None, True), 'sens_signal': (False, None, None, True),
    'informative': (True, 1, None, True), 'train': (False, 0, 1, False),
    'val': (False, 0, 1, False), 'max_train': (True, 1, None, True),
    'num_classes': (True, 2, None, True), 'num_groups': (True, 2, None, True),
    'seed': (True, 0, None, True),
}


def _check_arguments(values: dict) -> None:
    """Raise ``ValueError`` naming the first argument of the wrong kind or out of range."""
    for name, (integer, low, high, closed) in _ARGUMENTS.items():
        value = values[name]
        if value is None and name == 'max_train':
            continue
        kind = 'an integer' if integer else 'a number'
        fits = isinstance(value, (int, np.integer)) if integer else \
            isinstance(value, (int, float, np.integer, np.floating))
        if isinstance(value, bool) or not fits or not np.isfinite(value):
            raise ValueError(f'{name} must be {kind}, got {value!r}')
        if low is not None and (value < low or (value == low and not closed)):
            raise ValueError(f'{name} must be {">=" if closed else ">"} {low}, got {value!r}')
        if high is not None and (value > high or (value == high and not closed)):
            raise ValueError(f'{name} must be {"<=" if closed else "<"} {high}, got {value!r}')
    if values['train'] + values['val'] >= 1:
        raise ValueError(f'train + val must be < 1 (the rest is test), got '
                         f'{values["train"]} + {values["val"]}')


def fair_sbm(num_nodes: int = 2000, num_features: int = 16, avg_degree: float = 10.0,
             minority: float = 0.4, positive_rate: float = 0.5, label_gap: float = 0.1,
             sens_homophily: float = 4.0,
             label_homophily: float = 2.0, label_signal: float = 0.6,
             sens_signal: float = 1.0, informative: int = 4, train: float = 0.5,
             val: float = 0.25, max_train: Optional[int] = None, num_classes: int = 2,
             num_groups: int = 2, seed: int = 0) -> Data:
    """Generate the graph.

    Args:
        num_nodes: nodes.
        num_features: feature columns (the sensitive attribute itself is not one of them).
        avg_degree: expected undirected degree.
        minority: fraction of nodes with ``s = 1`` (with more groups: outside group 0,
            shared equally by groups ``1 .. num_groups-1``).
        positive_rate: the centre of the two groups' positive rates (the label base rate
            when the groups are the same size); two classes and two groups only.
        label_gap: the group–label dependence.  Two classes and two groups:
            ``P(y=1 | s=0) - P(y=1 | s=1)``, centred on ``positive_rate``.  More: group
            ``g`` favours class ``g mod C``, with
            ``P(y=c | s=g) = 1/C + label_gap * ([c = g mod C] - 1/C)`` (0: labels
            independent of groups; 1: each group holds its class only).
        sens_homophily: how much likelier an edge is within a sensitive group than across.
        label_homophily: the same for labels.
        label_signal: mean shift of the ``informative`` label columns, per unit of ``2y-1``.
        sens_signal: mean shift of the next ``informative`` columns, per unit of ``2s-1``.
        informative: number of label columns and of sensitive-proxy columns.
        train, val: split fractions (stratified by label and group; the rest is test).
        max_train: keep at most this many training nodes (a random subset), the rest of the
            training fraction unlabelled, like FairGNN's ``label_number`` on Pokec.
        num_classes, num_groups: classes of ``y`` and groups of ``s`` (at least 2 each).
        seed: seed of everything random here.

    Returns:
        ``Data`` with ``x``, symmetric ``edge_index``, ``y``, ``sens`` and the three masks.
    """
    _check_arguments(locals())
    if 2 * informative > num_features:
        raise ValueError(f'num_features={num_features} is too small for '
                         f'2 * informative={2 * informative} signal columns')
    if num_classes < 2 or num_groups < 2:
        raise ValueError(f'fair_sbm needs num_classes >= 2 and num_groups >= 2, got '
                         f'{num_classes} and {num_groups}')
    binary = num_classes == 2 and num_groups == 2
    if not binary and positive_rate != 0.5:
        raise ValueError('positive_rate sets the base rate of two classes in two groups; '
                         f'with num_classes={num_classes} and num_groups={num_groups} the '
                         'class rates follow label_gap alone: leave positive_rate at 0.5')
    if not 0 <= label_gap <= 1:
        raise ValueError(f'label_gap must lie in [0, 1], got {label_gap}')
    rng = np.random.default_rng(seed)
    if binary:
        sens = (rng.random(num_nodes) < minority).astype(np.int64)
        rate = np.where(sens == 0, positive_rate + label_gap / 2,
                        positive_rate - label_gap / 2)
        y = (rng.random(num_nodes) < rate).astype(np.int64)
        x = rng.standard_normal((num_nodes, num_features))
        x[:, :informative] += label_signal * (2 * y - 1)[:, None]
        x[:, informative:2 * informative] += sens_signal * (2 * sens - 1)[:, None]
    else:
        shares = np.r_[1 - minority, np.full(num_groups - 1, minority / (num_groups - 1))]
        sens = _draw(rng, np.broadcast_to(shares, (num_nodes, num_groups)))
        favoured = np.arange(num_groups) % num_classes
        label_probs = (1 - label_gap) / num_classes + label_gap * (
            favoured[:, None] == np.arange(num_classes))  # [groups, classes]
        y = _draw(rng, label_probs[sens])
        # each class and each group shifts its columns by its own ±1 pattern
        class_signs = rng.choice([-1.0, 1.0], size=(num_classes, informative))
        group_signs = rng.choice([-1.0, 1.0], size=(num_groups, informative))
        x = rng.standard_normal((num_nodes, num_features))
        x[:, :informative] += label_signal * class_signs[y]
        x[:, informative:2 * informative] += sens_signal * group_signs[sens]

    # Each edge: a uniform source, then a target block (s, y) chosen in proportion to the
    # block's size times the homophily weights, then a uniform target inside that block.
    blocks = num_groups * num_classes
    block = num_classes * sens + y
    members = [np.flatnonzero(block == b) for b in range(blocks)]
    sizes = np.array([len(m) for m in members], dtype=np.float64)
    num_edges = int(num_nodes * avg_degree / 2)
    source = rng.integers(0, num_nodes, num_edges)
    weights = np.empty((num_edges, blocks))
    for b in range(blocks):
        same_s = (b // num_classes) == sens[source]
        same_y = (b % num_classes) == y[source]
        weights[:, b] = sizes[b] * np.where(same_s, sens_homophily, 1.0) * np.where(
            same_y, label_homophily, 1.0)
    weights /= weights.sum(1, keepdims=True)
    target_block = (rng.random(num_edges)[:, None] > np.cumsum(weights, 1)).sum(1)
    target = np.empty(num_edges, dtype=np.int64)
    for b in range(blocks):
        pick = target_block == b
        target[pick] = members[b][rng.integers(0, max(len(members[b]), 1), pick.sum())]
    keep = source != target
    edge_index = torch.from_numpy(np.stack([source[keep], target[keep]]))
    edge_index = coalesce(to_undirected(edge_index, num_nodes=num_nodes), num_nodes=num_nodes)

    y_t, sens_t = torch.from_numpy(y), torch.from_numpy(sens)
    train_mask, val_mask, test_mask = stratified_split(y_t, sens_t, train=train, val=val,
                                                       seed=seed)
    if max_train is not None and int(train_mask.sum()) > max_train:
        rows = train_mask.nonzero().view(-1)
        keep = rows[torch.from_numpy(rng.permutation(len(rows))[:max_train])]
        train_mask = torch.zeros_like(train_mask)
        train_mask[keep] = True
    return Data(x=torch.from_numpy(x).float(), edge_index=edge_index, y=y_t, sens=sens_t,
                train_mask=train_mask, val_mask=val_mask, test_mask=test_mask)


def _draw(rng: np.random.Generator, probs: np.ndarray) -> np.ndarray:
    """One category per row of ``probs`` ``[n, k]`` (rows summing to 1)."""
    cumulative = np.cumsum(probs, 1)
    return np.minimum((rng.random(len(probs))[:, None] > cumulative).sum(1),
                      probs.shape[1] - 1).astype(np.int64)
