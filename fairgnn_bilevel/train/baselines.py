"""The fair-graph baselines a reviewer expects beside FairBiNN, each one :class:`Strategy`.

FairVGNN (Wang et al., KDD 2022) and FairSIN (Yang et al., AAAI 2024) change what the
encoder reads (:mod:`~fairgnn_bilevel.nn.input_layers`); FairINV (Zhu et al., KDD 2024)
trains on invariance across inferred group partitions
(:mod:`~fairgnn_bilevel.partitions`); ``threshold`` post-processes a vanilla model's
scores with fairlearn's ``ThresholdOptimizer``.  Each is written from its paper, with the
authors' published settings where the paper leaves a choice; where we differ, the class
docstring says so.
"""
from __future__ import annotations

import copy
from typing import Callable, Dict, List, Optional

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.nn import Linear, Module
from torch_geometric.data import Data

from ..nn.classifier import BilevelModel
from ..nn.input_layers import ChannelMask, InputLayerEncoder, Neutralizer, heterophilous_means
from ..partitions import environment_risks, infer_partitions, invariance_loss
from ..postprocessing import POSTPROCESSING, GroupThresholds
from .distributed import Shard
from .strategies import (DEFAULTS, Batch, Decision, Scores, Strategy, _adam, _floats, task_loss)

__all__ = ['FairVGNN', 'FairSIN', 'FairINV', 'Threshold', 'GroupDiscriminator',
           'first_layer_weight']


def _input_layer(model: Module, method: str, layer: Callable[[int], Module],
                 data: Data) -> Module:
    """``model`` with ``layer(F)`` in front of its graph encoder (in place)."""
    encoder = getattr(model, 'encoder', None)
    if not isinstance(model, BilevelModel) or not hasattr(encoder, 'prepare'):
        raise ValueError(f'train.method={method} learns a layer in front of the graph encoder, '
                         f'and {type(model).__name__} does not expose one; use a BilevelModel '
                         '(e.g. FairBiNNGNN) with a library graph encoder')
    if not isinstance(encoder, InputLayerEncoder):
        model.encoder = InputLayerEncoder(layer(data.num_features).to(data.x), encoder)
    return model


def first_layer_weight(encoder: Module) -> Tensor:
    """The weight ``[out, F]`` of ``encoder``'s first linear map of its ``F`` inputs: the
    one whose columns FairVGNN clamps channel by channel."""
    channels = getattr(encoder, 'in_channels', None)
    for name, p in encoder.named_parameters():
        if p.dim() == 2 and p.size(1) == channels:
            return p
    raise ValueError(f'{type(encoder).__name__} has no [out, {channels}] weight on its inputs '
                     'to clamp; use train.clip=0 to train FairVGNN without weight clamping')


class GroupDiscriminator:
    """A linear classifier of the sensitive group from encoder rows, with its own Adam;
    built at the first call, when the rows' width is known (FairGNN, FairVGNN)."""

    def __init__(self, num_groups: int, lr: float, weight_decay: float,
                 shard: Optional[Shard] = None) -> None:
        self.num_groups, self.lr, self.weight_decay, self.shard = num_groups, lr, weight_decay, shard
        self.module: Optional[Linear] = None

    def __call__(self, hidden: Tensor) -> Tensor:
        """Group logits ``[n, g]`` (``[n]`` for two groups)."""
        if self.module is None:
            outputs = 1 if self.num_groups == 2 else self.num_groups
            self.module = Linear(hidden.size(-1), outputs).to(hidden.device, hidden.dtype)
            if self.shard is not None:
                self.shard.broadcast(self.module)  # every process starts from rank 0's
            self.optimizer = _adam(self.module.parameters(), self.lr, self.weight_decay)
        out = self.module(hidden)
        return out.view(-1) if out.size(-1) == 1 else out

    def loss(self, hidden: Tensor, groups: Tensor, batch: Batch) -> Tensor:
        """Cross-entropy of the group predictions (the discriminator's objective)."""
        return batch.mean(task_loss(self(hidden), groups, reduction='none'))

    def parameters(self) -> List[Tensor]:
        return [] if self.module is None else list(self.module.parameters())

    def confusion(self, hidden: Tensor, batch: Batch) -> Tensor:
        """Squared distance of the predicted group probabilities from uniform: zero when
        the discriminator cannot tell the groups apart (FairVGNN's generator loss)."""
        logits = self(hidden)
        probs = torch.sigmoid(logits) if logits.dim() == 1 else logits.softmax(-1)
        return batch.mean(((probs - 1 / self.num_groups) ** 2).reshape(len(probs), -1).mean(-1))


