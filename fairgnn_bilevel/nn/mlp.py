"""FairBiNN's tabular network: an MLP with the fairness block at a chosen depth."""
from __future__ import annotations

import torch
from torch import Tensor
from torch.nn import Identity, Sequential

from .classifier import BilevelModel, make_head
from .fairness_block import FairnessBlock

__all__ = ['FairBiNNMLP']


class FairBiNNMLP(BilevelModel):
    r"""``layers_before`` Linear+ReLU layers → :class:`FairnessBlock` → ``head_layers`` Linear.

    The paper places the block just before the output layer (``head_layers=1``); Adult
    uses 2 layers before and 1 fairness layer, Health 2 before and 3 fairness layers.

    Args:
        in_features (int): input columns.
        hidden (int): width of every hidden layer (default: :obj:`64`).
        layers_before (int): layers before the block, 0 puts it on the input (default: 2).
        fairness_layers (int): layers in the block (default: :obj:`1`).
        head_layers (int): layers after the block, the output layer included (default: 1).
        dropout (float): dropout after each layer before the block (default: :obj:`0.0`).
        num_classes (int): classes; two get one logit, more one logit each (default: 2).

    Shapes:
        - **input:** :math:`(N, F)`
        - **output:** :math:`(N)` logits, or :math:`(N, C)`
    """

    def __init__(self, in_features: int, hidden: int = 64, layers_before: int = 2,
                 fairness_layers: int = 1, head_layers: int = 1, dropout: float = 0.0,
                 fairness_act: str = 'relu', num_classes: int = 2) -> None:
        super().__init__()
        self.in_features, self.hidden = in_features, hidden
        layers, width = [], in_features
        for _ in range(layers_before):
            layers += [torch.nn.Linear(width, hidden), torch.nn.ReLU(), torch.nn.Dropout(dropout)]
            width = hidden
        self.encoder = Sequential(*layers) if layers else Identity()
        self.fairness_block = FairnessBlock(width, hidden, num_layers=fairness_layers,
                                            act=fairness_act)
        self.head = make_head(hidden, head_layers, num_classes)
        self.num_classes = num_classes

    def reset_parameters(self) -> None:
        for module in self.modules():
            if module is not self and hasattr(module, 'reset_parameters'):
                module.reset_parameters()

    def encode(self, x: Tensor) -> Tensor:
        """The leader's layers before the fairness block: hidden rows ``[n, d]``."""
        return self.encoder(x)

    def forward(self, x: Tensor) -> Tensor:
        return self.decode(self.encode(x))

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}({self.in_features}, {self.hidden}, '
                f'layers_before={len(self.encoder) // 3 if len(self.encoder) else 0}, '
                f'fairness_block={self.fairness_block})')
