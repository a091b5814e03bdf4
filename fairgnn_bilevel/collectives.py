"""A differentiable sum over the processes of a data-parallel step: the reduction hook.

Pass :func:`all_reduce_sum` as ``reduce`` to a fairness loss (the follower takes the
loss's): group statistics and the follower's gradient then become those of the union of
every process's rows, at any order of differentiation (the unrolled follower's
second-order terms too).  The collective is ``torch.distributed.all_reduce`` inside an
autograd function whose backward is the same sum (as torch's own
``torch.distributed.nn.functional.all_reduce``, which torch 2.13 deprecates); ``group=``
picks a process group (a sub-group works:
``functools.partial(all_reduce_sum, group=subgroup)``).  Outside an
initialised process group, or in a group of one, it is the identity.
"""
from __future__ import annotations

import functools
from typing import Any, Optional

import torch
import torch.distributed as dist
from torch import Tensor

__all__ = ['all_reduce_sum', 'world_size', 'same_reduce']


def world_size(group: Optional[Any] = None) -> int:
    """Processes in ``group`` (default: the default group; 1 outside one)."""
    if not (dist.is_available() and dist.is_initialized()):
        return 1
    return dist.get_world_size(group)


def all_reduce_sum(tensor: Tensor, *, group: Optional[Any] = None) -> Tensor:
    """``tensor`` summed over the processes of ``group``, differentiably (its backward is
    the same sum of the upstream gradients, itself differentiable).

    Every process of the group must call it, in the same order, with tensors of the same
    shape.
    """
    if world_size(group) == 1:
        return tensor
    return _AllReduceSum.apply(dist.group.WORLD if group is None else group, tensor)


class _AllReduceSum(torch.autograd.Function):
    # the gradient of a sum over processes is the sum of the processes' upstream gradients;
    # computed by this same function, so it is differentiable again (second order)

    @staticmethod
    def forward(ctx: Any, group: Any, tensor: Tensor) -> Tensor:
        ctx.group = group
        total = tensor.clone(memory_format=torch.contiguous_format)  # the collective is in place
        dist.all_reduce(total, op=dist.ReduceOp.SUM, group=group)
        return total

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Any:
        return None, _AllReduceSum.apply(ctx.group, grad)


def same_reduce(a: Any, b: Any) -> bool:
    """Whether two reduction hooks are the same: one object, or ``functools.partial`` s of
    one function with equal arguments (two ``partial(all_reduce_sum, group=g)``)."""
    if a is b:
        return True
    if isinstance(a, functools.partial) and isinstance(b, functools.partial):
        return a.func is b.func and a.args == b.args and a.keywords == b.keywords
    return False