class FairVGNN(Strategy):
    r"""FairVGNN (Wang et al., KDD 2022): a learned feature-channel mask in front of the
    encoder, trained adversarially against a group discriminator, and adaptive clamping of
    the encoder's first-layer weights.

    Each step draws a relaxed mask :math:`m` (:class:`~fairgnn_bilevel.nn.ChannelMask`)
    and plays three moves on the encoder rows :math:`h` of :math:`X\operatorname{diag}(m)`:
    the discriminator :math:`d` descends the cross-entropy of the groups given :math:`h`
    (detached); the encoder and head descend the task loss :math:`f`; the mask and the
    encoder descend :math:`\beta\,\|\sigma(d(h)) - \tfrac{1}{g}\|^2 +
    \rho\,\|m - \mathbf{1}\|^2` (fool the discriminator, but keep channels).  Then each
    column :math:`j` of the encoder's first weight is clamped to :math:`\pm c\,p_j`,
    :math:`p_j` the channel's keep probability, so a channel the mask drops cannot come
    back through large weights when the unmasked features are seen.

    Settings from the authors' code: Gumbel temperature 1, :math:`\rho = 1`,
    :math:`c = 1`, a linear discriminator.  Differences, said here: one move of each
    player per step and one mask per step (the authors run five of each per epoch and
    average ten sampled masks); evaluation multiplies each channel by its keep
    probability; :math:`\beta` (``adversary_weight``, 1 in the authors' code) weighs the
    generator's loss against the task's.
    Full graph only.
    """

    needs_graph = True

    def __init__(self, model: Module, *, data: Data, leader_lr: float = DEFAULTS['leader_lr'],
                 adversary_weight: float = DEFAULTS['adversary_weight'],
                 mask_ratio: float = DEFAULTS['mask_ratio'], clip: float = DEFAULTS['clip'],
                 weight_decay: float = DEFAULTS['weight_decay'], shard: Optional[Shard] = None,
                 num_groups: Optional[int] = None) -> None:
        super().__init__(shard)
        self.mask: ChannelMask = _adapted(model, 'fairvgnn', ChannelMask)
        mask_parameters = set(self.mask.parameters())
        self.leader = [p for p in model.parameters() if p not in mask_parameters]
        self.optimizer = _adam(model.parameters(), leader_lr, weight_decay)
        self.adversary_weight, self.mask_ratio, self.clip = adversary_weight, mask_ratio, clip
        self.weight = first_layer_weight(model.encoder.encoder) if clip > 0 else None
        self.encoder_parameters = list(model.encoder.encoder.parameters())
        self.discriminator = GroupDiscriminator(num_groups or 2, leader_lr, weight_decay, self.shard)

    @classmethod
    def adapt(cls, model: Module, data: Data) -> Module:
        return _input_layer(model, 'fairvgnn', ChannelMask, data)

    def step(self, batch: Batch, decode, fairness_scale: float = 1.0) -> Dict[str, float]:
        hidden = batch.hidden  # encoder rows of the masked input: the mask drawn this step
        mask = self.mask.last
        rows = batch.fair_rows(hidden)
        adversary_loss = self.discriminator.loss(rows, batch.groups, batch)
        f = batch.task_loss(decode(hidden))
        fooled = fairness_scale * self.adversary_weight * self.discriminator.confusion(rows, batch)
        keep = self.mask_ratio * F.mse_loss(mask, torch.ones_like(mask))
        self.optimizer.zero_grad(set_to_none=True)
        self.discriminator.optimizer.zero_grad(set_to_none=True)
        # the discriminator (with the encoder, as the authors' code steps both) learns the
        # groups; the task trains encoder and head; the generator's loss mask and encoder
        torch.autograd.backward(adversary_loss, inputs=list(self.discriminator.parameters())
                                + self.encoder_parameters, retain_graph=True)
        self._apply(self.discriminator.optimizer)
        self.discriminator.optimizer.zero_grad(set_to_none=True)
        torch.autograd.backward(f, inputs=self.leader, retain_graph=True)
        torch.autograd.backward(fooled + keep, inputs=list(self.mask.parameters())
                                + self.encoder_parameters)
        self._apply(self.optimizer)
        if self.weight is not None:
            with torch.no_grad():
                bound = self.clip * self.mask.keep_rates().to(self.weight)
                self.weight.copy_(torch.maximum(torch.minimum(self.weight, bound), -bound))
        return _floats(task_loss=f, fairness_loss=fooled, adversary_loss=adversary_loss)


