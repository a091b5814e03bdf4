"""The fairness player's module: a stack of Linear + activation layers (the follower)."""
from __future__ import annotations

from typing import List

import torch
from torch import Tensor
from torch.nn import Module, Parameter
from torch_geometric.nn import Linear
from torch_geometric.nn.resolver import activation_resolver

__all__ = ['FairnessBlock', 'follower_parameters', 'leader_parameters']


class FairnessBlock(Module):
    r"""The fairness layers of FairBiNN, whose parameters belong to the follower.

    Each layer computes :math:`\mathbf{h}' = \sigma(\mathbf{W}\mathbf{h} + \mathbf{b})`.
    Any module that contains a :class:`FairnessBlock` can be trained by the library's
    strategies: the block's parameters are the follower's, everything else is the
    leader's (see :func:`follower_parameters`).

    Args:
        in_channels (int): size of each input row.
        out_channels (int, optional): size of each output row (default: :obj:`in_channels`).
        num_layers (int): number of Linear + activation layers (default: :obj:`1`).
        act (str): activation, resolved by PyG's ``activation_resolver``
            (default: :obj:`'relu'`).

    Shapes:
        - **input:** :math:`(*, F_{in})`
        - **output:** :math:`(*, F_{out})`
    """

    def __init__(self, in_channels: int, out_channels: int | None = None,
                 num_layers: int = 1, act: str = 'relu') -> None:
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"'{self.__class__.__name__}' needs num_layers >= 1, "
                             f'got {num_layers}')
        self.in_channels = in_channels
        self.out_channels = in_channels if out_channels is None else out_channels
        self.num_layers = num_layers
        self.act_name = act
        self.act = activation_resolver(act)
        sizes = [in_channels] + [self.out_channels] * num_layers
        self.lins = torch.nn.ModuleList(
            Linear(sizes[i], sizes[i + 1], weight_initializer='glorot')
            for i in range(num_layers))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for lin in self.lins:
            lin.reset_parameters()

    def forward(self, x: Tensor) -> Tensor:
        for lin in self.lins:
            x = self.act(lin(x))
        return x

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}({self.in_channels}, {self.out_channels}, '
                f'num_layers={self.num_layers}, act={self.act_name})')


def _follower_ids(model: Module) -> set:
    return {id(p) for block in model.modules() if isinstance(block, FairnessBlock)
            for p in block.parameters()}


def follower_parameters(model: Module) -> List[Parameter]:
    """The parameters of every :class:`FairnessBlock` inside ``model``."""
    ids = _follower_ids(model)
    if not ids:
        raise ValueError(f'{type(model).__name__} contains no FairnessBlock, so there is no '
                         'follower to train; add a FairnessBlock or use method="vanilla"')
    return [p for p in model.parameters() if id(p) in ids]


def leader_parameters(model: Module) -> List[Parameter]:
    """Every parameter of ``model`` that is not inside a :class:`FairnessBlock`."""
    ids = _follower_ids(model)
    return [p for p in model.parameters() if id(p) not in ids]
