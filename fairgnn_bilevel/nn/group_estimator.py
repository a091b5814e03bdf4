"""FairGNN's sensitive-attribute estimator: a two-layer GCN and a linear output."""
from __future__ import annotations

import torch
from torch import Tensor
from torch.nn import Module
from torch_geometric.nn import Linear

from .encoders import GCNEncoder, PreparedGCN
from .propagation import spmm

__all__ = ['GroupEstimator']


class GroupEstimator(Module):
    r"""Predicts the logit of a node's sensitive group from the graph.

    .. math::
        z = w^\top \bigl(\hat{A}\,\mathrm{dropout}(\mathrm{ReLU}(\hat{A} X W_1 + b_1))
        W_2 + b_2\bigr) + c

    The architecture of FairGNN's estimator (``GCN(nfeat, 128, 1, dropout)``: two GCN
    layers, the second without activation, and a linear output).  Like the encoders it
    ``prepare``\ s a graph once (normalised adjacency, propagated inputs) and ``encode``\ s
    it many times.

    Args:
        in_channels: node feature width.
        hidden_channels: width of both GCN layers.
        dropout: dropout after the first layer.

    Shapes:
        x ``[N, in_channels]``, edge_index ``[2, E]`` → logits ``[N]``.
    """

    def __init__(self, in_channels: int, hidden_channels: int = 128,
                 dropout: float = 0.5) -> None:
        super().__init__()
        self.first = GCNEncoder(in_channels, hidden_channels, num_layers=1, dropout=dropout)
        self.second = Linear(hidden_channels, hidden_channels, bias=False,
                             weight_initializer='glorot')
        self.bias = torch.nn.Parameter(torch.zeros(hidden_channels))
        self.out = torch.nn.Linear(hidden_channels, 1)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        self.first.reset_parameters()
        self.second.reset_parameters()
        torch.nn.init.zeros_(self.bias)
        self.out.reset_parameters()

    def prepare(self, x: Tensor, edge_index: Tensor) -> PreparedGCN:
        return self.first.prepare(x, edge_index)

    def encode_prepared(self, prepared: PreparedGCN) -> Tensor:
        h = spmm(prepared.adj, self.second(self.first.encode_prepared(prepared))) + self.bias
        return self.out(h).view(-1)

    def forward(self, x: Tensor, edge_index: Tensor) -> Tensor:
        return self.encode_prepared(self.prepare(x, edge_index))

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}({self.first.in_channels}, '
                f'{self.first.out_channels})')