class FairSIN(Strategy):
    r"""FairSIN (Yang et al., AAAI 2024): the encoder reads
    :math:`X + \delta F(X)`, where :math:`F` predicts each node's mean input over its
    neighbours of other groups (:class:`~fairgnn_bilevel.nn.Neutralizer`); then the task
    loss alone trains encoder, block and head.

    :math:`F` is fitted before the first step, by mean squared error on the nodes that have
    such a neighbour, with the authors' optimiser (Adam, learning rate 0.1, weight decay
    1e-3) and their early stopping on a tenth of those nodes held out; it is then frozen.
    ``neutralizer_steps`` bounds that fit (500 by default).
    Differences, said here: the authors refit :math:`F` for 20 steps every epoch (its loss
    does not depend on the classifier, so fitting it first is the same objective); their
    optional group discriminator is left out (their Pokec settings use none).  Full graph
    only.
    """

    needs_graph = True
    FIT_LR, FIT_WEIGHT_DECAY = 0.1, 1e-3

    def __init__(self, model: Module, *, data: Data, leader_lr: float = DEFAULTS['leader_lr'],
                 delta: float = DEFAULTS['delta'],
                 neutralizer_steps: int = DEFAULTS['neutralizer_steps'],
                 weight_decay: float = DEFAULTS['weight_decay'],
                 shard: Optional[Shard] = None, num_groups: Optional[int] = None) -> None:
        super().__init__(shard)
        neutralizer = _adapted(model, 'fairsin', Neutralizer)
        neutralizer.delta = delta
        fit_neutralizer(neutralizer, data, steps=neutralizer_steps, lr=self.FIT_LR,
                        weight_decay=self.FIT_WEIGHT_DECAY)
        neutralizer.requires_grad_(False)
        self.optimizer = _adam((p for p in model.parameters() if p.requires_grad), leader_lr,
                               weight_decay)

    @classmethod
    def adapt(cls, model: Module, data: Data) -> Module:
        hidden = getattr(model, 'hidden_channels', 64)
        return _input_layer(model, 'fairsin', lambda f: Neutralizer(f, hidden), data)

    def step(self, batch: Batch, decode, fairness_scale: float = 1.0) -> Dict[str, float]:
        f = batch.task_loss(decode(batch.hidden))
        self._descend(self.optimizer, f)
        return _floats(task_loss=f)


