"""Layers in front of a graph encoder: what FairVGNN and FairSIN change about a node's input.

:class:`ChannelMask` (FairVGNN) learns which feature channels to keep; :class:`Neutralizer`
(FairSIN) adds to each node a prediction of what its neighbours of other groups look like;
:class:`InputLayerEncoder` puts either in front of any library encoder, so that the model
that trains, selects and predicts is one module, the input layer included.
"""
from __future__ import annotations

from typing import Any, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.nn import Module, Parameter
from torch_geometric.nn import MLP

from .encoders import GraphEncoder

__all__ = ['ChannelMask', 'Neutralizer', 'InputLayerEncoder', 'heterophilous_means']


class ChannelMask(Module):
    r"""FairVGNN's feature-channel mask (Wang et al., KDD 2022): a keep/drop choice per
    input channel, :math:`\tilde{X} = X \operatorname{diag}(m)`.

    Each channel has two logits (keep, drop).  In training, :meth:`sample` draws a soft
    mask with the Gumbel-softmax relaxation (``temperature``), so a generator trained to
    fool a group discriminator learns to drop the channels that reveal the group; in
    evaluation the mask is each channel's keep probability (deterministic).

    Args:
        channels (int): input features per node.
        temperature (float): Gumbel-softmax temperature (default: :obj:`1.0`).

    Shapes:
        - **input:** :math:`(|V|, F)` → **output:** :math:`(|V|, F)`
    """

    def __init__(self, channels: int, temperature: float = 1.0) -> None:
        super().__init__()
        if temperature <= 0:
            raise ValueError(f'temperature must be > 0, got {temperature:g}')
        self.channels, self.temperature = channels, temperature
        self.logits = Parameter(torch.empty(channels, 2))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        torch.nn.init.xavier_uniform_(self.logits)

    def keep_rates(self) -> Tensor:
        """Each channel's probability of being kept, shape ``[F]``."""
        return self.logits.softmax(-1)[:, 0]

    def sample(self) -> Tensor:
        """One relaxed mask ``[F]`` in (0, 1), differentiable in the logits."""
        return F.gumbel_softmax(self.logits, tau=self.temperature, hard=False)[:, 0]

    def forward(self, x: Tensor, mask: Optional[Tensor] = None) -> Tensor:
        if mask is None:
            mask = self.sample() if self.training else self.keep_rates()
        self.last = mask  # the mask of the latest call: a regulariser on it reads it here
        return x * mask.to(x.dtype)

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}({self.channels}, temperature={self.temperature:g})'


def heterophilous_means(x: Tensor, edge_index: Tensor, groups: Tensor) -> Tuple[Tensor, Tensor]:
    r"""Each node's mean input over its neighbours of *another* group (FairSIN's target).

    .. math::
        \bar{x}_v = \frac{1}{|\{u \in N(v): s_u \ne s_v\}|}
        \sum_{u \in N(v),\, s_u \ne s_v} x_u

    Edges are read as given (pass both directions for an undirected graph); self-loops
    and nodes of unknown group (``groups < 0``) are left out.

    Returns:
        (the means ``[N, F]``, zero where a node has no such neighbour; a boolean ``[N]``
        marking the nodes that have one)
    """
    source, target = edge_index
    known = (groups[source] >= 0) & (groups[target] >= 0)
    other = known & (groups[source] != groups[target])
    source, target = source[other], target[other]
    sums = torch.zeros_like(x).index_add_(0, target, x[source])
    counts = torch.zeros(x.size(0), dtype=x.dtype, device=x.device).index_add_(
        0, target, torch.ones_like(target, dtype=x.dtype))
    has = counts > 0
    return sums / counts.clamp(min=1).unsqueeze(-1), has


