"""Graph encoders behind one interface: ``prepare`` the graph once, ``encode_prepared`` many
times.

``prepare(x, edge_index)`` holds the work that depends on the data only (normalisation,
propagated inputs); ``encode_prepared(prepared, rows)`` returns hidden rows for the given nodes
(all nodes when ``rows`` is ``None``).  Training calls ``prepare`` once per graph.
Mini-batch training prepares each sampled subgraph with ``prepare_subgraph`` and evaluates
with ``prepare_inference`` and ``inference``, which may trade speed for memory.
"""
from __future__ import annotations

import warnings
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from typing import Any, Callable, List, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.nn import Module, ModuleList
from torch_geometric.nn import Linear
from torch_geometric.nn.resolver import activation_resolver

from .propagation import adjacency, normalized_adjacency, restrict_rows, row_slice, spmm

__all__ = ['GraphEncoder', 'GCNEncoder', 'GATEncoder', 'ENCODERS']


class GraphEncoder(Module):
    """Interface of the library's encoders (see the module docstring)."""

    out_channels: int

    def prepare(self, x: Tensor, edge_index: Tensor) -> Any:
        raise NotImplementedError

    def encode_prepared(self, prepared: Any, rows: Optional[Tensor] = None) -> Tensor:
        raise NotImplementedError

    def with_features(self, prepared: Any, x: Tensor, edge_index: Tensor) -> Any:
        """``prepare(x, edge_index)`` when ``prepared`` came from ``prepare(x0, edge_index)``
        of the same graph: the graph-only work (normalisation, attention pattern, plans) is
        reused and only the features' part redone; what an input layer learned in front of
        the encoder needs at every step.  Default: :meth:`prepare` anew."""
        return self.prepare(x, edge_index)

    def prepare_subgraph(self, x: Tensor, edge_index: Tensor, edge_weight: Tensor) -> Any:
        """Prepare a sampled subgraph.  ``edge_index`` holds one self-loop per node and
        ``edge_weight`` the full graph's normalised adjacency values for its edges (see
        :class:`~fairgnn_bilevel.train.minibatch.MiniBatchGraphTask`); encoders that
        normalise over the neighbours they are given (attention) need only ``edge_index``."""
        return self.prepare(x, edge_index)

    def prepare_inference(self, x: Tensor, edge_index: Tensor,
                          normalized: Optional[Normalized] = None) -> Any:
        """What :meth:`inference` needs of the full graph (default: :meth:`prepare`).
        ``normalized``: builds the GCN-normalised adjacency from arrays the caller holds
        (see :meth:`GCNEncoder.prepare_inference`); other encoders do not call it."""
        return self.prepare(x, edge_index)

    def inference(self, prepared: Any, rows: Optional[Tensor] = None) -> Tensor:
        """The full-graph output's ``rows`` without gradients (default:
        :meth:`encode_prepared`)."""
        with torch.no_grad():
            return self.encode_prepared(prepared, rows)

    def forward(self, x: Tensor, edge_index: Tensor) -> Tensor:
        return self.encode_prepared(self.prepare(x, edge_index))


