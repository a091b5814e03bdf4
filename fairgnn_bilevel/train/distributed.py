"""Data parallelism on torch.distributed: the runner's view of one process of a step.

Every process holds the whole model and a share of each step's batch.  The losses reduce
their group statistics over processes with the core's reduction hook
(:func:`~fairgnn_bilevel.collectives.all_reduce_sum`, whose backward is again an
all-reduce), each process's task loss is its share of the union batch's scaled by the
number of processes, and the parameter gradients are averaged over processes
(:meth:`Shard.average_grads`) before each optimiser step: the gradient of the union batch,
the unrolled follower step's second-order terms included.  The runner averages the
gradients itself because its steps call the encoder and the head separately rather than
through a ``DistributedDataParallel`` forward; a user's loop can use DDP instead
(``examples/ddp.py``).
"""
from __future__ import annotations

import os
from typing import Iterable, Optional, Union

import torch
import torch.distributed as dist
from torch import Tensor
from torch.nn import Module, Parameter

from ..collectives import all_reduce_sum

__all__ = ['Shard', 'init_from_environment', 'launched_by_torchrun', 'local_world_size']


class Shard:
    """This process's place in data-parallel training (rank ``rank`` of ``world_size``).

    Outside an initialised process group, or in a group of one, every collective is the
    identity and the losses reduce to the one-process formulas.
    """

    def __init__(self) -> None:
        self.distributed = (dist.is_available() and dist.is_initialized()
                            and dist.get_world_size() > 1)
        self.rank = dist.get_rank() if self.distributed else 0
        self.world_size = dist.get_world_size() if self.distributed else 1

    def sum(self, tensor: Tensor) -> Tensor:
        """``tensor`` summed over ranks, differentiably."""
        return all_reduce_sum(tensor) if self.distributed else tensor

    def total(self, tensor: Tensor) -> Tensor:
        """``tensor`` summed over ranks, outside autograd (counts, logged losses)."""
        if not self.distributed:
            return tensor
        out = tensor.detach().clone()
        dist.all_reduce(out, op=dist.ReduceOp.SUM)
        return out

    def average_grads(self, params: Iterable[Parameter]) -> None:
        """Replace each parameter's ``.grad`` by its mean over ranks (one all-reduce).

        Every rank must hold gradients for the same parameters, which holds when the ranks
        run the same model on batches of the same structure.
        """
        if not self.distributed:
            return
        grads = [p.grad for p in params if p.grad is not None]
        if not grads:
            return
        flat = torch.cat([g.reshape(-1) for g in grads])
        dist.all_reduce(flat, op=dist.ReduceOp.SUM)
        flat /= self.world_size
        offset = 0
        for grad in grads:
            grad.copy_(flat[offset:offset + grad.numel()].view_as(grad))
            offset += grad.numel()

    def broadcast(self, values: Union[Module, Tensor]) -> None:
        """Give every rank rank 0's tensor, or a module's parameters and buffers, in place."""
        if self.distributed:
            tensors = values.state_dict().values() if isinstance(values, Module) else [values]
            for tensor in tensors:
                dist.broadcast(tensor, 0)

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(rank={self.rank}, world_size={self.world_size})'


def launched_by_torchrun() -> bool:
    """Whether this process is one of several that ``torchrun`` started."""
    return int(os.environ.get('WORLD_SIZE', '1')) > 1


def init_from_environment(device: str = 'cpu', backend: Optional[str] = None) -> None:
    """Join the process group that ``torchrun`` describes in the environment
    (``RANK``, ``WORLD_SIZE``, ``MASTER_ADDR``, ``MASTER_PORT``): gloo on CPU, nccl on
    CUDA.  Does nothing when a group is already initialised."""
    if dist.is_initialized():
        return
    if backend is None:
        backend = 'nccl' if device.startswith('cuda') else 'gloo'
    dist.init_process_group(backend)


def local_world_size() -> int:
    """Processes on this machine: ``torchrun``'s ``LOCAL_WORLD_SIZE``; else, in a process
    group started another way (e.g. ``torch.multiprocessing.spawn``), all of its ranks."""
    if 'LOCAL_WORLD_SIZE' in os.environ:
        return int(os.environ['LOCAL_WORLD_SIZE'])
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1