class Neutralizer(Module):
    r"""FairSIN's sensitive-information neutralisation (Yang et al., AAAI 2024):
    :math:`\tilde{x}_v = x_v + \delta\,F(x_v)`, where :math:`F` (an MLP) is trained to
    predict :func:`heterophilous_means`, the input of the node's neighbours of other
    groups.  Adding it moves each node toward the other groups by what its graph would
    have shown it, so the encoder sees less of the node's own group.

    Args:
        channels (int): input features per node.
        hidden_channels (int): width of the MLP's two hidden layers (default: :obj:`64`).
        delta (float): weight :math:`\delta` of the predicted neighbours
            (default: :obj:`1.0`).

    Shapes:
        - **input:** :math:`(|V|, F)` → **output:** :math:`(|V|, F)`
    """

    def __init__(self, channels: int, hidden_channels: int = 64, delta: float = 1.0) -> None:
        super().__init__()
        self.channels, self.hidden_channels, self.delta = channels, hidden_channels, delta
        self.predictor = MLP([channels, hidden_channels, hidden_channels, channels],
                             norm=None, dropout=0.0)

    def reset_parameters(self) -> None:
        self.predictor.reset_parameters()

    def forward(self, x: Tensor) -> Tensor:
        return x + self.delta * self.predictor(x)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}({self.channels}, {self.hidden_channels}, '
                f'delta={self.delta:g})')


def _same_key(a: tuple, b: tuple) -> bool:
    return a[0] is b[0] and a[2] is b[2] and a[1] == b[1] and a[3:] == b[3:]


class InputLayerEncoder(GraphEncoder):
    """``encoder`` reading ``input_layer(x)`` instead of ``x``.

    A learned input layer changes the encoder's input at every step, so the features' part
    of :meth:`GraphEncoder.prepare` (propagated inputs) is redone per call on the
    transformed features, on the graph's part prepared once
    (:meth:`GraphEncoder.with_features`): full-graph training only.  A frozen input layer
    (no parameter that requires grad, e.g. FairSIN's fitted neutraliser; it must then be
    deterministic) is applied and prepared once per graph and parameter state.

    Args:
        input_layer (Module): ``[N, F] → [N, F']``, e.g. :class:`ChannelMask`.
        encoder (GraphEncoder): a library encoder whose inputs have ``F'`` channels.
    """

    def __init__(self, input_layer: Module, encoder: GraphEncoder) -> None:
        super().__init__()
        if not hasattr(encoder, 'prepare'):
            raise ValueError(f'{type(encoder).__name__} is not a library graph encoder '
                             '(prepare / encode_prepared); an input layer goes in front of one')
        self.input_layer, self.encoder = input_layer, encoder
        self.out_channels = encoder.out_channels
        self._frozen: Optional[Tuple[tuple, Any]] = None  # (key, prepared) of a frozen layer
        self._graph: Optional[Tuple[tuple, Any]] = None  # (key, prepared) of the raw input

    def reset_parameters(self) -> None:
        for module in (self.input_layer, self.encoder):
            module.reset_parameters()

    def prepare(self, x: Tensor, edge_index: Tensor) -> Tuple[Tensor, Tensor]:
        return x, edge_index

    def encode_prepared(self, prepared: Tuple[Tensor, Tensor],
                        rows: Optional[Tensor] = None) -> Tensor:
        x, edge_index = prepared
        parameters = list(self.input_layer.parameters())
        # a key holds the tensors themselves (their ids cannot be reused while it lives)
        # and every version counter: an in-place change or a loaded state is a miss
        graph = (x, x._version, edge_index, edge_index._version)
        if any(p.requires_grad for p in parameters):  # the graph's part is prepared once
            if self._graph is None or not _same_key(self._graph[0], graph):
                with torch.no_grad():
                    self._graph = graph, self.encoder.prepare(x, edge_index)
            return self.encoder.encode_prepared(
                self.encoder.with_features(self._graph[1], self.input_layer(x), edge_index),
                rows)
        key = graph + (tuple(p._version for p in parameters), tuple(id(p) for p in parameters))
        if self._frozen is None or not _same_key(self._frozen[0], key):
            with torch.no_grad():
                self._frozen = key, self.encoder.prepare(self.input_layer(x), edge_index)
        return self.encoder.encode_prepared(self._frozen[1], rows)

    def prepare_subgraph(self, x: Tensor, edge_index: Tensor, edge_weight: Tensor) -> Any:
        raise ValueError('an input layer learned in front of the encoder (fairvgnn, fairsin) '
                         'trains on the full graph; leave train.batch_size unset')

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}({self.input_layer}, {self.encoder})'
