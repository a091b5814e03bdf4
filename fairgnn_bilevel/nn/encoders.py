"""Graph encoders behind one interface: ``prepare`` the graph once, ``encode`` many times.

``prepare(x, edge_index)`` holds the work that depends on the data only (normalisation,
propagated inputs); ``encode(prepared, rows)`` returns hidden rows for the given nodes
(all nodes when ``rows`` is ``None``).  Training calls ``prepare`` once per graph.
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, List, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.nn import Module, ModuleList
from torch_geometric.nn import Linear
from torch_geometric.nn.resolver import activation_resolver

from .propagation import normalized_adjacency, restrict_rows, spmm

__all__ = ['GraphEncoder', 'GCNEncoder', 'PyGEncoder', 'ENCODERS']


class GraphEncoder(Module):
    """Interface of the library's encoders (see the module docstring)."""

    out_channels: int

    def prepare(self, x: Tensor, edge_index: Tensor) -> Any:
        raise NotImplementedError

    def encode(self, prepared: Any, rows: Optional[Tensor] = None) -> Tensor:
        raise NotImplementedError

    def forward(self, x: Tensor, edge_index: Tensor) -> Tensor:
        return self.encode(self.prepare(x, edge_index))


Plan = List[Tuple[Tensor, Optional[Tensor]]]


@dataclass
class PreparedGCN:
    """Data-only state of a :class:`GCNEncoder`: :math:`\\hat{A}`, :math:`\\hat{A}X`, plans.

    Receptive-field plans are cached per row set in a small LRU (``max_plans`` entries).
    The cache key is the row tensor's identity *and* its version counter, and each entry
    holds a reference to its tensor: while an entry lives its tensor cannot be freed, so
    no other row set can ever reuse its identity, and an in-place edit bumps the version.
    A fresh tensor with the same values is a miss and gets a correct plan of its own.
    """

    adj: Tensor
    propagated_x: Tensor
    max_plans: int = 8
    plans: 'OrderedDict[Tuple[int, int], Tuple[Tensor, Plan]]' = field(
        default_factory=OrderedDict)

    def plan(self, rows: Tensor, num_layers: int) -> Plan:
        """Per layer ``l = L..2``: (``adj[N_l][:, N_{l-1}]``, ``N_{l-1}``) for ``rows``.

        ``N_{l-1}`` is ``None`` once the receptive field covers most of the graph: from
        there down every layer runs on all nodes.
        """
        key = (id(rows), rows._version)
        hit = self.plans.get(key)
        if hit is not None and hit[0] is rows:
            self.plans.move_to_end(key)
            return hit[1]
        steps: Plan = []
        current: Optional[Tensor] = rows
        for _ in range(num_layers - 1):
            if current is None:
                steps.append((self.adj, None))
                continue
            sub, current = restrict_rows(self.adj, current)
            steps.append((sub, current))
        self.plans[key] = (rows, steps)
        while len(self.plans) > self.max_plans:
            self.plans.popitem(last=False)
        return steps


