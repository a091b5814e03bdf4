"""A differentiable sum over the processes of a data-parallel step: the reduction hook.

Pass :func:`all_reduce_sum` as ``reduce`` to the fairness losses and the followers: group
statistics and the follower's gradient then become those of the union of every process's
rows, at any order of differentiation (the unrolled follower's second-order terms too).
Outside an initialised process group, or in a group of one, it is the identity.
"""
from __future__ import annotations

from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor

__all__ = ['all_reduce_sum', 'world_size']


def world_size() -> int:
    """Processes in the default group (1 outside one)."""
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


class _AllReduceSum(torch.autograd.Function):
    """Sum over processes; the backward of a sum is the sum of the upstream gradients."""

    @staticmethod
    def forward(ctx: Any, tensor: Tensor) -> Tensor:
        out = tensor.clone()
        dist.all_reduce(out, op=dist.ReduceOp.SUM)
        return out

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        return _AllReduceSum.apply(grad.contiguous())  # differentiable: double backward works


def all_reduce_sum(tensor: Tensor) -> Tensor:
    """``tensor`` summed over the processes of the default group, differentiably.

    Every process must call it, in the same order, with tensors of the same shape.
    """
    return _AllReduceSum.apply(tensor) if world_size() > 1 else tensor