Plan = List[Tuple[Tensor, Optional[Tensor]]]
# Builds (Â without its diagonal as CSR, the diagonal), or None when it cannot.
Normalized = Callable[[], Optional[Tuple[Tensor, Tensor]]]


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
    propagated_x: Optional[Tensor]
    x: Optional[Tensor] = None         # for layer-wise inference (no propagated_x)
    diagonal: Optional[Tensor] = None  # Â's diagonal when ``adj`` holds only the rest
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

    def with_features(self, prepared: PreparedGCN, x: Tensor, edge_index: Tensor
                      ) -> PreparedGCN:
        if prepared.propagated_x is None:  # an inference state: Â may lack its diagonal
            return self.prepare(x, edge_index)
        return replace(prepared, propagated_x=spmm(prepared.adj, x))  # Â and its plans shared

    def prepare_subgraph(self, x: Tensor, edge_index: Tensor, edge_weight: Tensor
                         ) -> PreparedGCN:
        adj = adjacency(edge_index, edge_weight.to(x.dtype), x.size(0))
        return PreparedGCN(adj=adj, propagated_x=spmm(adj, x))

    def prepare_inference(self, x: Tensor, edge_index: Tensor,
                          normalized: Optional[Normalized] = None) -> PreparedGCN:
        """For :meth:`inference`: :math:`\\hat{A}` without :math:`\\hat{A}X`.  ``normalized()``
        may give it as (off-diagonal part as CSR, diagonal), e.g. built on the arrays of
        a neighbour sampler, so that the graph's edges are not held twice; when it is
        absent or returns ``None``, :math:`\\hat{A}` is built from ``edge_index``."""
        built = normalized() if normalized is not None else None
        if built is None:
            return PreparedGCN(adj=normalized_adjacency(edge_index, x.size(0), dtype=x.dtype),
                               propagated_x=None, x=x)
        adj, diagonal = built
        return PreparedGCN(adj=adj, propagated_x=None, x=x, diagonal=diagonal)

    @torch.no_grad()
    def inference(self, prepared: PreparedGCN, rows: Optional[Tensor] = None,
                  chunk_size: int = 16384) -> Tensor:
        r"""The function of :meth:`encode`, layer by layer over chunks of rows, with
        :math:`\hat{A}` applied to the narrower of :math:`H` and :math:`HW` (sparse
        products cost more per column than dense ones): besides the inputs it holds at
        most two ``[|V|, hidden]`` tensors and a chunk's, never :math:`\hat{A}X` or a
        whole forward's activations."""
        if prepared.propagated_x is not None:
            return self.encode_prepared(prepared, rows)
        adj, h, diagonal = prepared.adj, prepared.x, prepared.diagonal
        n = adj.size(0)
        for layer, lin in enumerate(self.lins):
            project_first = h.size(1) > self.out_channels
            inputs = lin(h) if project_first else h
            last = rows is not None and layer == self.num_layers - 1
            out = h.new_empty(len(rows) if last else n, self.out_channels)
            for start in range(0, out.size(0), chunk_size):
                end = min(start + chunk_size, out.size(0))
                if last:
                    chunk = rows[start:end]
                    sub, cols = restrict_rows(adj, chunk)
                    z = spmm(sub, inputs if cols is None else inputs[cols])
                else:  # every row in order: slices of the CSR arrays, no copies
                    chunk = slice(start, end)
                    z = spmm(row_slice(adj, start, end), inputs)
                if diagonal is not None:
                    z += diagonal[chunk, None] * inputs[chunk]
                out[start:end] = self._finish(z if project_first else lin(z), layer)
            del inputs
            h = out
        return h

    def _finish(self, h: Tensor, layer: int) -> Tensor:
        h = self.act(h.add_(self.biases[layer]))  # in place: matmul outputs are not saved
        return F.dropout(h, p=self.dropout, training=self.training)

    def encode_prepared(self, prepared: PreparedGCN, rows: Optional[Tensor] = None) -> Tensor:
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


@dataclass
class PreparedGAT:
    """Data-only state of a :class:`GATEncoder`: the inputs and the attention pattern.

    Edges (self-loops replaced by one per node, as ``GATConv`` does) sorted by target,
    so that the edge-wise attention values are the values of a CSR matrix
    ``[target, source]``; ``order_t`` permutes them into the transposed matrix's order.
    """

    x: Tensor
    source: Tensor
    target: Tensor
    crow: Tensor
    crow_t: Tensor
    col_t: Tensor
    order_t: Tensor

    @property
    def num_nodes(self) -> int:
        return self.x.size(0)

    def matrix(self, values: Tensor, transposed: bool = False) -> Tensor:
        """The attention matrix with edge ``values`` (CSR, ``[target, source]``)."""
        n = self.num_nodes
        with warnings.catch_warnings():  # "CSR support is in beta": the ops used are stable
            warnings.simplefilter('ignore', UserWarning)
            if transposed:
                return torch.sparse_csr_tensor(self.crow_t, self.col_t, values[self.order_t],
                                               (n, n), check_invariants=False)
            return torch.sparse_csr_tensor(self.crow, self.source, values, (n, n),
                                           check_invariants=False)


def _row_pointers(rows: Tensor, n: int) -> Tensor:
    return torch.cat([rows.new_zeros(1), torch.cumsum(torch.bincount(rows, minlength=n), 0)])


class _AttentionSum(torch.autograd.Function):
    r""":math:`\mathrm{out}_i = \sum_{e: j \to i} \alpha_e h_j` as one CSR product; its
    backward gives :math:`\partial h = A_\alpha^\top g` and
    :math:`\partial\alpha_e = g_i \cdot h_j` by a sampled product, never materialising the
    ``[edges, channels]`` messages that scatter-based message passing builds."""

    @staticmethod
    def forward(ctx: Any, alpha: Tensor, h: Tensor, prepared: PreparedGAT) -> Tensor:
        ctx.save_for_backward(alpha, h)
        ctx.prepared = prepared
        return torch.sparse.mm(prepared.matrix(alpha), h)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tuple[Optional[Tensor], Optional[Tensor], None]:
        alpha, h = ctx.saved_tensors
        prepared: PreparedGAT = ctx.prepared
        grad_alpha = grad_h = None
        if ctx.needs_input_grad[0]:
            pattern = prepared.matrix(torch.zeros_like(alpha))
            with warnings.catch_warnings():
                warnings.simplefilter('ignore', UserWarning)
                grad_alpha = torch.sparse.sampled_addmm(pattern, grad.contiguous(), h.t(),
                                                        beta=0.0).values()
        if ctx.needs_input_grad[1]:
            grad_h = torch.sparse.mm(prepared.matrix(alpha, transposed=True), grad)
        return grad_alpha, grad_h, None


