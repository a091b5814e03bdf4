"""Mini-batch tabular training as a :class:`~fairgnn_bilevel.train.loop.Task`."""
from __future__ import annotations

from typing import TYPE_CHECKING, Dict, Optional, Tuple

import numpy as np
import torch
from torch import Tensor
from torch.nn import Module

from ..metrics import fairness_report
from ..nn.classifier import predict_proba
from .strategies import Batch, Decision, Strategy

if TYPE_CHECKING:  # the data layer imports the engine, which imports this module
    from ..tabular.datasets import TabularData

__all__ = ['TabularTask', 'DEFAULT_BATCH_SIZE']

DEFAULT_BATCH_SIZE = 100  # the paper's tabular batch


class TabularTask:
    """Shuffled mini-batches of the training rows; each batch is one strategy step.

    The fairness loss of a batch only compares the groups present in it (an absent group
    contributes nothing), so small batches never produce NaN.
    """

    def __init__(self, model: Module, data: 'TabularData', *,
                 batch_size: int = DEFAULT_BATCH_SIZE, seed: int = 0,
                 device: torch.device | str = 'cpu') -> None:
        self.model, self.data, self.batch_size = model, data, batch_size
        self.tensors = {split: (torch.tensor(np.asarray(data.X[split]), dtype=torch.float32,
                                             device=device),
                                torch.tensor(np.asarray(data.y[split]), device=device),
                                torch.tensor(np.asarray(data.sens[split]), device=device))
                        for split in data.X}
        self.generator = torch.Generator().manual_seed(seed)
        hidden = getattr(model, 'hidden', 64)
        self.step_cost = float(min(batch_size, len(data.y['train']))
                               * (data.num_features + hidden) * hidden)

    def train_epoch(self, strategy: Strategy, fairness_scale: float = 1.0) -> Dict[str, float]:
        X, y, sens = self.tensors['train']
        order = torch.randperm(len(y), generator=self.generator).to(y.device)
        totals: Dict[str, float] = {}
        batches = order.split(self.batch_size)
        # a split model's players share its encoder rows; any other module is decoded whole
        encode = getattr(self.model, 'encode', None)
        decode = self.model.decode if encode is not None else self.model
        for rows in batches:
            hidden = X[rows] if encode is None else encode(X[rows])
            batch = Batch(hidden, y[rows].float(), sens[rows])
            for name, value in strategy.step(batch, decode, fairness_scale).items():
                totals[name] = totals.get(name, 0.0) + value / len(batches)
        return totals

    def has_split(self, split: str) -> bool:
        return split in self.tensors

    def scores(self, split: str) -> Tuple[Tensor, Tensor, Tensor]:
        """The probabilities, labels and groups of ``split``'s rows."""
        X, y, sens = self.tensors[split]
        return predict_proba(self.model, lambda: self.model(X)), y, sens

    def evaluate(self, split: str, decide: Optional[Decision] = None) -> Dict[str, float]:
        """ACC, AUC, ΔDP and ΔEO on ``split``; ``decide``: post-processing that makes the
        hard predictions (default: threshold)."""
        probs, y, sens = self.scores(split)
        return fairness_report(y, probs, sensitive_features=sens,
                               y_pred=None if decide is None else decide(probs, sens))
