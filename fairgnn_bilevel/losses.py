"""Differentiable fairness surrogates: gaps between group means of predicted probabilities.

Each loss takes *logits* and applies the sigmoid exactly once (the official FairBiNN code
applies it twice; see :class:`~fairgnn_bilevel.train.strategies.Reference` for that
behaviour on purpose).  Groups absent from a batch are skipped, so a mini-batch holding
one group only contributes zero, never NaN.

With ``reduce`` (a differentiable sum over data-parallel ranks) the group sums and counts
of every rank are combined first, so each rank sees the group means of the union batch;
groups are then the integers ``0 .. num_groups - 1``, the same on every rank.
"""
from __future__ import annotations

from typing import Callable, Dict, Optional

import torch
from torch import Tensor

__all__ = ['group_means', 'demographic_parity_loss', 'equal_opportunity_loss',
           'covariance_loss', 'FAIRNESS_LOSSES', 'fairness_loss']


Reduce = Callable[[Tensor], Tensor]


def group_means(values: Tensor, groups: Tensor, *, reduce: Optional[Reduce] = None,
                num_groups: Optional[int] = None) -> Tensor:
    r"""Mean of ``values`` within each group present in ``groups`` (segment means).

    Args:
        values: shape ``[n]``.
        groups: integer group of each row, shape ``[n]``.
        reduce: sums the per-group sums and counts over data-parallel ranks (then
            ``num_groups`` is required and ``groups`` must lie in ``0 .. num_groups - 1``).

    Returns:
        Tensor of shape ``[g]`` with one mean per distinct group present, in sorted
        group order.
    """
    if reduce is None:
        present, index = torch.unique(groups, return_inverse=True)
        sums = values.new_zeros(len(present)).index_add(0, index, values)
        counts = torch.bincount(index, minlength=len(present)).to(values.dtype)
        return sums / counts
    if num_groups is None:
        raise ValueError('group_means with reduce needs num_groups')
    sums = reduce(values.new_zeros(num_groups).index_add(0, groups, values))
    counts = reduce(torch.bincount(groups, minlength=num_groups).to(values.dtype))
    present = counts > 0
    return sums[present] / counts[present]


def _squared_largest_gap(probs: Tensor, groups: Tensor, reduce: Optional[Reduce] = None,
                         num_groups: Optional[int] = None) -> Tensor:
    if probs.numel() == 0 and reduce is None:
        return probs.sum()
    means = group_means(probs, groups, reduce=reduce, num_groups=num_groups)
    if len(means) < 2:
        return probs.sum() * 0.0  # keeps the graph connected, contributes nothing
    return (means.max() - means.min()).square()


def demographic_parity_loss(logits: Tensor, groups: Tensor, *, reduce: Optional[Reduce] = None,
                            num_groups: Optional[int] = None) -> Tensor:
    r"""Squared largest gap of mean predicted probability between groups.

    .. math::
        \phi = \left( \max_a \bar{p}_a - \min_b \bar{p}_b \right)^2, \quad
        \bar{p}_a = \frac{1}{|S_a|} \sum_{i \in S_a} \sigma(z_i)

    ``reduce``, ``num_groups``: see :func:`group_means`.

    Shapes:
        logits ``[n]`` or ``[n, 1]``, groups ``[n]`` → scalar.
    """
    return _squared_largest_gap(torch.sigmoid(logits.reshape(-1)), groups, reduce, num_groups)


def equal_opportunity_loss(logits: Tensor, groups: Tensor, labels: Tensor, *,
                           reduce: Optional[Reduce] = None,
                           num_groups: Optional[int] = None) -> Tensor:
    r"""Squared largest gap of mean predicted probability among positive rows (y = 1)."""
    positive = labels.reshape(-1) == 1
    return _squared_largest_gap(torch.sigmoid(logits.reshape(-1)[positive]),
                                groups[positive], reduce, num_groups)


def covariance_loss(logits: Tensor, scores: Tensor, *,
                    reduce: Optional[Reduce] = None) -> Tensor:
    r"""FairGNN's fairness term: the absolute covariance of group and prediction.

    .. math::
        \left| \frac{1}{n} \sum_i (s_i - \bar{s})\,(\sigma(z_i) - \overline{\sigma(z)})
        \right|

    ``scores`` may be hard groups (0/1) or estimated probabilities of group 1.  With
    ``reduce`` (see :func:`group_means`) the row count and the sums of ``s``,
    :math:`\sigma(z)` and their product are combined over ranks first, and the covariance is
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


FAIRNESS_LOSSES: Dict[str, Callable[..., Tensor]] = {
    'dp': lambda logits, groups, labels, **across: demographic_parity_loss(logits, groups,
                                                                          **across),
    'eo': equal_opportunity_loss,
}


def fairness_loss(name: str, logits: Tensor, groups: Tensor, labels: Tensor, *,
                  reduce: Optional[Reduce] = None, num_groups: Optional[int] = None) -> Tensor:
    """The fairness loss called ``name`` (a key of :data:`FAIRNESS_LOSSES`); ``reduce`` and
    ``num_groups``: see :func:`group_means`."""
    if name not in FAIRNESS_LOSSES:
        raise ValueError(f'unknown fairness loss {name!r}; use one of '
                         f'{", ".join(FAIRNESS_LOSSES)}')
    return FAIRNESS_LOSSES[name](logits, groups, labels, reduce=reduce, num_groups=num_groups)
