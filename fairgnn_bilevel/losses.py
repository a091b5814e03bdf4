"""Differentiable fairness losses: pure functions, and loss objects to add to a task loss.

Each loss takes *logits* and applies the sigmoid exactly once (the official FairBiNN code
applies it twice; :class:`~fairgnn_bilevel.train.strategies.Reference` reproduces that on
purpose).  Groups absent from a batch are skipped, so a batch holding one group only
contributes zero, never NaN.

``reduce`` makes the group statistics global: a differentiable sum over the processes of a
data-parallel step (:func:`~fairgnn_bilevel.collectives.all_reduce_sum`), applied to the
per-group sums and counts before the means are taken.  Every process then gets the loss of
the union batch, and the backward of the sum hands each process its part of the gradient
times the number of processes, which the averaging of ``DistributedDataParallel`` (or of
:class:`~fairgnn_bilevel.followers.Follower`) divides out.  Groups must then be the
integers ``0 .. num_groups - 1`` on every process.

Example (the Lagrangian in any loop)::

    fairness = DemographicParityLoss()
    loss = F.binary_cross_entropy_with_logits(logits, y) + lam * fairness(logits, sens)
"""
from __future__ import annotations

from typing import Callable, Dict, Optional, Type

import torch
from torch import Tensor
from torch.nn import Module

__all__ = ['Reduce', 'group_means', 'demographic_parity_loss', 'equal_opportunity_loss',
           'covariance_loss', 'FairnessLoss', 'DemographicParityLoss', 'EqualOpportunityLoss',
           'CovarianceLoss', 'FAIRNESS_LOSSES', 'make_fairness_loss']

Reduce = Callable[[Tensor], Tensor]


def group_means(values: Tensor, groups: Tensor, *, reduce: Optional[Reduce] = None,
                num_groups: Optional[int] = None) -> Tensor:
    r"""Mean of ``values`` within each group present in ``groups`` (segment means).

    Args:
        values: shape ``[n]``.
        groups: non-negative integer group of each row, shape ``[n]``.
        reduce: sums the per-group sums and counts over processes (then ``num_groups`` is
            required and ``groups`` must lie in ``0 .. num_groups - 1``).
        num_groups: the number of group ids (default: ``groups.max() + 1``).

    Returns:
        Tensor of shape ``[g]`` with one mean per group present, in group order.
    """
    if reduce is not None and num_groups is None:
        raise ValueError('group statistics reduced over processes need num_groups (groups '
                         'are then 0 .. num_groups - 1 on every process)')
    if reduce is None:
        reduce = _identity
        if num_groups is None:
            num_groups = int(groups.max()) + 1 if groups.numel() else 0
    # counts first: bincount refuses negative group ids in one line
    counts = reduce(torch.bincount(groups, minlength=num_groups).to(values.dtype))
    sums = reduce(values.new_zeros(num_groups).index_add(0, groups, values))
    present = counts > 0
    return sums[present] / counts[present]


def _identity(tensor: Tensor) -> Tensor:
    return tensor


def _squared_largest_gap(probs: Tensor, groups: Tensor, reduce: Optional[Reduce],
                         num_groups: Optional[int]) -> Tensor:
    if probs.numel() == 0 and reduce is None:
        return probs.sum()
    means = group_means(probs, groups, reduce=reduce, num_groups=num_groups)
    if len(means) < 2:
        return probs.sum() * 0.0  # keeps the graph connected, contributes nothing
    return (means.max() - means.min()).square()


def demographic_parity_loss(logits: Tensor, sensitive: Tensor, *,
                            reduce: Optional[Reduce] = None,
                            num_groups: Optional[int] = None) -> Tensor:
    r"""Squared largest gap of mean predicted probability between groups.

    .. math::
        \phi = \left( \max_a \bar{p}_a - \min_b \bar{p}_b \right)^2, \quad
        \bar{p}_a = \frac{1}{|S_a|} \sum_{i \in S_a} \sigma(z_i)

    ``reduce``, ``num_groups``: see :func:`group_means`.

    Shapes:
        logits ``[n]`` or ``[n, 1]``, sensitive ``[n]`` → scalar.
    """
    return _squared_largest_gap(torch.sigmoid(logits.reshape(-1)), sensitive, reduce,
                                num_groups)


def equal_opportunity_loss(logits: Tensor, sensitive: Tensor, labels: Tensor, *,
                           reduce: Optional[Reduce] = None,
                           num_groups: Optional[int] = None) -> Tensor:
    r""":func:`demographic_parity_loss` on the positive rows (``labels == 1``) only: the
    squared largest gap of the groups' mean true-positive probability."""
    positive = labels.reshape(-1) == 1
    return _squared_largest_gap(torch.sigmoid(logits.reshape(-1)[positive]),
                                sensitive[positive], reduce, num_groups)


