"""Mini-batch tabular training as a :class:`~fairgnn_bilevel.train.loop.Task`."""
from __future__ import annotations

from typing import Dict

import numpy as np
import torch

from ..metrics import binary_report
from ..train.strategies import Strategy, TrainBatch
from .datasets import TabularData
from .model import FairBiNNMLP

__all__ = ['TabularTask']


class TabularTask:
    """Shuffled mini-batches of the training rows; each batch is one strategy step.

    The fairness loss of a batch only compares the groups present in it (an absent group
    contributes nothing), so small batches never produce NaN.
    """

    def __init__(self, model: FairBiNNMLP, data: TabularData, *, batch_size: int = 100,
                 seed: int = 0, device: torch.device | str = 'cpu') -> None:
        self.model, self.data, self.batch_size = model, data, batch_size
        self.tensors = {
            split: tuple(torch.tensor(np.asarray(a), device=device)
                         for a in (data.X[split], data.y[split], data.sens[split]))
            for split in data.X}
        self.generator = torch.Generator().manual_seed(seed)
        hidden = getattr(model, 'hidden', 64)
        self.step_size = float(min(batch_size, len(data.y['train']))
                               * (data.num_features + hidden) * hidden)

    def train_epoch(self, strategy: Strategy) -> Dict[str, float]:
        X, y, sens = self.tensors['train']
        order = torch.randperm(len(y), generator=self.generator).to(y.device)
        totals: Dict[str, float] = {}
        batches = order.split(self.batch_size)
        for rows in batches:
            def encode(rows=rows) -> TrainBatch:
                return TrainBatch(self.model.encoder(X[rows]), y[rows].float(), sens[rows])
            for name, value in strategy.step(encode, self.model.decode).items():
                totals[name] = totals.get(name, 0.0) + value / len(batches)
        return totals

    @torch.no_grad()
    def predict_proba(self, X: torch.Tensor) -> torch.Tensor:
        was_training = self.model.training
        self.model.eval()
        prob = torch.sigmoid(self.model(X))
        self.model.train(was_training)
        return prob

    def evaluate(self, split: str) -> Dict[str, float]:
        X, y, sens = self.tensors[split]
        return binary_report(y, self.predict_proba(X), sensitive_features=sens)
