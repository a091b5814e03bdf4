"""The runner's strategies: one optimisation step per method, composed of the core pieces.

The follower's moves live in :mod:`~fairgnn_bilevel.followers` and the fairness losses in
:mod:`~fairgnn_bilevel.losses`; a strategy holds them and the leader's optimiser, and
:meth:`Strategy.step` plays one step on a :class:`Batch`.  A new strategy is a
:class:`Strategy` whose keyword arguments are its hyperparameters (the config's ``train``
keys), added to :data:`STRATEGIES`.  Data parallel (``shard``): the losses reduce their
group statistics over processes through the core's reduction hook, each process's task loss
is its share of the union batch's, and :meth:`Strategy._descend` averages the gradients
over processes before the optimiser steps.
"""
from __future__ import annotations

import functools
import inspect
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Dict, Optional, Tuple, Type

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.nn import Linear, Module

from ..bound import FairnessBound
from ..followers import (Decode, FirstOrderFollower, Follower, UnrolledFollower,
                         leader_gradients_averaged)
from ..losses import CovarianceLoss, FairnessLoss, make_fairness_loss, probabilities
from ..nn.fairness_block import follower_parameters, leader_parameters
from .distributed import Shard

if TYPE_CHECKING:
    import numpy as np
    from torch_geometric.data import Data

__all__ = ['Batch', 'Strategy', 'Vanilla', 'Lagrangian', 'FirstOrderBilevel',
           'UnrolledBilevel', 'Reference', 'FairGNN', 'STRATEGIES', 'METHODS', 'DEFAULTS',
           'make_strategy', 'hyperparameters', 'task_loss', 'reads', 'bounded', 'Scores',
           'Decision']

# The one set of default hyperparameters: the strategies' signatures, the config and the
# scikit-learn estimator all read them from here.
# (alpha and beta are FairGNN's defaults; its per-dataset scripts set others.  The
# baselines' are their authors' published settings: see fairgnn_bilevel/train/baselines.py.)
DEFAULTS: Dict[str, Any] = dict(leader_lr=1e-2, follower_lr=1e-2, follower_step_size=1e-2,
                                eta=100.0, lam=1.0, follower_steps=1, fairness='dp',
                                weight_decay=1e-5, alpha=4.0, beta=0.01, dual_lr=0.2,
                                adversary_weight=1.0, mask_ratio=0.5, clip=0.1, delta=1.0,
                                mean_risk_weight=1.0, environments=2, partitions=3,
                                reference_epochs=500, partition_steps=500,
                                neutralizer_steps=500)

# A split's (probabilities, labels, groups) of the selected model, for post-processing.
Scores = Callable[[str], Tuple[Tensor, Tensor, Tensor]]
# Hard predictions of rows from their (probabilities, groups).
Decision = Callable[[Tensor, Tensor], 'np.ndarray']


def _rows(values: Tensor, index: Optional[Tensor]) -> Tensor:
    return values if index is None else values[index]


def task_loss(logits: Tensor, labels: Tensor, reduction: str = 'mean') -> Tensor:
    """The leader's objective f: binary cross-entropy on one logit per row, cross-entropy
    on ``C`` logits per row (labels ``0 .. C-1``)."""
    if logits.dim() == 2 and logits.size(1) > 1:
        return F.cross_entropy(logits, labels.long(), reduction=reduction)
    return F.binary_cross_entropy_with_logits(logits, labels.to(logits.dtype),
                                              reduction=reduction)


