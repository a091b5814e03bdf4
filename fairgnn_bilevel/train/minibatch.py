"""Mini-batch node classification: PyG's neighbour-sampled subgraphs around the seed nodes.

Each step samples the subgraph of a batch of training (seed) nodes with
:class:`~torch_geometric.loader.NeighborLoader`, encodes it once, and hands the seed rows to
the same :class:`~fairgnn_bilevel.train.strategies.Strategy` step as full-graph and tabular
training.  Under torch.distributed every rank takes its part of each step's batch
(:class:`SeedBatches`) and the losses and gradients are those of the union batch
(:mod:`~fairgnn_bilevel.train.distributed`).

GCN normalisation: a sampled subgraph's own degrees would renormalise :math:`\\hat{A}`.
Instead every sampled edge keeps the full graph's weight
:math:`1/\\sqrt{\\hat{d}_s \\hat{d}_t}`, scaled by :math:`d_t / k_t` (in-degree over sampled
in-edges) so that a sampled sum is an unbiased estimate of the full one; with full
neighbourhoods (``num_neighbors=[-1, ...]``) the seed rows equal the full graph's exactly.
Evaluation is exact: layer-wise inference over the full graph (``encoder.inference``),
for GCN on the sampler's own edge arrays.
"""
from __future__ import annotations

import math
import warnings
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import Tensor
from torch.nn import Module
from torch_geometric.data import Data
from torch_geometric.utils import degree, remove_self_loops
from tqdm.auto import tqdm

from ..nn.classifier import predict_proba
from .distributed import Shard
from .graph import NodeTask, encodes_rows, graph_step_cost
from .strategies import Batch, Strategy

__all__ = ['SCALE_INSTALL', 'require_sampler', 'SeedBatches', 'MiniBatchGraphTask']

SCALE_INSTALL = ('pip install --no-build-isolation torch-scatter torch-sparse (after torch; '
                 'or pip install -e ".[scale]" after that)')


def require_sampler() -> None:
    """Raise ``ImportError`` naming the install command when PyG cannot sample neighbours."""
    import torch_geometric.typing as pyg_typing
    if not (pyg_typing.WITH_PYG_LIB or pyg_typing.WITH_TORCH_SPARSE):
        raise ImportError('mini-batch graph training samples neighbourhoods with PyG\'s '
                          'NeighborLoader, which needs torch-sparse or pyg-lib; install: '
                          + SCALE_INSTALL)


class SeedBatches:
    """The seed nodes of every step, for PyG's loader as its ``batch_sampler``.

    Each epoch shuffles the ``num_seeds`` seeds with a generator seeded by (``seed``,
    epoch), cuts the order into global batches of ``batch_size`` (a last batch too small
    to give every rank a seed joins the one before), and yields this rank's part of each:
    the ``rank``-th of ``world_size`` near-equal contiguous slices.  Every rank computes
    the same order, so the ranks' parts of a step are disjoint and cover its batch.
    """

    def __init__(self, num_seeds: int, batch_size: int, *, seed: int = 0, rank: int = 0,
                 world_size: int = 1) -> None:
        if batch_size < world_size:
            raise ValueError(f'train.batch_size ({batch_size}) must be at least the number of '
                             f'processes ({world_size}), so that every rank has seed nodes')
        if num_seeds < world_size:
            raise ValueError(f'{num_seeds} training nodes cannot be shared by {world_size} '
                             'processes')
        self.num_seeds, self.batch_size, self.seed = num_seeds, batch_size, seed
        self.rank, self.world_size, self.epoch = rank, world_size, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def global_batches(self) -> List[Tensor]:
        """Every step's seeds (indices into the seed nodes), for all ranks together."""
        state = np.random.SeedSequence([self.seed, self.epoch]).generate_state(1)[0]
        order = torch.randperm(self.num_seeds, generator=torch.Generator().manual_seed(
            int(state)))
        batches = list(order.split(self.batch_size))
        if len(batches) > 1 and len(batches[-1]) < self.world_size:
            batches[-2:] = [torch.cat(batches[-2:])]
        return batches

    def __iter__(self) -> Iterator[List[int]]:
        for batch in self.global_batches():
            yield torch.tensor_split(batch, self.world_size)[self.rank].tolist()

    def __len__(self) -> int:
        return len(self.global_batches())