class GCNEncoder(GraphEncoder):
    r"""A stack of GCN layers, :math:`\mathbf{H}' = \sigma(\hat{A}\mathbf{H}\mathbf{W} + b)`,
    from `Kipf and Welling (2017) <https://arxiv.org/abs/1609.02907>`_.

    Exact shortcuts over a plain PyG loop: :math:`\hat{A}` is normalised once per graph,
    the first layer uses :math:`(\hat{A}X)W = \hat{A}(XW)` with :math:`\hat{A}X` computed
    once (inputs are fixed; dropout acts only between layers), and when ``rows`` is given
    only their receptive field is computed.  Every layer, the last included, ends with the
    activation and dropout, since a fairness block or head follows.

    Args:
        in_channels (int): input features per node.
        hidden_channels (int): width of every layer.
        num_layers (int): number of GCN layers (default: :obj:`2`).
        dropout (float): dropout after each layer (default: :obj:`0.0`).
        act (str): activation (default: :obj:`'relu'`).

    Shapes:
        - **input:** node features :math:`(|V|, F_{in})`, edge indices :math:`(2, |E|)`
        - **output:** :math:`(|V|, F_{hidden})`, or :math:`(|R|, F_{hidden})` for ``rows``
    """

    def __init__(self, in_channels: int, hidden_channels: int, num_layers: int = 2,
                 dropout: float = 0.0, act: str = 'relu') -> None:
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"'{self.__class__.__name__}' needs num_layers >= 1")
        self.in_channels, self.out_channels = in_channels, hidden_channels
        self.num_layers, self.dropout, self.act_name = num_layers, dropout, act
        self.act = activation_resolver(act)
        sizes = [in_channels] + [hidden_channels] * num_layers
        self.lins = ModuleList(Linear(sizes[i], sizes[i + 1], bias=False,
                                      weight_initializer='glorot')
                               for i in range(num_layers))
        self.biases = torch.nn.ParameterList(
            torch.nn.Parameter(torch.zeros(hidden_channels)) for _ in range(num_layers))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for lin, bias in zip(self.lins, self.biases):
            lin.reset_parameters()
            torch.nn.init.zeros_(bias)

    def prepare(self, x: Tensor, edge_index: Tensor) -> PreparedGCN:
        adj = normalized_adjacency(edge_index, x.size(0), dtype=x.dtype)
        return PreparedGCN(adj=adj, propagated_x=spmm(adj, x))

    def _finish(self, h: Tensor, layer: int) -> Tensor:
        h = self.act(h.add_(self.biases[layer]))  # in place: matmul outputs are not saved
        return F.dropout(h, p=self.dropout, training=self.training)

    def encode(self, prepared: PreparedGCN, rows: Optional[Tensor] = None) -> Tensor:
        if rows is None:
            h = self._finish(self.lins[0](prepared.propagated_x), 0)
            for layer in range(1, self.num_layers):
                h = self._finish(spmm(prepared.adj, self.lins[layer](h)), layer)
            return h
        plan = prepared.plan(rows, self.num_layers)  # plan[0] is the last layer's
        first_rows = plan[-1][1] if plan else rows
        first = prepared.propagated_x if first_rows is None else prepared.propagated_x[first_rows]
        h = self._finish(self.lins[0](first), 0)
        for layer in range(1, self.num_layers):
            sub, _ = plan[self.num_layers - 1 - layer]
            h = self._finish(spmm(sub, self.lins[layer](h)), layer)
        return h

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}({self.in_channels}, {self.out_channels}, '
                f'num_layers={self.num_layers})')


class PyGEncoder(GraphEncoder):
    """Any PyG model ``gnn(x, edge_index)`` (e.g. ``torch_geometric.nn.GAT``) as an encoder.

    The activation is applied to the model's output, since PyG's ``BasicGNN`` leaves its
    last layer linear and a fairness block follows.  ``rows`` selects rows after a
    full-graph forward (exact for any model, with no receptive-field savings).
    """

    def __init__(self, gnn: Module, out_channels: int, act: str = 'relu') -> None:
        super().__init__()
        self.gnn, self.out_channels = gnn, out_channels
        self.act = activation_resolver(act)

    def reset_parameters(self) -> None:
        self.gnn.reset_parameters()

    def prepare(self, x: Tensor, edge_index: Tensor) -> Tuple[Tensor, Tensor]:
        return x, edge_index

    def encode(self, prepared: Tuple[Tensor, Tensor], rows: Optional[Tensor] = None) -> Tensor:
        h = self.act(self.gnn(*prepared))
        return h if rows is None else h[rows]

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}({self.gnn})'


def _gat(in_channels: int, hidden_channels: int, num_layers: int, dropout: float,
         heads: int) -> GraphEncoder:
    from torch_geometric.nn import GAT
    return PyGEncoder(GAT(in_channels, hidden_channels, num_layers, dropout=dropout,
                          heads=heads), hidden_channels)


# The encoders by name: builder(in_channels, hidden_channels, num_layers, dropout, heads).
ENCODERS = {
    'gcn': lambda i, h, layers, dropout, heads: GCNEncoder(i, h, layers, dropout),
    'gat': _gat,  # PyG's GAT
}