@dataclass
class Batch:
    """What one step trains on.

    Attributes:
        hidden: rows (with grad) that the players decode: encoder rows, or a model's input.
        labels: labels of the labelled rows, ``hidden[labelled]``.
        groups: sensitive groups of the fairness rows, ``hidden[fair]``.
        labelled, fair: row indices into ``hidden``; ``None`` means every row.  They
            differ when the fairness loss also looks at unlabelled nodes of known group.
        nodes: the graph's node ids of the fairness rows (for per-node inputs such as
            FairGNN's estimated groups); ``None`` for tables.
        total: in a data-parallel step, the union batch's labelled rows; each process's
            task loss is then its share, scaled for gradients averaged over ``processes``.
    """

    hidden: Tensor
    labels: Tensor
    groups: Tensor
    labelled: Optional[Tensor] = None
    fair: Optional[Tensor] = None
    nodes: Optional[Tensor] = None
    total: Optional[int] = None
    processes: int = 1

    def fair_rows(self, values: Tensor) -> Tensor:
        """The rows of ``values`` (aligned with ``hidden``) that the fairness terms see."""
        return _rows(values, self.fair)

    @property
    def fair_labels(self) -> Optional[Tensor]:
        """Labels of the fairness rows, when they are the labelled rows."""
        return self.labels if self.fair is None else None

    def mean(self, values: Tensor) -> Tensor:
        """Mean of per-row ``values`` of the labelled rows over the batch (data parallel:
        this process's share, scaled for averaged gradients)."""
        if self.total is None:
            return values.mean()
        return values.sum() * (self.processes / self.total)

    def task_loss(self, logits: Tensor) -> Tensor:
        """The task loss f on the labelled rows."""
        logits = _rows(logits, self.labelled)
        if self.total is None:
            return task_loss(logits, self.labels)
        return self.mean(task_loss(logits, self.labels, reduction='none'))


def _adam(params, lr: float, weight_decay: float) -> torch.optim.Adam:
    return torch.optim.Adam(list(params), lr=lr, weight_decay=weight_decay, fused=True)


class Strategy:
    """Base: a strategy holds its players and optimisers; :meth:`step` performs one update.

    ``needs_group_scores``: the strategy takes ``scores``, an estimated group probability
    per node, which the engine computes (FairGNN).  ``uses_representation``: it reads the
    encoder rows themselves, so the model must expose its encoder.
    """

    needs_group_scores = False
    uses_representation = False
    # needs_graph: the strategy takes ``data``, the whole graph (a full-graph method that
    # fits pieces of its own on it before the first step)
    needs_graph = False

    @classmethod
    def adapt(cls, model: Module, data: 'Data') -> Module:
        """The model this strategy trains, from the one it is given, before any task reads
        it: a method that learns a layer in front of the encoder puts it there (in place)."""
        return model

    def decision(self, scores: Scores) -> Optional[Decision]:
        """How the selected model's probabilities become the reported predictions: ``None``
        (every method but post-processing) thresholds at 0.5 (the most probable class);
        ``scores(split)`` gives the selected model's probabilities of a split."""
        return None

    def __init__(self, shard: Optional[Shard] = None) -> None:
        self.shard = shard if shard is not None and shard.distributed else None
        self.reduce = None if self.shard is None else self.shard.sum

    bound: Optional[FairnessBound] = None

    def _fairness(self, name: str, num_groups: Optional[int]):
        return make_fairness_loss(name, reduce=self.reduce, num_groups=num_groups)

    def _bound(self, loss: FairnessLoss, max_gap: Optional[float], dual_lr: float,
               scale: float, max_multiplier: Optional[float] = None
               ) -> Optional[FairnessBound]:
        """The bound ``gap ≤ max_gap`` on ``loss``'s criterion whose multiplier scales the
        fairness weight (``None``: no bound, the weight stays ``scale``)."""
        if max_gap is None:
            return None
        return FairnessBound(loss, max_gap, dual_lr=dual_lr, scale=scale,
                             max_multiplier=max_multiplier)

    def end_epoch(self) -> Dict[str, float]:
        """Called once after each epoch's steps: a bound's multiplier moves on the epoch's
        hard gap (returned as ``train_gap``, with the new ``fairness_weight``)."""
        if self.bound is None:
            return {}
        gap = self.bound.step()
        return {'train_gap': gap, 'fairness_weight': self.bound.weight}

    def _apply(self, optimizer: torch.optim.Optimizer) -> None:
        """``optimizer.step()`` on the gradients averaged over processes."""
        if self.shard is not None:
            self.shard.average_grads(p for g in optimizer.param_groups for p in g['params'])
        optimizer.step()

    def _descend(self, optimizer: torch.optim.Optimizer, loss: Tensor) -> None:
        """``optimizer`` steps on the gradient of ``loss``."""
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self._apply(optimizer)

    def step(self, batch: Batch, decode: Decode, fairness_scale: float = 1.0
             ) -> Dict[str, float]:
        """One update; returns the step's losses.  ``fairness_scale`` multiplies η or λ."""
        raise NotImplementedError

    def release(self) -> None:
        """Hand back what the strategy took from the model (a follower's parameters)."""