class MiniBatchGraphTask(NodeTask):
    """Steps on neighbour-sampled subgraphs of ``batch_size`` training nodes; exact metrics
    (every rank of a data-parallel run computes the same values).

    Args:
        model: a :class:`~fairgnn_bilevel.nn.BilevelModel` with a library graph encoder.
        data: the graph (checked as for full-graph training).
        batch_size: seed nodes per step, over all processes together.
        num_neighbors: neighbours sampled per node and layer, first hop first; ``-1``
            takes every neighbour.
        seed: seeds the order of the seed nodes in each epoch.
        shard: this process's place in data-parallel training (default: read from
            torch.distributed).
        progress: a bar over each epoch's steps (an epoch of a large graph takes minutes).
    """

    def __init__(self, model: Module, data: Data, *, batch_size: int,
                 num_neighbors: Sequence[int], seed: int = 0, shard: Optional[Shard] = None,
                 progress: bool = False) -> None:
        if not encodes_rows(model):
            raise ValueError(f'mini-batch training encodes sampled subgraphs, and '
                             f'{type(model).__name__} does not expose a graph encoder; use a '
                             'BilevelModel (e.g. FairBiNNGNN) or train on the full graph')
        require_sampler()
        from torch_geometric.loader import NeighborLoader
        layers = getattr(model.encoder, 'num_layers', len(num_neighbors))
        if len(num_neighbors) != layers:
            raise ValueError(f'train.num_neighbors has {len(num_neighbors)} entries but the '
                             f'encoder has {layers} layers; give one count per layer')
        super().__init__(data)
        self.model = model
        self.shard = shard if shard is not None else Shard()
        self.seeds = self.split_rows['train']
        self.labels = data.y.float()
        n, device = data.num_nodes, data.x.device
        # GCN's Â has one self-loop per node (gcn_norm keeps no duplicates of it); the
        # sampler gets the edges without them (a copy only when there are any)
        edge_index = data.edge_index.cpu()
        if bool((edge_index[0] == edge_index[1]).any()):
            edge_index = remove_self_loops(edge_index)[0]
        self.in_degree = degree(edge_index[1], n, dtype=data.x.dtype).to(device)
        self.dinv = (self.in_degree + 1).rsqrt()
        self.schedule = SeedBatches(len(self.seeds), batch_size, seed=seed,
                                    rank=self.shard.rank, world_size=self.shard.world_size)
        with warnings.catch_warnings():  # torch-sparse sampling is deprecated in favour of
            warnings.simplefilter('ignore', UserWarning)  # pyg-lib, which has no package here
            self.loader = NeighborLoader(Data(edge_index=edge_index, num_nodes=n),
                                         num_neighbors=list(num_neighbors),
                                         input_nodes=self.seeds.cpu(),
                                         batch_sampler=self.schedule)
        self.epoch, self.progress = 0, progress
        fanout = math.prod(k if k >= 0 else max(edge_index.size(1) / n, 1.0)
                           for k in num_neighbors)
        self.step_cost = graph_step_cost(data, getattr(model, 'hidden_channels', 64)) * min(
            1.0, batch_size / self.shard.world_size * fanout / n)
        self.inference_prepared = model.encoder.prepare_inference(
            data.x, data.edge_index, normalized=self._normalized_adjacency)

    def _normalized_adjacency(self) -> Optional[Tuple[Tensor, Tensor]]:
        """GCN's :math:`\\hat{A}` for evaluation as (off-diagonal CSR, diagonal), on the
        sampler's own target-sorted edge arrays: the edges are not held a second time."""
        sampler = self.loader.node_sampler
        colptr, source = getattr(sampler, 'colptr', None), getattr(sampler, 'row', None)
        if not isinstance(colptr, Tensor) or not isinstance(source, Tensor):
            return None  # another sampler: the encoder normalises the edges itself
        device, n = self.dinv.device, self.dinv.size(0)
        colptr, source = colptr.to(device), source.to(device)
        target = torch.repeat_interleave(torch.arange(n, device=device), colptr.diff())
        weight = self.dinv[source] * self.dinv[target]
        del target
        with warnings.catch_warnings():  # "CSR support is in beta": the ops used are stable
            warnings.simplefilter('ignore', UserWarning)
            adj = torch.sparse_csr_tensor(colptr, source, weight, (n, n),
                                          check_invariants=False)
        return adj, self.dinv.square()

    def _prepare(self, subgraph: Data) -> Any:
        """The encoder's view of a sampled subgraph, with the full graph's edge weights."""
        node = subgraph.n_id.to(self.dinv.device)
        source, target = subgraph.edge_index.to(node.device)
        sampled = degree(target, len(node), dtype=self.dinv.dtype)
        weight = (self.dinv[node[source]] * self.dinv[node[target]]
                  * self.in_degree[node[target]] / sampled[target])
        loops = torch.arange(len(node), device=node.device)
        edge_index = torch.cat([torch.stack([source, target]), torch.stack([loops, loops])], 1)
        weight = torch.cat([weight, self.dinv[node].square()])
        return self.model.encoder.prepare_subgraph(self.data.x[node], edge_index, weight)

    def train_epoch(self, strategy: Strategy, fairness_scale: float = 1.0) -> Dict[str, float]:
        self.schedule.set_epoch(self.epoch)
        self.epoch += 1
        distributed = self.shard.distributed
        sums: Dict[str, float] = {}
        steps = 0
        unions = self.schedule.global_batches()
        steps_bar = tqdm(zip(self.loader, unions), desc='steps', total=len(unions),
                         disable=not self.progress, leave=False, mininterval=0.5)
        for subgraph, union in steps_bar:
            prepared = self._prepare(subgraph)
            seeds = subgraph.n_id[:subgraph.batch_size].to(self.labels.device)
            rows = torch.arange(subgraph.batch_size, device=seeds.device)
            batch = Batch(self.model.encoder.encode_prepared(prepared, rows), self.labels[seeds],
                          self.data.sens[seeds], nodes=seeds,
                          total=len(union) if distributed else None,
                          processes=self.shard.world_size)
            for name, value in strategy.step(batch, self.model.decode, fairness_scale).items():
                sums[name] = sums.get(name, 0.0) + value
            steps += 1
        # each rank's losses sum, over ranks, to the union batch's times the ranks
        names = sorted(sums)
        totals = self.shard.total(torch.tensor([sums[k] for k in names], dtype=torch.float64,
                                               device=self.labels.device))  # nccl: on the GPU
        return {name: float(total) / (steps * self.shard.world_size)
                for name, total in zip(names, totals)}

    def predict_proba(self, rows: Optional[Tensor] = None) -> Tensor:
        """Probability of the positive class for ``rows`` (default: every node), exact,
        from the encoder's layer-wise inference over the full graph."""
        encoder = self.model.encoder
        return predict_proba(self.model, lambda: self.model.decode(
            encoder.inference(self.inference_prepared, rows)))
