"""Models split for the Stackelberg game: ``encode`` (leader) → fairness block (follower) → head.

A :class:`BilevelModel` exposes ``decode(hidden)`` = head(fairness_block(hidden)) (and the
graph models ``encode(x, edge_index)``), so a training step can compute the encoder's output
once and let both players reuse it: the follower only moves the block, which leaves the
encoder's output unchanged.
"""
from __future__ import annotations

from typing import Callable, Union

import torch
from torch import Tensor
from torch.nn import Module
from torch_geometric.nn import MLP

from ..losses import probabilities
from .encoders import ENCODERS, GraphEncoder
from .fairness_block import FairnessBlock

__all__ = ['BilevelModel', 'FairBiNNGNN', 'make_head', 'logit_count', 'predict_proba']


def logit_count(num_classes: int) -> int:
    """Logits per row for ``num_classes`` classes: one for two (binary cross-entropy),
    one per class for more (cross-entropy)."""
    if num_classes < 2:
        raise ValueError(f'num_classes must be >= 2, got {num_classes}')
    return 1 if num_classes == 2 else num_classes


def make_head(in_channels: int, num_layers: int, num_classes: int = 2) -> Module:
    """``num_layers`` Linear layers ending in :func:`logit_count` logits (activations
    between them)."""
    if num_layers < 1:
        raise ValueError(f'head_layers must be >= 1, got {num_layers}')
    out = logit_count(num_classes)
    if num_layers == 1:
        return torch.nn.Linear(in_channels, out)
    return MLP([in_channels] * num_layers + [out], norm=None, dropout=0.0)


@torch.no_grad()
def predict_proba(model: Module, logits: Callable[[], Tensor]) -> Tensor:
    """The probabilities of ``logits()`` (:func:`~fairgnn_bilevel.losses.probabilities`:
    ``[n]`` for one logit per row, ``[n, C]`` for ``C``) computed with ``model`` in eval
    mode (no dropout) and without gradients; ``model`` is left in the mode it was in."""
    was_training = model.training
    model.eval()
    try:
        return probabilities(logits())
    finally:
        model.train(was_training)


class BilevelModel(Module):
    """Base of models whose fairness block sits between an encoder and a head."""

    fairness_block: FairnessBlock
    head: Module

    def decode(self, hidden: Tensor) -> Tensor:
        """Logits of shape ``[n]`` (two classes) or ``[n, C]`` from encoder rows of shape
        ``[n, hidden]``."""
        return self.head(self.fairness_block(hidden)).squeeze(-1)


class FairBiNNGNN(BilevelModel):
    r"""Node classifier of FairBiNN: GNN encoder → :class:`FairnessBlock` → linear head.

    Args:
        in_channels (int): node features.
        hidden_channels (int): width of encoder, block and head.
        num_layers (int): GNN layers before the block (default: :obj:`2`).
        encoder (str or GraphEncoder): ``'gcn'``, ``'gat'`` or an encoder instance
            (default: :obj:`'gcn'`).
        fairness_layers (int): Linear + activation layers in the block (default: :obj:`1`).
        head_layers (int): Linear layers after the block (default: :obj:`1`).
        dropout (float): dropout inside the encoder (default: :obj:`0.0`).
        heads (int): attention heads for ``'gat'`` (default: :obj:`1`).
        fairness_act (str): activation of the fairness block (default: :obj:`'relu'`).
        num_classes (int): classes; two get one logit, more one logit each
            (default: :obj:`2`).

    Shapes:
        - **input:** :math:`(|V|, F)` features, :math:`(2, |E|)` edges
        - **output:** :math:`(|V|)` logits of the positive class, or :math:`(|V|, C)`
    """

    def __init__(self, in_channels: int, hidden_channels: int = 64, num_layers: int = 2,
                 encoder: Union[str, GraphEncoder] = 'gcn', fairness_layers: int = 1,
                 head_layers: int = 1, dropout: float = 0.0, heads: int = 1,
                 fairness_act: str = 'relu', num_classes: int = 2) -> None:
        super().__init__()
        self.in_channels, self.hidden_channels = in_channels, hidden_channels
        self.num_classes = num_classes
        if not isinstance(encoder, Module) and encoder not in ENCODERS:
            raise ValueError(f'unknown encoder {encoder!r}; use one of {", ".join(ENCODERS)}')
        self.encoder = encoder if isinstance(encoder, Module) else ENCODERS[encoder](
            in_channels, hidden_channels, num_layers, dropout, heads)
        self.fairness_block = FairnessBlock(self.encoder.out_channels, hidden_channels,
                                            num_layers=fairness_layers, act=fairness_act)
        self.head = make_head(hidden_channels, head_layers, num_classes)

    def reset_parameters(self) -> None:
        for module in (self.encoder, self.fairness_block, self.head):
            module.reset_parameters()

    def encode(self, x: Tensor, edge_index: Tensor) -> Tensor:
        """The leader's layers before the fairness block: hidden rows ``[N, d]`` of every
        node (the follower's input, :meth:`decode` 's argument)."""
        return self.encoder(x, edge_index)

    def forward(self, x: Tensor, edge_index: Tensor) -> Tensor:
        return self.decode(self.encode(x, edge_index))

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}({self.in_channels}, {self.hidden_channels}, '
                f'encoder={self.encoder}, fairness_block={self.fairness_block}'
                + ('' if self.num_classes == 2 else f', num_classes={self.num_classes}') + ')')