def _floats(**losses: Tensor) -> Dict[str, float]:
    return {name: float(value.detach()) for name, value in losses.items()}


class Vanilla(Strategy):
    """Task loss only; every parameter (the fairness block's too) in one Adam."""

    def __init__(self, model: Module, *, leader_lr: float = DEFAULTS['leader_lr'],
                 weight_decay: float = DEFAULTS['weight_decay'], shard: Optional[Shard] = None,
                 num_groups: Optional[int] = None) -> None:
        super().__init__(shard)
        self.optimizer = _adam(model.parameters(), leader_lr, weight_decay)

    def step(self, batch: Batch, decode: Decode, fairness_scale: float = 1.0
             ) -> Dict[str, float]:
        f = batch.task_loss(decode(batch.hidden))
        self._descend(self.optimizer, f)
        return _floats(task_loss=f)


class Lagrangian(Strategy):
    r"""Minimise :math:`f + \lambda\,\phi` over all parameters with one Adam.

    With ``max_gap`` (a bound on the hard gap of ``fairness``), :math:`\lambda` is ``lam``
    times a Lagrange multiplier that :class:`~fairgnn_bilevel.bound.FairnessBound` raises
    while the epoch's gap exceeds the bound and lowers while it holds (step ``dual_lr``)."""

    def __init__(self, model: Module, *, leader_lr: float = DEFAULTS['leader_lr'],
                 lam: float = DEFAULTS['lam'], fairness: str = DEFAULTS['fairness'],
                 weight_decay: float = DEFAULTS['weight_decay'],
                 dual_lr: float = DEFAULTS['dual_lr'], shard: Optional[Shard] = None,
                 num_groups: Optional[int] = None, max_gap: Optional[float] = None) -> None:
        super().__init__(shard)
        self.optimizer = _adam(model.parameters(), leader_lr, weight_decay)
        self.lam, self.loss = lam, self._fairness(fairness, num_groups)
        self.bound = self._bound(self.loss, max_gap, dual_lr, lam)

    def step(self, batch: Batch, decode: Decode, fairness_scale: float = 1.0
             ) -> Dict[str, float]:
        logits = decode(batch.hidden)
        f = batch.task_loss(logits)
        fair = (batch.fair_rows(logits), batch.groups, batch.fair_labels)
        if self.bound is None:
            phi = fairness_scale * self.lam * self.loss(*fair)
        else:
            phi = fairness_scale * self.bound(*fair)
        self._descend(self.optimizer, f + phi)
        return _floats(task_loss=f, fairness_loss=phi)