class GATEncoder(GraphEncoder):
    r"""Graph attention layers (`Veličković et al., 2018 <https://arxiv.org/abs/1710.10903>`_),
    the same function and parameters as PyG's :class:`~torch_geometric.nn.models.GAT` of
    :class:`~torch_geometric.nn.conv.GATConv` layers followed by the activation.

    .. math::
        \alpha_{ij} = \mathrm{softmax}_j\bigl(\mathrm{LeakyReLU}(a_s^\top W h_j +
        a_t^\top W h_i)\bigr), \qquad h_i' = \Big\Vert_{k=1}^{K} \sum_j \alpha^k_{ij}
        W^k h_j + b

    The weighted sum runs as a CSR product per head (:class:`_AttentionSum`), several
    times faster on CPU than scatter-based message passing, which builds a message per
    edge and channel.  Attention dropout and feature dropout (``dropout``) act as in PyG's
    ``GAT``; every layer but the last ends with the activation and dropout, the last with
    the activation only (a fairness block follows).

    Args:
        in_channels (int): input features per node.
        hidden_channels (int): output width of every layer (``heads`` heads of
            ``hidden_channels // heads`` channels, concatenated).
        num_layers (int): number of attention layers (default: :obj:`2`).
        dropout (float): feature and attention dropout (default: :obj:`0.0`).
        heads (int): attention heads per layer (default: :obj:`1`).
        act (str): activation (default: :obj:`'relu'`).

    Shapes:
        - **input:** node features :math:`(|V|, F_{in})`, edge indices :math:`(2, |E|)`
        - **output:** :math:`(|V|, F_{hidden})`, or :math:`(|R|, F_{hidden})` for ``rows``
    """

    def __init__(self, in_channels: int, hidden_channels: int, num_layers: int = 2,
                 dropout: float = 0.0, heads: int = 1, act: str = 'relu') -> None:
        super().__init__()
        from torch_geometric.nn import GATConv
        if num_layers < 1:
            raise ValueError(f"'{self.__class__.__name__}' needs num_layers >= 1")
        if hidden_channels % heads:
            raise ValueError(f'hidden_channels ({hidden_channels}) must be divisible by heads '
                             f'({heads})')
        self.in_channels, self.out_channels = in_channels, hidden_channels
        self.num_layers, self.dropout, self.heads = num_layers, dropout, heads
        self.act = activation_resolver(act)
        self.convs = ModuleList(
            GATConv(in_channels if i == 0 else hidden_channels, hidden_channels // heads,
                    heads=heads, dropout=dropout) for i in range(num_layers))

    def reset_parameters(self) -> None:
        for conv in self.convs:
            conv.reset_parameters()

    def prepare(self, x: Tensor, edge_index: Tensor) -> PreparedGAT:
        from torch_geometric.utils import add_self_loops, remove_self_loops
        n = x.size(0)
        edge_index, _ = add_self_loops(remove_self_loops(edge_index)[0], num_nodes=n)
        source, target = edge_index[:, torch.argsort(edge_index[1] * n + edge_index[0])]
        order_t = torch.argsort(source * n + target)
        return PreparedGAT(x=x, source=source, target=target, crow=_row_pointers(target, n),
                           crow_t=_row_pointers(source, n), col_t=target[order_t],
                           order_t=order_t)

    def with_features(self, prepared: PreparedGAT, x: Tensor, edge_index: Tensor
                      ) -> PreparedGAT:
        return replace(prepared, x=x)

    def _layer(self, conv: Module, x: Tensor, prepared: PreparedGAT) -> Tensor:
        from torch_geometric.utils import softmax
        heads, channels = self.heads, conv.out_channels
        h = conv.lin(x).view(-1, heads, channels)
        score = ((h * conv.att_src).sum(-1)[prepared.source]
                 + (h * conv.att_dst).sum(-1)[prepared.target])
        alpha = softmax(F.leaky_relu(score, conv.negative_slope), prepared.target,
                        num_nodes=prepared.num_nodes)
        alpha = F.dropout(alpha, p=conv.dropout, training=self.training)
        out = torch.cat([_AttentionSum.apply(alpha[:, k].contiguous(), h[:, k], prepared)
                         for k in range(heads)], dim=-1)
        return out + conv.bias

    def encode_prepared(self, prepared: PreparedGAT, rows: Optional[Tensor] = None) -> Tensor:
        x = prepared.x
        for i, conv in enumerate(self.convs):
            x = self.act(self._layer(conv, x, prepared))
            if i < self.num_layers - 1:
                x = F.dropout(x, p=self.dropout, training=self.training)
        return x if rows is None else x[rows]

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}({self.in_channels}, {self.out_channels}, '
                f'num_layers={self.num_layers}, heads={self.heads})')


# The encoders by name: builder(in_channels, hidden_channels, num_layers, dropout, heads).
ENCODERS = {
    'gcn': lambda i, h, layers, dropout, heads: GCNEncoder(i, h, layers, dropout),
    'gat': lambda i, h, layers, dropout, heads: GATEncoder(i, h, layers, dropout, heads),
}