def fit_neutralizer(neutralizer: Neutralizer, data: Data, *, steps: int, lr: float,
                    weight_decay: float, held_out: float = 0.1) -> float:
    """Fit ``neutralizer``'s predictor to :func:`heterophilous_means` of ``data`` (mean
    squared error, Adam), keeping the state of least error on ``held_out`` of the nodes
    that have a neighbour of another group; returns that error."""
    targets, has = heterophilous_means(data.x, data.edge_index, data.sens)
    nodes = has.nonzero().view(-1)
    if len(nodes) < 2:
        raise ValueError('fairsin needs nodes with a neighbour of another group, and this graph '
                         f'has {len(nodes)}: there is nothing to neutralise')
    nodes = nodes[torch.randperm(len(nodes), device=nodes.device)]
    cut = max(1, int(round(held_out * len(nodes))))
    check, fit = nodes[:cut], nodes[cut:]
    predictor = neutralizer.predictor
    optimizer = torch.optim.Adam(predictor.parameters(), lr=lr, weight_decay=weight_decay)
    best, state = float('inf'), copy.deepcopy(predictor.state_dict())
    for _ in range(steps):
        predictor.train()
        optimizer.zero_grad(set_to_none=True)
        F.mse_loss(predictor(data.x[fit]), targets[fit]).backward()
        optimizer.step()
        with torch.no_grad():
            error = float(F.mse_loss(predictor(data.x[check]), targets[check]))
        if error < best:
            best, state = error, copy.deepcopy(predictor.state_dict())
    predictor.load_state_dict(state)
    return best


def _adapted(model: Module, method: str, kind: type) -> Module:
    """The input layer that ``adapt`` put in front of ``model``'s encoder."""
    layer = getattr(getattr(model, 'encoder', None), 'input_layer', None)
    if not isinstance(layer, kind):
        raise ValueError(f'train.method={method} needs {kind.__name__} in front of the encoder: '
                         f'pass the model through {method}.adapt(model, data) before building '
                         'the task')
    return layer


class FairINV(Strategy):
    r"""FairINV (Zhu et al., KDD 2024): invariant learning over inferred partitions of the
    training nodes, which stand in for sensitive groups it is never told.

    Before the first step, ``partitions`` times: a reference copy of the model is trained
    on the task alone for ``reference_epochs``, and a soft partition of the training nodes into ``environments``
    is fitted in ``partition_steps`` to *maximise* the IRM penalty of the reference model's errors
    (:func:`~fairgnn_bilevel.partitions.infer_partitions`, the environments in which one
    classifier is least optimal).  Each step then minimises
    :math:`\operatorname{Var}(R) + \alpha\,\operatorname{mean}(R)` over the task risks
    :math:`R` of every environment of every partition (``mean_risk_weight`` = α).

    Settings from the authors' code: 2 environments, 3 partitions, 500 reference
    epochs and 500 partition steps, partition learning rate 0.1 (their NBA setting).
    Differences, said here: the partition is a linear softmax over the reference model's
    representation and the label (the authors' also reweights edges with a second GNN);
    the reference model is the one of its 500 epochs with the least validation loss (the
    last one fits its training rows so well that every partition's penalty vanishes).
    Full graph only; works with any model (the reference model is a copy of it).
    """

    needs_graph = True
    PARTITION_LR = 0.1

    def __init__(self, model: Module, *, data: Data, leader_lr: float = DEFAULTS['leader_lr'],
                 mean_risk_weight: float = DEFAULTS['mean_risk_weight'],
                 environments: int = DEFAULTS['environments'],
                 partitions: int = DEFAULTS['partitions'],
                 reference_epochs: int = DEFAULTS['reference_epochs'],
                 partition_steps: int = DEFAULTS['partition_steps'],
                 weight_decay: float = DEFAULTS['weight_decay'], shard: Optional[Shard] = None,
                 num_groups: Optional[int] = None) -> None:
        super().__init__(shard)
        if environments < 2 or partitions < 1 or reference_epochs < 1 or partition_steps < 1:
            raise ValueError(f'fairinv needs environments >= 2 and partitions, reference_epochs '
                             f'and partition_steps >= 1, got {environments}, {partitions}, '
                             f'{reference_epochs} and {partition_steps}')
        self.reference_epochs, self.partition_steps = reference_epochs, partition_steps
        self.optimizer = _adam(model.parameters(), leader_lr, weight_decay)
        self.mean_risk_weight, self.environments = mean_risk_weight, environments
        train = data.train_mask.nonzero().view(-1)
        self.assignments = [
            self._partition(model, data, train, leader_lr, weight_decay).argmax(-1)
            for _ in range(partitions)]

    def _partition(self, model: Module, data: Data, train: Tensor, lr: float,
                   weight_decay: float) -> Tensor:
        reference = copy.deepcopy(model)
        for module in reference.modules():
            if module is not reference and hasattr(module, 'reset_parameters'):
                module.reset_parameters()
        optimizer = _adam(reference.parameters(), lr, weight_decay)
        labels, val = data.y[train], data.val_mask.nonzero().view(-1)
        best, state = float('inf'), None
        for _ in range(self.reference_epochs):
            reference.train()
            optimizer.zero_grad(set_to_none=True)
            out = reference(data.x, data.edge_index)
            task_loss(_node_logits(out)[train], labels).backward()
            optimizer.step()
            reference.eval()
            with torch.no_grad():
                loss = float(task_loss(_node_logits(reference(data.x, data.edge_index))[val],
                                       data.y[val]))
            if loss < best:
                best, state = loss, copy.deepcopy(reference.state_dict())
        # a reference that fits its training rows exactly has errors whose gradients all
        # point one way, and no partition raises the IRM penalty: the epoch of least
        # validation loss keeps the rows it gets wrong
        reference.load_state_dict(state)
        reference.eval()
        with torch.no_grad():
            logits = _node_logits(reference(data.x, data.edge_index))[train]
            encode = getattr(reference, 'encode', None)
            hidden = (encode(data.x, data.edge_index) if encode else data.x)[train]
        classes = int(data.y[train].max()) + 1
        features = torch.cat([hidden, F.one_hot(labels.long(), max(classes, 2)).to(hidden)], 1)
        return infer_partitions(lambda scale: task_loss(logits * scale, labels, 'none'),
                                features, self.environments, steps=self.partition_steps,
                                lr=self.PARTITION_LR)

    def step(self, batch: Batch, decode, fairness_scale: float = 1.0) -> Dict[str, float]:
        logits = decode(batch.hidden)
        losses = task_loss(logits if batch.labelled is None else logits[batch.labelled],
                           batch.labels, reduction='none')
        risks = torch.cat([environment_risks(losses, assignment, self.environments)
                           for assignment in self.assignments])
        loss = invariance_loss(risks, self.mean_risk_weight)
        self._descend(self.optimizer, loss)
        return _floats(task_loss=losses.mean(), fairness_loss=risks.var())


