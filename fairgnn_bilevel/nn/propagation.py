"""GCN propagation matrices: the normalised adjacency once per graph, and row restriction.

Training on a fixed set of labelled rows only needs their receptive field.  With the
normalised adjacency :math:`\\hat{A}` held as a CSR matrix, an :math:`L`-layer GCN's output
on rows :math:`R` needs layer :math:`l` on :math:`N_l`, where :math:`N_L = R` and
:math:`N_{l-1}` are the columns that rows :math:`N_l` of :math:`\\hat{A}` touch.
"""
from __future__ import annotations

import warnings
from typing import Optional, Tuple

import torch
from torch import Tensor
from torch_geometric.nn.conv.gcn_conv import gcn_norm

__all__ = ['adjacency', 'normalized_adjacency', 'restrict_rows', 'row_slice', 'spmm']


def _csr(row: Tensor, col: Tensor, value: Tensor, shape: Tuple[int, int]) -> Tensor:
    with warnings.catch_warnings():  # "CSR support is in beta": the ops used here are stable
        warnings.simplefilter('ignore', UserWarning)
        coo = torch.sparse_coo_tensor(torch.stack([row, col]), value, shape,
                                      check_invariants=False).coalesce()
        return coo.to_sparse_csr()


def adjacency(edge_index: Tensor, edge_weight: Tensor, num_nodes: int) -> Tensor:
    """The sparse CSR matrix with ``edge_weight`` at ``[target, source]`` of each edge
    (duplicate edges summed): aggregation with weights the caller has normalised."""
    return _csr(edge_index[1], edge_index[0], edge_weight, (num_nodes, num_nodes))


def normalized_adjacency(edge_index: Tensor, num_nodes: int,
                         dtype: torch.dtype = torch.float32) -> Tensor:
    r""":math:`\hat{A} = \hat{D}^{-1/2}(A + I)\hat{D}^{-1/2}` as a sparse CSR matrix.

    Row ``i`` holds the weights with which node ``i`` aggregates its neighbours (PyG's
    ``source_to_target`` flow: ``edge_index[1]`` receives from ``edge_index[0]``).
    """
    index, weight = gcn_norm(edge_index, None, num_nodes, add_self_loops=True, dtype=dtype)
    return adjacency(index, weight, num_nodes)


def restrict_rows(adj: Tensor, rows: Tensor,
                  dense_fraction: float = 0.5) -> Tuple[Tensor, Optional[Tensor]]:
    """The sub-matrix ``adj[rows][:, cols]`` where ``cols`` are the columns ``rows`` touch.

    Returns:
        ``(sub, cols)``: ``sub`` is CSR of shape ``[len(rows), len(cols)]`` and ``cols``
        the sorted global column indices, so ``adj[rows] @ X == sub @ X[cols]``.  When the
        rows touch more than ``dense_fraction`` of all columns, gathering ``X[cols]`` costs
        more than it saves: then ``cols`` is ``None`` and ``sub`` keeps every column.
    """
    crow, col, value = adj.crow_indices(), adj.col_indices(), adj.values()
    counts = crow[rows + 1] - crow[rows]
    starts = torch.repeat_interleave(crow[rows], counts)
    offsets = torch.arange(int(counts.sum()), device=adj.device) - torch.repeat_interleave(
        torch.cumsum(counts, 0) - counts, counts)
    entries = starts + offsets
    local_row = torch.repeat_interleave(torch.arange(len(rows), device=adj.device), counts)
    cols, local_col = torch.unique(col[entries], return_inverse=True)
    if len(cols) > dense_fraction * adj.size(1):
        return _csr(local_row, col[entries], value[entries], (len(rows), adj.size(1))), None
    return _csr(local_row, local_col, value[entries], (len(rows), len(cols))), cols


def row_slice(adj: Tensor, start: int, end: int) -> Tensor:
    """Rows ``start:end`` of a CSR matrix, every column kept, sharing its storage."""
    crow = adj.crow_indices()[start:end + 1]
    first, last = int(crow[0]), int(crow[-1])
    with warnings.catch_warnings():  # "CSR support is in beta": the ops used here are stable
        warnings.simplefilter('ignore', UserWarning)
        return torch.sparse_csr_tensor(crow - first, adj.col_indices()[first:last],
                                       adj.values()[first:last], (end - start, adj.size(1)),
                                       check_invariants=False)


def spmm(adj: Tensor, x: Tensor) -> Tensor:
    """Sparse (CSR) times dense, differentiable with respect to ``x``."""
    return torch.sparse.mm(adj, x)