class UnrolledBilevel(Strategy):
    r"""The leader (every parameter outside the fairness blocks, Adam with ``leader_lr``
    and ``weight_decay``) steps on the task loss at the follower's response, here an
    :class:`~fairgnn_bilevel.followers.UnrolledFollower` of ``follower_steps`` plain
    gradient steps of size ``follower_step_size`` on :math:`\eta\phi` (``fairness``).

    With ``max_gap`` (a bound on the hard gap of ``fairness``), the follower's weight is
    ``eta`` times a Lagrange multiplier in ``[0, 1]``:
    :class:`~fairgnn_bilevel.bound.FairnessBound` lowers it while the epoch's gap is within
    the bound and raises it back, up to ``eta``, while the gap exceeds it (step
    ``dual_lr``).  ``eta`` is the ceiling because the follower's plain gradient step grows
    with its weight: past the size at which gradient descent on φ is stable, the block
    diverges and the model collapses to near-constant predictions."""

    def __init__(self, model: Module, *, leader_lr: float = DEFAULTS['leader_lr'],
                 follower_step_size: float = DEFAULTS['follower_step_size'],
                 eta: float = DEFAULTS['eta'], follower_steps: int = DEFAULTS['follower_steps'],
                 fairness: str = DEFAULTS['fairness'],
                 weight_decay: float = DEFAULTS['weight_decay'],
                 dual_lr: float = DEFAULTS['dual_lr'], shard: Optional[Shard] = None,
                 num_groups: Optional[int] = None, max_gap: Optional[float] = None) -> None:
        super().__init__(shard)
        self._lead(model, functools.partial(UnrolledFollower, eta=eta,
                                            step_size=follower_step_size,
                                            steps=follower_steps),
                   fairness, num_groups, leader_lr, weight_decay, max_gap, dual_lr)

    def _lead(self, model: Module, follower: Callable[[Module, FairnessLoss], Follower],
              fairness: str, num_groups: Optional[int], leader_lr: float,
              weight_decay: float, max_gap: Optional[float] = None,
              dual_lr: float = DEFAULTS['dual_lr']) -> None:
        """Build the follower (on the model's FairnessBlocks, by which the runner finds
        it), its bound and the leader's optimiser; a failure leaves the block trainable."""
        follower_parameters(model)  # refuses, naming the model, without a block
        self.follower = follower(model, self._fairness(fairness, num_groups))
        try:
            self.bound = self._bound(self.follower.loss, max_gap, dual_lr, self.follower.eta,
                                     max_multiplier=1.0)
            self.leader_optimizer = _adam(leader_parameters(model), leader_lr, weight_decay)
        except BaseException:  # never leave the block frozen
            self.follower.release()
            raise

    def release(self) -> None:
        self.follower.release()

    def step(self, batch: Batch, decode: Decode, fairness_scale: float = 1.0
             ) -> Dict[str, float]:
        if self.bound is not None:
            self.follower.eta = self.bound.weight
        with leader_gradients_averaged():  # _descend averages over processes itself
            logits = self.follower.respond(batch.hidden, decode, batch.groups,
                                           batch.fair_labels, rows=batch.fair,
                                           scale=fairness_scale)
        if self.bound is not None:
            self.bound.observe(batch.fair_rows(logits), batch.groups, batch.fair_labels)
        f = batch.task_loss(logits)
        self._descend(self.leader_optimizer, f)
        return _floats(task_loss=f, fairness_loss=self.follower.last_loss)


class FirstOrderBilevel(UnrolledBilevel):
    r"""The paper's Algorithm 1: the follower is a
    :class:`~fairgnn_bilevel.followers.FirstOrderFollower` (Adam, rate ``follower_lr``);
    the leader then steps on the task loss at its new point.  Other arguments: see
    :class:`UnrolledBilevel`."""

    def __init__(self, model: Module, *, leader_lr: float = DEFAULTS['leader_lr'],
                 follower_lr: float = DEFAULTS['follower_lr'], eta: float = DEFAULTS['eta'],
                 follower_steps: int = DEFAULTS['follower_steps'],
                 fairness: str = DEFAULTS['fairness'],
                 weight_decay: float = DEFAULTS['weight_decay'], shard: Optional[Shard] = None,
                 num_groups: Optional[int] = None) -> None:
        Strategy.__init__(self, shard)
        # fused: the runner's Adam everywhere (recorded runs stay bit-identical).  No bound:
        # Adam's step ignores the scale of η·φ, so a multiplier on η could not move it.
        self._lead(model, functools.partial(FirstOrderFollower, eta=eta, lr=follower_lr,
                                            steps=follower_steps, fused=True),
                   fairness, num_groups, leader_lr, weight_decay)


