"""Invariant learning over inferred partitions: FairINV's pieces, tensors in and out.

A model that is fair without being told the groups can still be asked to be equally good
in every *environment* of a partition of its training rows.  :func:`infer_partitions`
finds the partition in which a reference model's errors are least invariant (the IRM
penalty at its largest, as in environment inference, Creager et al., ICML 2021);
:func:`environment_risks` and :func:`invariance_loss` then penalise the spread of the
task risk across those environments.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor

__all__ = ['environment_risks', 'invariance_loss', 'irm_penalties', 'infer_partitions']


def environment_risks(losses: Tensor, environments: Tensor, num_environments: int) -> Tensor:
    """The mean of per-row ``losses`` ``[n]`` in each environment ``0 .. k-1`` that holds a
    row (``environments`` ``[n]``, integer), in environment order; shape ``[k']``."""
    if losses.shape != environments.shape:
        raise ValueError(f'losses {tuple(losses.shape)} and environments '
                         f'{tuple(environments.shape)} must both be one value per row')
    environments = environments.long()
    sums = losses.new_zeros(num_environments).index_add(0, environments, losses)
    counts = torch.bincount(environments, minlength=num_environments)
    present = counts > 0
    return sums[present] / counts[present].to(losses.dtype)


def invariance_loss(risks: Tensor, mean_weight: float = 1.0) -> Tensor:
    r""":math:`\operatorname{Var}(R) + \alpha\,\overline{R}` over environment risks ``[k]``
    (sample variance; FairINV's objective, V-REx's form).  One environment: its risk
    times ``mean_weight``."""
    if risks.numel() < 2:
        return mean_weight * risks.sum()
    return risks.var() + mean_weight * risks.mean()


def irm_penalties(losses: Callable[[Tensor], Tensor], weights: Tensor) -> Tensor:
    r"""The IRM penalty of each soft environment: :math:`\bigl(\partial_w
    \tfrac{1}{n}\sum_i q_{ie}\,\ell_i(w)\bigr)^2` at :math:`w = 1`, where ``losses(w)``
    returns per-row losses ``[n]`` of the logits scaled by ``w`` and ``weights`` ``[n, k]``
    holds each row's environment probabilities :math:`q`; shape ``[k]``, differentiable in
    ``weights``."""
    scale = torch.ones((), dtype=weights.dtype, device=weights.device, requires_grad=True)
    per_row = losses(scale)
    penalties = []
    for e in range(weights.size(1)):
        risk = (per_row * weights[:, e]).mean()
        grad, = torch.autograd.grad(risk, scale, create_graph=True)
        penalties.append(grad.pow(2))
    return torch.stack(penalties)


def infer_partitions(losses: Callable[[Tensor], Tensor], features: Tensor,
                     num_environments: int = 2, *, steps: int = 500, lr: float = 0.1) -> Tensor:
    """A soft partition of ``n`` rows into ``num_environments``: a linear softmax over
    ``features`` ``[n, d]`` trained (Adam, ``steps``, ``lr``) to maximise the summed
    :func:`irm_penalties` of a fixed reference model's ``losses`` (see there).  Returns
    the environment probabilities ``[n, k]`` (no gradient); ``argmax(-1)`` gives each
    row's environment."""
    if num_environments < 2:
        raise ValueError(f'num_environments must be >= 2, got {num_environments}')
    features = features.detach()
    partition = torch.nn.Linear(features.size(1), num_environments).to(features)
    optimizer = torch.optim.Adam(partition.parameters(), lr=lr, weight_decay=1e-5)
    for _ in range(steps):
        optimizer.zero_grad(set_to_none=True)
        (-irm_penalties(losses, partition(features).softmax(-1)).sum()).backward()
        optimizer.step()
    with torch.no_grad():
        return partition(features).softmax(-1)
