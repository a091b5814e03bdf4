"""The training loop shared by graphs and tables: epochs, evaluation, selection, progress."""
from __future__ import annotations

import math
import random
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Dict, Iterator, List, Optional, Protocol, Tuple

import numpy as np
import torch
from torch import Tensor
from torch.nn import Module
from tqdm.auto import tqdm

from .selection import ParetoArchive, SelectionRule
from .strategies import Decision, Strategy

__all__ = ['Task', 'LoopResult', 'Diverged', 'run_epochs', 'seed_everything', 'isolated_rng']


class Task(Protocol):
    """What the loop trains: a model, one epoch of steps, and metrics on a split."""

    model: Module
    step_cost: float  # multiply-adds of one forward pass, to choose a thread count

    def train_epoch(self, strategy: Strategy, fairness_scale: float) -> Dict[str, float]: ...

    def evaluate(self, split: str, decide: Optional[Decision] = None) -> Dict[str, float]: ...

    def scores(self, split: str) -> Tuple[Tensor, Tensor, Tensor]: ...

    def has_split(self, split: str) -> bool: ...


class Diverged(ValueError):
    """Training produced a non-finite loss or parameter at ``epoch``; ``what`` names it."""

    def __init__(self, epoch: int, what: str) -> None:
        super().__init__(f'training diverged at epoch {epoch}: {what} became non-finite')
        self.epoch, self.what = epoch, what


@dataclass
class LoopResult:
    selected_epoch: int
    val: Dict[str, float]
    history: List[Dict[str, float]] = field(default_factory=list)


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch so that CPU runs repeat bit for bit."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


@contextmanager
def isolated_rng(seed: int) -> Iterator[None]:
    """Seed Python, NumPy and torch (every CUDA device too) with ``seed`` inside the block
    and give the caller's generator states back after it, so that a run repeats bit for bit
    and leaves no trace in the caller's random numbers."""
    python_state, numpy_state = random.getstate(), np.random.get_state()
    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_initialized() else []
    with torch.random.fork_rng(devices=devices):
        try:
            seed_everything(seed)
            yield
        finally:
            random.setstate(python_state)
            np.random.set_state(numpy_state)


def run_epochs(task: Task, strategy: Strategy, *, epochs: int, rule: SelectionRule,
               eval_every: int = 1, fairness_warmup: int = 0, progress: bool = True,
               desc: str = 'train') -> LoopResult:
    """Train for ``epochs``, evaluate on validation every ``eval_every`` epochs, and leave
    ``task.model`` holding the parameters of the epoch that ``rule`` selects.

    ``fairness_warmup`` > 0 ramps the fairness weight (η or λ) linearly from
    1/``fairness_warmup`` of its value in epoch 1 to its full value from that epoch on.
    Raises :class:`Diverged` at the first epoch whose losses or parameters are not finite.
    """
    if epochs < 1 or eval_every < 1:
        raise ValueError(f'epochs and eval_every must be >= 1, got {epochs} and {eval_every}')
    archive = ParetoArchive(rule)
    bar = tqdm(range(1, epochs + 1), desc=desc, disable=not progress, leave=False,
               mininterval=0.5)
    for epoch in bar:
        task.model.train()
        scale = min(1.0, epoch / fairness_warmup) if fairness_warmup else 1.0
        losses = task.train_epoch(strategy, scale)
        losses.update(strategy.end_epoch())
        bad = [f'the {name}' for name, value in losses.items() if not math.isfinite(value)]
        bad += [f'parameter {name}' for name, p in task.model.named_parameters()
                if not bool(torch.isfinite(p).all())]
        if bad:
            raise Diverged(epoch, bad[0])
        if epoch % eval_every == 0 or epoch == epochs:
            val = task.evaluate('val')
            record = {'epoch': epoch, **val}
            archive.add(record, task.model.state_dict())
            bar.set_postfix(loss=f"{losses['task_loss']:.3f}", val_acc=f"{val['acc']:.3f}",
                            val_dp=f"{val['dp']:.3f}", refresh=False)
    record, state = archive.best()
    selected = int(record['epoch'])
    if selected != epochs:  # the model already holds the final epoch's parameters
        task.model.load_state_dict(state)
    return LoopResult(selected_epoch=selected,
                      val={k: v for k, v in record.items() if k != 'epoch'},
                      history=archive.records)