class Reference(Strategy):
    """The official FairBiNN code's update, reproduced on purpose for comparison.

    Each a defect of the official code: gradients are zeroed once per step, so the leader
    steps on ∇(f + η·φ) rather than ∇f; the fairness loss receives sigmoid(logits) where
    logits are expected, so the sigmoid is applied twice (with several classes: the
    softmax); and the follower takes one Adam
    step per leader step.  Pass ``follower_lr=1e-9`` to also mimic its hard-coded graph
    learning rate.  It takes no other options.
    """

    def __init__(self, model: Module, *, leader_lr: float = DEFAULTS['leader_lr'],
                 follower_lr: float = DEFAULTS['follower_lr'], eta: float = DEFAULTS['eta'],
                 fairness: str = DEFAULTS['fairness'],
                 weight_decay: float = DEFAULTS['weight_decay'], shard: Optional[Shard] = None,
                 num_groups: Optional[int] = None) -> None:
        super().__init__(shard)
        self.leader_optimizer = _adam(leader_parameters(model), leader_lr, weight_decay)
        self.follower_optimizer = _adam(follower_parameters(model), follower_lr, 0.0)
        self.eta, self.loss = eta, self._fairness(fairness, num_groups)

    def step(self, batch: Batch, decode: Decode, fairness_scale: float = 1.0
             ) -> Dict[str, float]:
        self.leader_optimizer.zero_grad(set_to_none=True)
        self.follower_optimizer.zero_grad(set_to_none=True)
        probs = probabilities(decode(batch.hidden))
        phi = fairness_scale * self.eta * self.loss(batch.fair_rows(probs), batch.groups,
                                                    batch.fair_labels)
        phi.backward(retain_graph=True)   # fills leader *and* follower gradients
        self._apply(self.follower_optimizer)
        f = batch.task_loss(decode(batch.hidden))
        f.backward()                      # accumulates onto the fairness gradients
        self._apply(self.leader_optimizer)
        return _floats(task_loss=f, fairness_loss=phi)


class FairGNN(Strategy):
    r"""FairGNN's adversarial debiasing (Dai & Wang, WSDM 2021) with its covariance term.

    Three players.  A sensitive-attribute estimator, trained beforehand on the few nodes
    whose group is known, gives every node an estimated group probability
    :math:`\hat{s}` (``scores``; the known nodes keep their true group).  The classifier
    (every parameter of the model) then minimises

    .. math::
        f \;+\; \alpha\,\bigl|\operatorname{Cov}(\hat{s}, \sigma(z))\bigr|
        \;-\; \beta\,\mathrm{BCE}(a(h), \hat{s}),

    where :math:`h` are the encoder rows and :math:`a` is the adversary, a linear layer
    that the strategy owns; the adversary then takes its own Adam step on
    :math:`\mathrm{BCE}(a(h), \hat{s})` with :math:`h` detached.  Both optimisers use
    ``leader_lr`` and ``weight_decay``; the warm-up schedule scales α and β.
    """

    needs_group_scores = uses_representation = True

    def __init__(self, model: Module, *, scores: Tensor,
                 leader_lr: float = DEFAULTS['leader_lr'], alpha: float = DEFAULTS['alpha'],
                 beta: float = DEFAULTS['beta'], weight_decay: float = DEFAULTS['weight_decay'],
                 shard: Optional[Shard] = None, num_groups: Optional[int] = None) -> None:
        super().__init__(shard)
        self.optimizer = _adam(model.parameters(), leader_lr, weight_decay)
        self.scores, self.alpha, self.beta = scores, alpha, beta
        self.covariance = CovarianceLoss(reduce=self.reduce)
        self.lr, self.weight_decay = leader_lr, weight_decay
        self.adversary: Optional[Linear] = None

    def _adversary(self, hidden: Tensor) -> Linear:
        # built at the first step, when the width of the encoder rows is known
        if self.adversary is None:
            self.adversary = Linear(hidden.size(-1), 1).to(hidden.device, hidden.dtype)
            if self.shard is not None:
                self.shard.broadcast(self.adversary)  # every process starts from rank 0's
            self.adversary_optimizer = _adam(self.adversary.parameters(), self.lr,
                                             self.weight_decay)
        return self.adversary

    def step(self, batch: Batch, decode: Decode, fairness_scale: float = 1.0
             ) -> Dict[str, float]:
        logits = decode(batch.hidden)
        hidden = batch.fair_rows(batch.hidden)
        scores = self.scores[batch.nodes].to(hidden.dtype)
        adversary = self._adversary(hidden)
        f = batch.task_loss(logits)
        covariance = fairness_scale * self.alpha * self.covariance(batch.fair_rows(logits),
                                                                   scores)
        fooled = fairness_scale * self.beta * batch.mean(F.binary_cross_entropy_with_logits(
            adversary(hidden).view(-1), scores, reduction='none'))
        self._descend(self.optimizer, f + covariance - fooled)
        adversary_loss = batch.mean(F.binary_cross_entropy_with_logits(
            adversary(hidden.detach()).view(-1), scores, reduction='none'))
        self._descend(self.adversary_optimizer, adversary_loss)
        return _floats(task_loss=f, fairness_loss=covariance, adversary_loss=adversary_loss)