def covariance_loss(logits: Tensor, scores: Tensor, *,
                    reduce: Optional[Reduce] = None) -> Tensor:
    r"""FairGNN's fairness term: the absolute covariance of group and prediction.

    .. math::
        \left| \frac{1}{n} \sum_i (s_i - \bar{s})\,(\sigma(z_i) - \overline{\sigma(z)})
        \right|

    ``scores`` may be hard groups (0/1) or estimated probabilities of group 1.  With
    ``reduce`` the row count and the sums of ``s``, :math:`\sigma(z)` and their product
    are summed over processes first, and the covariance is
    :math:`\overline{s\sigma(z)} - \bar{s}\,\overline{\sigma(z)}` of the union batch.

    Shapes:
        logits ``[n]`` or ``[n, 1]``, scores ``[n]`` → scalar.
    """
    probs = torch.sigmoid(logits.reshape(-1))
    scores = scores.reshape(-1).to(probs.dtype)
    if reduce is None:
        return ((scores - scores.mean()) * (probs - probs.mean())).mean().abs()
    count, s, p, sp = reduce(torch.stack([probs.new_tensor(float(len(probs))), scores.sum(),
                                          probs.sum(), (scores * probs).sum()]))
    return (sp / count - (s / count) * (p / count)).abs()


class FairnessLoss(Module):
    r"""A fairness loss as an object: ``loss(logits, sensitive, labels=None)`` → scalar.

    Args:
        reduce (callable, optional): a differentiable sum over processes that makes the
            group statistics those of the union batch (see the module docstring).
        num_groups (int, optional): the number of groups; required with ``reduce``.
    """

    needs_labels = False

    def __init__(self, *, reduce: Optional[Reduce] = None,
                 num_groups: Optional[int] = None) -> None:
        super().__init__()
        if reduce is not None and num_groups is None:
            raise ValueError(f'{type(self).__name__} with reduce needs num_groups (groups are '
                             'then 0 .. num_groups - 1 on every process)')
        self.reduce, self.num_groups = reduce, num_groups

    def forward(self, logits: Tensor, sensitive: Tensor,
                labels: Optional[Tensor] = None) -> Tensor:
        raise NotImplementedError

    def __repr__(self) -> str:
        across = '' if self.reduce is None else f'num_groups={self.num_groups}, reduced'
        return f'{type(self).__name__}({across})'


class DemographicParityLoss(FairnessLoss):
    r""":func:`demographic_parity_loss` as an object (``labels`` are ignored)."""

    def forward(self, logits: Tensor, sensitive: Tensor,
                labels: Optional[Tensor] = None) -> Tensor:
        return demographic_parity_loss(logits, sensitive, reduce=self.reduce,
                                       num_groups=self.num_groups)


class EqualOpportunityLoss(FairnessLoss):
    r""":func:`equal_opportunity_loss` as an object (``labels`` required)."""

    needs_labels = True

    def forward(self, logits: Tensor, sensitive: Tensor,
                labels: Optional[Tensor] = None) -> Tensor:
        if labels is None:
            raise ValueError('EqualOpportunityLoss needs the labels of its rows: '
                             'loss(logits, sensitive, labels)')
        return equal_opportunity_loss(logits, sensitive, labels, reduce=self.reduce,
                                      num_groups=self.num_groups)


class CovarianceLoss(FairnessLoss):
    r""":func:`covariance_loss` as an object: ``loss(logits, scores)`` with ``scores`` hard
    groups (0/1) or estimated probabilities of group 1 (FairGNN); no ``num_groups``."""

    def __init__(self, *, reduce: Optional[Reduce] = None) -> None:
        super().__init__(reduce=reduce, num_groups=None if reduce is None else 2)

    def forward(self, logits: Tensor, sensitive: Tensor,
                labels: Optional[Tensor] = None) -> Tensor:
        return covariance_loss(logits, sensitive, reduce=self.reduce)


FAIRNESS_LOSSES: Dict[str, Type[FairnessLoss]] = {
    'dp': DemographicParityLoss,
    'eo': EqualOpportunityLoss,
}


def make_fairness_loss(name: str, *, reduce: Optional[Reduce] = None,
                       num_groups: Optional[int] = None) -> FairnessLoss:
    """The fairness loss object called ``name`` (a key of :data:`FAIRNESS_LOSSES`)."""
    if name not in FAIRNESS_LOSSES:
        raise ValueError(f'unknown fairness loss {name!r}; use one of '
                         f'{", ".join(FAIRNESS_LOSSES)}')
    return FAIRNESS_LOSSES[name](reduce=reduce, num_groups=num_groups)