def _node_logits(out: Tensor) -> Tensor:
    return out.view(-1) if out.dim() == 2 and out.size(1) == 1 else out


class Threshold(Strategy):
    """Post-processing: a vanilla model (trained and selected as ``vanilla``), then
    fairlearn's ``ThresholdOptimizer`` fitted on its validation scores — per-group,
    randomized thresholds that maximise validation accuracy with equal selection rates
    (``fairness='dp'``) or equal true-positive rates (``'eo'``) — decides every reported
    prediction.  Binary labels only (fairlearn's post-processing is binary)."""

    def __init__(self, model: Module, *, leader_lr: float = DEFAULTS['leader_lr'],
                 fairness: str = DEFAULTS['fairness'],
                 weight_decay: float = DEFAULTS['weight_decay'], shard: Optional[Shard] = None,
                 num_groups: Optional[int] = None) -> None:
        super().__init__(shard)
        if fairness not in POSTPROCESSING:
            raise ValueError(f'threshold post-processes toward {", ".join(POSTPROCESSING)}; '
                             f'train.fairness={fairness!r} is not one of them')
        self.optimizer = _adam(model.parameters(), leader_lr, weight_decay)
        self.fairness = fairness

    def step(self, batch: Batch, decode, fairness_scale: float = 1.0) -> Dict[str, float]:
        f = batch.task_loss(decode(batch.hidden))
        self._descend(self.optimizer, f)
        return _floats(task_loss=f)

    def decision(self, scores: Scores) -> Optional[Decision]:
        probs, labels, groups = scores('val')
        if probs.dim() == 2:
            raise ValueError('threshold post-processing is binary (fairlearn); these labels '
                             f'have {probs.size(1)} classes')
        # the randomized thresholds draw from the run's seeded generator
        seed = int(torch.randint(2**31 - 1, ()))
        return GroupThresholds(self.fairness, seed=seed).fit(probs, labels, groups)