STRATEGIES: Dict[str, Type[Strategy]] = {
    'vanilla': Vanilla,
    'lagrangian': Lagrangian,
    'bilevel': UnrolledBilevel,
    'bilevel_first_order': FirstOrderBilevel,
    'reference': Reference,
    'fairgnn': FairGNN,
}
# the baselines subclass Strategy, so they register once it exists
from .baselines import FairINV, FairSIN, FairVGNN, Threshold  # noqa: E402

STRATEGIES.update(fairvgnn=FairVGNN, fairsin=FairSIN, fairinv=FairINV, threshold=Threshold)
METHODS: Tuple[str, ...] = tuple(STRATEGIES)
# given by the runner, not hyperparameters (max_gap: from the bound train.max_dp / max_eo)
_PLUMBING = ('shard', 'num_groups', 'scores', 'max_gap', 'data')


def hyperparameters(method: str) -> Tuple[str, ...]:
    """The hyperparameters (keyword arguments) that strategy ``method`` takes."""
    parameters = inspect.signature(STRATEGIES[method].__init__).parameters.values()
    return tuple(p.name for p in parameters
                 if p.kind is inspect.Parameter.KEYWORD_ONLY and p.name not in _PLUMBING)


def reads(name: str) -> Tuple[str, ...]:
    """The methods whose strategy takes hyperparameter ``name``."""
    return tuple(m for m in METHODS if name in hyperparameters(m))


def bounded(method: str) -> bool:
    """Whether strategy ``method`` can train toward a bound on its fairness gap."""
    return 'max_gap' in inspect.signature(STRATEGIES[method].__init__).parameters


def make_strategy(method: str, model: Module, *, shard: Optional[Shard] = None,
                  num_groups: Optional[int] = None, scores: Optional[Tensor] = None,
                  max_gap: Optional[float] = None, data: Optional['Data'] = None,
                  **options: Any) -> Strategy:
    """The strategy called ``method``, given the ``options`` it takes; options of other
    strategies are left out, so one set of settings serves every method.  ``max_gap``:
    train toward that bound on the fairness gap (methods where :func:`bounded`); ``data``:
    the graph, for the methods that need it (``needs_graph``)."""
    if method not in STRATEGIES:
        raise ValueError(f'unknown method {method!r}; use one of {", ".join(METHODS)}')
    cls = STRATEGIES[method]
    taken = {k: v for k, v in options.items() if k in hyperparameters(method)}
    if max_gap is not None:
        if not bounded(method):
            raise ValueError(f'method {method!r} cannot train toward a bound on the fairness '
                             'gap; use lagrangian or bilevel')
        taken['max_gap'] = max_gap
    if cls.needs_group_scores:
        if scores is None:
            raise ValueError(f'method {method!r} needs scores: an estimated group '
                             'probability per node')
        taken['scores'] = scores
    if cls.needs_graph:
        if data is None:
            raise ValueError(f'method {method!r} fits pieces of its own on the whole graph: '
                             'pass data=')
        taken['data'] = data
    return cls(model, shard=shard, num_groups=num_groups, **taken)
