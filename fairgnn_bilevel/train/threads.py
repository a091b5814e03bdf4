"""How many intra-op threads torch uses for a run, chosen for the workload and the machine.

torch's OpenMP threads spin while they wait, so beside another busy process our many small
operations wait on descheduled threads, and idle, several threads only pay off on large
steps.  ``'auto'`` therefore uses every core only for a large step on a machine with no
other runnable process, one thread otherwise (figures: docs/performance.md).
"""
from __future__ import annotations

import os
import time
from contextlib import contextmanager
from typing import Iterator, Union

import torch

__all__ = ['LARGE_STEP', 'available_cores', 'other_runnable', 'choose_threads',
           'torch_threads']

# Multiply-adds of one forward pass above which a step is worth several threads: the
# quick start is ~1e7 (no gain from 2 threads), a Pokec-sized graph ~4e9 (1.6× with 2).
LARGE_STEP = 1e8


def available_cores() -> int:
    """Cores this process may run on."""
    if hasattr(os, 'sched_getaffinity'):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _runnable_own_threads() -> int:
    count = 0
    try:
        for task in os.listdir('/proc/self/task'):
            with open(f'/proc/self/task/{task}/stat') as handle:
                # the state follows the command name, which is in parentheses
                if handle.read().rpartition(')')[2].split()[0] == 'R':
                    count += 1
    except OSError:
        return 1
    return count


def other_runnable(samples: int = 3, interval: float = 0.02) -> int:
    """Runnable threads of other processes right now (Linux ``/proc/loadavg``), the
    largest of a few samples; 0 where the system does not say."""
    seen = 0
    for i in range(samples):
        try:
            with open('/proc/loadavg') as handle:
                running = int(handle.read().split()[3].split('/')[0])
        except (OSError, ValueError, IndexError):
            return 0
        seen = max(seen, running - _runnable_own_threads())
        if i + 1 < samples:
            time.sleep(interval)
    return seen


def choose_threads(setting: Union[int, str, None], step_cost: float) -> int:
    """The thread count for ``setting`` (``'auto'``, a number, or ``None``: the count torch
    has now, the caller's) and a step of ``step_cost`` multiply-adds (see the module
    docstring)."""
    if setting is None:
        return torch.get_num_threads()
    if setting != 'auto':
        return int(setting)
    cores = available_cores()
    if step_cost < LARGE_STEP or cores == 1:
        return 1
    return max(1, cores - other_runnable())


@contextmanager
def torch_threads(count: int) -> Iterator[int]:
    """Run the block with ``count`` torch intra-op threads, then restore the previous count."""
    previous = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield count
    finally:
        torch.set_num_threads(previous)
