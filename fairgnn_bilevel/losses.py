"""Differentiable fairness losses: pure functions, and loss objects to add to a task loss.

Each loss takes *logits* and turns them into probabilities exactly once
(:func:`probabilities`: the sigmoid of one logit per row, the softmax of ``C`` logits per
row; the official FairBiNN code applies the sigmoid twice, and
:class:`~fairgnn_bilevel.train.strategies.Reference` reproduces that on purpose).  Groups
absent from a batch are skipped, so a batch holding one group only contributes zero, never
NaN.

Classes: one logit per row (``[n]`` or ``[n, 1]``) is the binary case, whose outcome is the
positive class.  ``C`` logits per row (``[n, C]``) are ``C`` classes; with ``C = 2`` the
outcome is still class 1 (so two columns give the binary loss of :math:`z_1 - z_0`), with
``C >= 3`` every class is an outcome and the loss is the sum of the classes' terms (each
class weighs as the binary loss's one class does, so η keeps its scale).

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

__all__ = ['Reduce', 'probabilities', 'group_means', 'check_groups', 'check_arguments',
           'demographic_parity_loss',
           'equal_opportunity_loss', 'covariance_loss', 'FairnessLoss', 'DemographicParityLoss', 'EqualOpportunityLoss',
           'CovarianceLoss', 'FAIRNESS_LOSSES', 'make_fairness_loss']

Reduce = Callable[[Tensor], Tensor]


def group_means(values: Tensor, groups: Tensor, *, reduce: Optional[Reduce] = None,
                num_groups: Optional[int] = None) -> Tensor:
    r"""Mean of ``values`` within each group present in ``groups`` (segment means).

    Args:
        values: shape ``[n]`` or ``[n, k]`` (``k`` columns averaged at once).
        groups: non-negative integer group of each row, shape ``[n]``.
        reduce: sums the per-group sums and counts over processes (then ``num_groups`` is
            required and ``groups`` must lie in ``0 .. num_groups - 1``).
        num_groups: the number of group ids (default: ``groups.max() + 1``).

    Returns:
        Tensor of shape ``[g]`` (or ``[g, k]``) with one mean per group present, in group
        order, accumulated in float32 at least (half-precision inputs included).
    """
    check_arguments(values, groups, None, reduce, num_groups)
    return _group_means(values, groups, reduce, num_groups)


def _group_means(values: Tensor, groups: Tensor, reduce: Optional[Reduce],
                 num_groups: Optional[int]) -> Tensor:
    if reduce is None:
        reduce = _identity
        if num_groups is None:
            num_groups = int(groups.max()) + 1 if groups.numel() else 0
    counts, sums = _group_sums(values, groups, reduce, num_groups)
    present = counts > 0
    counts = counts[present]
    return sums[present] / (counts if values.dim() == 1 else counts.unsqueeze(-1))


def check_groups(groups: Tensor, rows: int, num_groups: Optional[int] = None, *,
                 name: str = 'sensitive') -> None:
    """Raise ``ValueError`` in one line unless ``groups`` holds one integer group id
    ``0 .. num_groups - 1`` for each of ``rows`` rows."""
    if not isinstance(groups, Tensor) or groups.dtype == torch.bool or \
            groups.is_floating_point() or groups.is_complex():
        what = groups.dtype if isinstance(groups, Tensor) else type(groups).__name__
        raise ValueError(f'{name} must be a tensor of integer group ids 0 .. G-1 (e.g. '
                         f'torch.long), got {what}; pass {name}.long() of the group codes')
    if groups.dim() != 1 or groups.size(0) != rows:
        raise ValueError(f'{name} must have shape [{rows}] (one group per row of the logits), '
                         f'got {tuple(groups.shape)}')
    if rows and bool((groups < 0).any()):
        raise ValueError(f'{name} holds negative ids ({int((groups < 0).sum())} rows; -1 '
                         'marks an unknown group): leave those rows out of the loss')
    if rows and num_groups is not None and int(groups.max()) >= num_groups:
        raise ValueError(f'{name} holds group {int(groups.max())}, but num_groups is '
                         f'{num_groups}: groups must be 0 .. {num_groups - 1}')


def _group_sums(values: Tensor, groups: Tensor, reduce: Reduce, num_groups: int):
    # half-precision sums of hundreds of probabilities lose whole units (bfloat16 keeps 8
    # bits): accumulate in float32 at least, whatever autocast made the logits
    values = values.to(torch.promote_types(values.dtype, torch.float32))
    counts = reduce(torch.bincount(groups, minlength=num_groups).to(values.dtype))
    sums = reduce(values.new_zeros((num_groups,) + values.shape[1:]).index_add(0, groups,
                                                                               values))
    return counts, sums


def probabilities(logits: Tensor) -> Tensor:
    """The predicted probabilities of ``logits``: the sigmoid of one logit per row
    (``[n]`` or ``[n, 1]`` → ``[n]``), the softmax of ``C >= 2`` logits per row
    (``[n, C]`` → ``[n, C]``)."""
    if logits.dim() == 2 and logits.size(1) > 1:
        return logits.softmax(-1)
    return torch.sigmoid(logits.reshape(-1))


def _outcomes(probs: Tensor) -> Tensor:
    """The outcome columns of class probabilities ``[n, C]``: class 1 of two, else all."""
    return probs[:, 1:2] if probs.size(1) == 2 else probs


def check_arguments(probs: Tensor, sensitive: Tensor, labels: Optional[Tensor],
                     reduce: Optional[Reduce], num_groups: Optional[int]) -> None:
    """The checks every loss, :func:`group_means` and
    :class:`~fairgnn_bilevel.bound.FairnessBound` make of their arguments: one group id
    ``0 .. num_groups - 1`` and (when given) one label per row of ``probs``, and
    ``num_groups`` with ``reduce``; ``ValueError`` in one line otherwise."""
    if reduce is not None and num_groups is None:
        raise ValueError('group statistics reduced over processes need num_groups (groups '
                         'are then 0 .. num_groups - 1 on every process)')
    check_groups(sensitive, probs.size(0), num_groups)
    if labels is not None and labels.size(0) != probs.size(0):
        raise ValueError(f'labels must have shape [{probs.size(0)}] (one label per row of the '
                         f'logits), got {tuple(labels.shape)}')


def _identity(tensor: Tensor) -> Tensor:
    return tensor


def _squared_largest_gap(probs: Tensor, groups: Tensor, reduce: Optional[Reduce],
                         num_groups: Optional[int]) -> Tensor:
    if probs.numel() == 0 and reduce is None:
        return probs.sum()
    means = _group_means(probs, groups, reduce, num_groups)
    if len(means) < 2:
        return probs.sum() * 0.0  # keeps the graph connected, contributes nothing
    if probs.dim() == 1:
        return (means.max() - means.min()).square()
    return (means.max(0).values - means.min(0).values).square().sum()  # summed over classes


def _class_gaps(values: Tensor, classes: Tensor, groups: Tensor, num_classes: int,
                reduce: Optional[Reduce], num_groups: Optional[int]) -> Tensor:
    """Sum over classes of the squared largest gap between the groups' means of
    ``values`` on the rows of each class (a class seen by fewer than two groups adds 0)."""
    if reduce is None:
        reduce = _identity
        if num_groups is None:
            num_groups = int(groups.max()) + 1 if groups.numel() else 1
    counts, sums = _group_sums(values, classes * num_groups + groups, reduce,
                               num_classes * num_groups)
    counts, sums = counts.view(num_classes, num_groups), sums.view(num_classes, num_groups)
    present = counts > 0
    means = sums / counts.clamp_min(1)  # absent cells: 0, never 0/0 (a NaN gradient)
    largest = torch.where(present, means, means.new_tensor(-float('inf'))).max(1).values
    smallest = torch.where(present, means, means.new_tensor(float('inf'))).min(1).values
    compared = present.sum(1) >= 2
    gaps = torch.where(compared, largest - smallest, means.new_zeros(()))
    return gaps.square().sum()


def demographic_parity_loss(logits: Tensor, sensitive: Tensor, *,
                            reduce: Optional[Reduce] = None,
                            num_groups: Optional[int] = None) -> Tensor:
    r"""Squared largest gap of mean predicted probability between groups.

    .. math::
        \phi = \left( \max_a \bar{p}_a - \min_b \bar{p}_b \right)^2, \quad
        \bar{p}_a = \frac{1}{|S_a|} \sum_{i \in S_a} \sigma(z_i)

    With ``C >= 3`` classes :math:`\bar{p}_a` is the group mean of each class's softmax
    probability and :math:`\phi` the sum over classes of the squared gaps; two columns
    are the binary loss of :math:`z_1 - z_0` (the softmax's class 1 is
    :math:`\sigma(z_1 - z_0)`, and class 0's gap is the same).

    ``reduce``, ``num_groups``: see :func:`group_means`.

    Shapes:
        logits ``[n]``, ``[n, 1]`` or ``[n, C]``, sensitive ``[n]`` → scalar.
    """
    probs = probabilities(logits)
    check_arguments(probs, sensitive, None, reduce, num_groups)
    return _squared_largest_gap(probs if probs.dim() == 1 else _outcomes(probs), sensitive,
                                reduce, num_groups)


def equal_opportunity_loss(logits: Tensor, sensitive: Tensor, labels: Tensor, *,
                           reduce: Optional[Reduce] = None,
                           num_groups: Optional[int] = None) -> Tensor:
    r""":func:`demographic_parity_loss` on the positive rows (``labels == 1``) only: the
    squared largest gap of the groups' mean true-positive probability.

    With ``C >= 3`` classes (logits ``[n, C]``, labels ``0 .. C-1``) every class is an
    outcome: the gap of class :math:`c` is taken between the groups' mean probability of
    :math:`c` on the rows labelled :math:`c`, and the loss is the sum over classes of
    the squared gaps.  Two columns are the binary loss of :math:`z_1 - z_0` (class 1 on
    the positive rows).
    """
    probs = probabilities(logits)
    labels = labels.reshape(-1)
    check_arguments(probs, sensitive, labels, reduce, num_groups)
    if probs.dim() == 1 or probs.size(1) == 2:
        positive = labels == 1
        probs = probs if probs.dim() == 1 else probs[:, 1]
        return _squared_largest_gap(probs[positive], sensitive[positive], reduce, num_groups)
    classes = labels.long()
    own = probs.gather(1, classes.view(-1, 1)).view(-1)  # each row's own-class probability
    return _class_gaps(own, classes, sensitive, probs.size(1), reduce, num_groups)


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
        logits ``[n]`` or ``[n, 1]``, scores ``[n]`` → scalar (binary labels only).
    """
    if logits.dim() == 2 and logits.size(1) > 1:
        raise ValueError(f'covariance_loss (FairGNN) takes one logit per row, got logits of '
                         f'shape {tuple(logits.shape)}; for several classes use '
                         'demographic_parity_loss')
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
