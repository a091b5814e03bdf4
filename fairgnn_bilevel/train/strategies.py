"""One optimisation step per strategy: the file where the leader's and the follower's updates live.

:meth:`Strategy.step` gets ``encode()`` (the encoder's rows, labels and groups, computed
once per step), ``decode(hidden)`` (rows → logits through the fairness block and head) and
the epoch's ``fairness_scale``; graph and table tasks differ only in these callables.  A
new strategy is a :class:`Strategy` whose keyword arguments are its hyperparameters (the
config's ``train`` keys), added to :data:`STRATEGIES`.  Its losses come from the batch
(``task_loss``, ``fairness_loss``, ``mean``, ...) and its optimiser steps go through
``batch.apply(optimizer)``: then the same code is exact in a data-parallel step, where the
batch makes each loss this rank's share and sums the gradients over ranks.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Type

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.func import functional_call
from torch.nn import Linear, Module, Parameter

from ..losses import covariance_loss, fairness_loss
from ..nn.fairness_block import follower_parameters, leader_parameters
from .distributed import Shard

__all__ = ['TrainBatch', 'Strategy', 'Vanilla', 'Lagrangian', 'FirstOrderBilevel',
           'UnrolledBilevel', 'Reference', 'FairGNN', 'STRATEGIES', 'METHODS', 'DEFAULTS',
           'make_strategy', 'hyperparameters', 'task_loss']

# The one set of default hyperparameters: the strategies' signatures, the config and the
# scikit-learn estimator all read them from here.
# (alpha and beta are FairGNN's defaults; its per-dataset scripts set others.)
DEFAULTS: Dict[str, Any] = dict(leader_lr=1e-2, follower_lr=1e-2, follower_step=1e-2,
                                eta=100.0, lam=1.0, follower_steps=1, fairness='dp',
                                weight_decay=1e-5, alpha=4.0, beta=0.01)


def _rows(values: Tensor, index: Optional[Tensor]) -> Tensor:
    return values if index is None else values[index]


@dataclass
class TrainBatch:
    """What one step trains on.

    Attributes:
        hidden: encoder rows (with grad) that the players decode.
        labels: labels of the labelled rows, ``hidden[labelled]``.
        groups: sensitive groups of the fairness rows, ``hidden[fair]`` (for
            :class:`FairGNN`, estimated probabilities of group 1).
        labelled, fair: row indices into ``hidden``; ``None`` means every row.  They
            differ when the fairness loss also looks at unlabelled nodes of known group.
        shard: this process's part in a data-parallel step (``None``: one process).  The
            losses are then this rank's shares of the union batch's losses (see
            :mod:`~fairgnn_bilevel.train.distributed`), which need ``num_labelled`` (the
            union batch's labelled rows) and ``num_groups`` (groups are ``0 .. g - 1``).
    """

    hidden: Tensor
    labels: Tensor
    groups: Tensor
    labelled: Optional[Tensor] = None
    fair: Optional[Tensor] = None
    shard: Optional[Shard] = None
    num_labelled: Optional[int] = None
    num_groups: Optional[int] = None

    def fair_rows(self, values: Tensor) -> Tensor:
        """The rows of ``values`` (aligned with ``hidden``) that the fairness terms see."""
        return _rows(values, self.fair)

    def task_loss(self, logits: Tensor) -> Tensor:
        """The task loss f on the labelled rows."""
        logits = _rows(logits, self.labelled)
        if self.shard is None:
            return task_loss(logits, self.labels)
        return F.binary_cross_entropy_with_logits(
            logits, self.labels.to(logits.dtype), reduction='sum') / self.num_labelled

    def fairness_loss(self, name: str, logits: Tensor) -> Tensor:
        """The fairness loss ``name`` on the fairness rows (``'eo'`` needs them labelled)."""
        if self.fair is not None and name != 'dp':
            raise ValueError(f'the {name!r} fairness loss needs labels, and the fairness rows '
                             "include unlabelled nodes; use fairness 'dp' or fairness_rows "
                             "'train'")
        if self.shard is None:
            return fairness_loss(name, self.fair_rows(logits), self.groups, self.labels)
        return fairness_loss(name, self.fair_rows(logits), self.groups, self.labels,
                             reduce=self.shard.sum,
                             num_groups=self.num_groups) / self.shard.world_size

    def mean(self, values: Tensor) -> Tensor:
        """The mean of per-row ``values`` over the batch (in a data-parallel step: this
        rank's share of the union batch's mean; its rows are the labelled rows)."""
        return values.mean() if self.shard is None else values.sum() / self.num_labelled

    def covariance_loss(self, logits: Tensor) -> Tensor:
        """FairGNN's |Cov(group score, σ(logit))| on the fairness rows."""
        if self.shard is None:
            return covariance_loss(self.fair_rows(logits), self.groups)
        return covariance_loss(self.fair_rows(logits), self.groups,
                               reduce=self.shard.sum) / self.shard.world_size

    def across_ranks(self, tensor: Tensor) -> Tensor:
        """``tensor`` summed over the ranks of a data-parallel step, differentiably."""
        return tensor if self.shard is None else self.shard.sum(tensor)

    def apply(self, optimizer: torch.optim.Optimizer) -> None:
        """``optimizer.step()`` on the gradients of the union batch (summed over ranks)."""
        if self.shard is not None:
            self.shard.sum_grads(p for group in optimizer.param_groups for p in group['params'])
        optimizer.step()


Encode = Callable[[], TrainBatch]
Decode = Callable[[Tensor], Tensor]


def task_loss(logits: Tensor, labels: Tensor) -> Tensor:
    """Binary cross-entropy on logits (the leader's objective f)."""
    return F.binary_cross_entropy_with_logits(logits, labels.to(logits.dtype))


def _adam(params: Sequence[Parameter], lr: float, weight_decay: float) -> torch.optim.Adam:
    return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay, fused=True)


def _set_grads(params: Sequence[Parameter], grads: Sequence[Tensor]) -> None:
    for param, grad in zip(params, grads):
        param.grad = grad


class Strategy:
    """Base: a strategy holds its optimisers; :meth:`step` performs one update.

    ``estimates_groups``: the strategy's fairness terms see estimated groups (the engine
    passes them as the batch's ``groups``) rather than the true ones.
    ``uses_representation``: the strategy reads the encoder rows themselves, so the model
    must expose its encoder (a :class:`~fairgnn_bilevel.nn.BilevelModel`).
    """

    estimates_groups = False
    uses_representation = False

    def step(self, encode: Encode, decode: Decode, fairness_scale: float = 1.0
             ) -> Dict[str, float]:
        """One update; returns the step's losses.  ``fairness_scale`` multiplies η or λ."""
        raise NotImplementedError


class Vanilla(Strategy):
    """Task loss only; every parameter (the fairness block's too) in one Adam."""

    def __init__(self, model: Module, *, leader_lr: float = DEFAULTS['leader_lr'],
                 weight_decay: float = DEFAULTS['weight_decay']) -> None:
        self.optimizer = _adam(list(model.parameters()), leader_lr, weight_decay)

    def _terms(self, logits: Tensor, batch: TrainBatch, scale: float) -> Dict[str, Tensor]:
        return {'task_loss': batch.task_loss(logits)}

    def step(self, encode: Encode, decode: Decode, fairness_scale: float = 1.0
             ) -> Dict[str, float]:
        batch = encode()
        terms = self._terms(decode(batch.hidden), batch, fairness_scale)
        self.optimizer.zero_grad(set_to_none=True)
        sum(terms.values()).backward()
        batch.apply(self.optimizer)
        return {name: float(value.detach()) for name, value in terms.items()}


class Lagrangian(Vanilla):
    r"""Minimise :math:`f + \lambda\,\phi` over all parameters with one optimiser."""

    def __init__(self, model: Module, *, leader_lr: float = DEFAULTS['leader_lr'],
                 lam: float = DEFAULTS['lam'], fairness: str = DEFAULTS['fairness'],
                 weight_decay: float = DEFAULTS['weight_decay']) -> None:
        super().__init__(model, leader_lr=leader_lr, weight_decay=weight_decay)
        self.lam, self.fairness = lam, fairness

    def _terms(self, logits: Tensor, batch: TrainBatch, scale: float) -> Dict[str, Tensor]:
        return {'task_loss': batch.task_loss(logits),
                'fairness_loss': scale * self.lam * batch.fairness_loss(self.fairness, logits)}


class _Bilevel(Strategy):
    r"""What both bilevel steps share: the follower (the model's fairness blocks) plays
    first on :math:`\eta\phi` with the leader's encoder rows fixed, then the leader
    (every other parameter) takes an Adam step (``leader_lr``, ``weight_decay``) on the
    task loss f alone, with the gradient :meth:`_play` returns.  ``follower_steps``
    follower steps per leader step; ``fairness`` names the loss φ (``'dp'`` or ``'eo'``).
    """

    def __init__(self, model: Module, *, leader_lr: float = DEFAULTS['leader_lr'],
                 eta: float = DEFAULTS['eta'], follower_steps: int = DEFAULTS['follower_steps'],
                 fairness: str = DEFAULTS['fairness'],
                 weight_decay: float = DEFAULTS['weight_decay']) -> None:
        if follower_steps < 1:
            raise ValueError(f'follower_steps must be >= 1, got {follower_steps}')
        self.follower = follower_parameters(model)  # raises, naming the model, without a block
        self.leader = leader_parameters(model)
        self.leader_optimizer = _adam(self.leader, leader_lr, weight_decay)
        self.eta, self.follower_steps, self.fairness = eta, follower_steps, fairness

    def _phi(self, logits: Tensor, batch: TrainBatch, scale: float) -> Tensor:
        return scale * self.eta * batch.fairness_loss(self.fairness, logits)

    def _play(self, batch: TrainBatch, decode: Decode, scale: float
              ) -> Tuple[Tensor, Tensor, Sequence[Tensor]]:
        """The follower's steps; returns (φ, f, the leader's gradient of f)."""
        raise NotImplementedError

    def step(self, encode: Encode, decode: Decode, fairness_scale: float = 1.0
             ) -> Dict[str, float]:
        batch = encode()
        phi, f, leader_grads = self._play(batch, decode, fairness_scale)
        _set_grads(self.leader, leader_grads)
        batch.apply(self.leader_optimizer)
        return {'task_loss': float(f.detach()), 'fairness_loss': float(phi.detach())}


class FirstOrderBilevel(_Bilevel):
    r"""The paper's Algorithm 1: the follower steps with its own Adam (``follower_lr``) on
    :math:`\eta\phi`, then the leader on :math:`\nabla_{\theta_p} f` at the follower's
    new point (no second-order terms).  Other arguments: see :class:`_Bilevel`.
    """

    def __init__(self, model: Module, *, follower_lr: float = DEFAULTS['follower_lr'],
                 **shared: Any) -> None:
        super().__init__(model, **shared)
        self.follower_optimizer = _adam(self.follower, follower_lr, 0.0)

    def _play(self, batch: TrainBatch, decode: Decode, scale: float
              ) -> Tuple[Tensor, Tensor, Sequence[Tensor]]:
        # The follower never moves the leader: its loss sees the encoder rows detached and
        # its gradient is taken with respect to the block's parameters only.
        hidden = batch.hidden.detach()
        for _ in range(self.follower_steps):
            phi = self._phi(decode(hidden), batch, scale)
            _set_grads(self.follower, torch.autograd.grad(phi, self.follower))
            batch.apply(self.follower_optimizer)
        f = batch.task_loss(decode(batch.hidden))
        return phi, f, torch.autograd.grad(f, self.leader, allow_unused=True)


class _Call(Module):
    """Lets ``functional_call`` substitute parameters of ``model`` inside any callable."""

    def __init__(self, model: Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, fn: Decode, hidden: Tensor) -> Tensor:
        return fn(hidden)


class UnrolledBilevel(_Bilevel):
    r"""The paper's methodology: the leader's gradient runs through the follower's response.

    :math:`\theta_s^{j+1} = \theta_s^j - \alpha_s \nabla_{\theta_s}\eta\phi(\theta_p,
    \theta_s^j)` for ``follower_steps`` plain gradient steps of size :math:`\alpha_s` =
    ``follower_step``, kept differentiable in :math:`\theta_p`; the leader steps on
    :math:`\nabla_{\theta_p} f(\theta_p, \theta_s^k(\theta_p))` and the block keeps
    :math:`\theta_s^k`.  Other arguments: see :class:`_Bilevel`.
    """

    def __init__(self, model: Module, *, follower_step: float = DEFAULTS['follower_step'],
                 **shared: Any) -> None:
        super().__init__(model, **shared)
        names = {id(p): name for name, p in model.named_parameters()}
        self.follower_names = [f'model.{names[id(p)]}' for p in self.follower]
        self.follower_step = follower_step
        self._call = _Call(model)

    def _decode_with(self, follower: Sequence[Tensor], decode: Decode, hidden: Tensor) -> Tensor:
        return functional_call(self._call, dict(zip(self.follower_names, follower)),
                               (decode, hidden))

    def _play(self, batch: TrainBatch, decode: Decode, scale: float
              ) -> Tuple[Tensor, Tensor, Sequence[Tensor]]:
        theta: List[Tensor] = list(self.follower)
        for _ in range(self.follower_steps):
            phi = self._phi(self._decode_with(theta, decode, batch.hidden), batch, scale)
            grads = torch.autograd.grad(phi, theta, create_graph=True)
            # every rank's follower takes the union batch's step, and the leader's
            # gradient flows back through every rank's part of it
            theta = [t - self.follower_step * batch.across_ranks(g)
                     for t, g in zip(theta, grads)]
        f = batch.task_loss(self._decode_with(theta, decode, batch.hidden))
        leader_grads = torch.autograd.grad(f, self.leader, allow_unused=True)
        with torch.no_grad():
            for param, value in zip(self.follower, theta):
                param.copy_(value)
        return phi, f, leader_grads


class Reference(Strategy):
    """The official FairBiNN code's update, reproduced on purpose for comparison.

    Each a defect of the official code: gradients are zeroed once per step, so the leader
    steps on ∇(f + η·φ) rather than ∇f; the fairness loss receives sigmoid(logits) where
    logits are expected, so the sigmoid is applied twice; and the follower takes one Adam
    step per leader step.  Pass ``follower_lr=1e-9`` to also mimic its hard-coded graph
    learning rate.  It takes no other options.
    """

    def __init__(self, model: Module, *, leader_lr: float = DEFAULTS['leader_lr'],
                 follower_lr: float = DEFAULTS['follower_lr'], eta: float = DEFAULTS['eta'],
                 fairness: str = DEFAULTS['fairness'],
                 weight_decay: float = DEFAULTS['weight_decay']) -> None:
        self.follower = follower_parameters(model)
        self.leader_optimizer = _adam(leader_parameters(model), leader_lr, weight_decay)
        self.follower_optimizer = _adam(self.follower, follower_lr, 0.0)
        self.eta, self.fairness = eta, fairness

    def step(self, encode: Encode, decode: Decode, fairness_scale: float = 1.0
             ) -> Dict[str, float]:
        batch = encode()
        self.leader_optimizer.zero_grad(set_to_none=True)
        self.follower_optimizer.zero_grad(set_to_none=True)
        phi = fairness_scale * self.eta * batch.fairness_loss(
            self.fairness, torch.sigmoid(decode(batch.hidden)))
        phi.backward(retain_graph=True)   # fills leader *and* follower gradients
        batch.apply(self.follower_optimizer)
        f = batch.task_loss(decode(batch.hidden))
        f.backward()                      # accumulates onto the fairness gradients
        batch.apply(self.leader_optimizer)
        return {'task_loss': float(f.detach()), 'fairness_loss': float(phi.detach())}


class FairGNN(Strategy):
    r"""FairGNN's adversarial debiasing (Dai & Wang, WSDM 2021) with its covariance term.

    Three players.  A sensitive-attribute estimator, trained beforehand on the few nodes
    whose group is known, gives every fairness row an estimated group probability
    :math:`\hat{s}` (the batch's ``groups``; the known nodes keep their true group).
    The classifier (every parameter of the model) then minimises

    .. math::
        f \;+\; \alpha\,\bigl|\operatorname{Cov}(\hat{s}, \sigma(z))\bigr|
        \;-\; \beta\,\mathrm{BCE}(a(h), \hat{s}),

    where :math:`h` are the encoder rows and :math:`a` is the adversary, a linear layer
    that the strategy owns; the adversary then takes its own Adam step on
    :math:`\mathrm{BCE}(a(h), \hat{s})` with :math:`h` detached.  Both optimisers use
    ``leader_lr`` and ``weight_decay``; the warm-up schedule scales α and β.
    """

    estimates_groups = uses_representation = True

    def __init__(self, model: Module, *, leader_lr: float = DEFAULTS['leader_lr'],
                 alpha: float = DEFAULTS['alpha'], beta: float = DEFAULTS['beta'],
                 weight_decay: float = DEFAULTS['weight_decay']) -> None:
        self.classifier = list(model.parameters())
        self.optimizer = _adam(self.classifier, leader_lr, weight_decay)
        self.alpha, self.beta = alpha, beta
        self.lr, self.weight_decay = leader_lr, weight_decay
        self.adversary: Optional[Linear] = None

    def _adversary(self, hidden: Tensor, shard: Optional[Shard] = None) -> Linear:
        # built at the first step, when the width of the encoder rows is known
        if self.adversary is None:
            self.adversary = Linear(hidden.size(-1), 1).to(hidden.device, hidden.dtype)
            if shard is not None:
                shard.broadcast(self.adversary)  # every rank starts from rank 0's
            self.adversary_optimizer = _adam(list(self.adversary.parameters()), self.lr,
                                             self.weight_decay)
        return self.adversary

    def step(self, encode: Encode, decode: Decode, fairness_scale: float = 1.0
             ) -> Dict[str, float]:
        batch = encode()
        logits = decode(batch.hidden)
        hidden = batch.fair_rows(batch.hidden)
        scores = batch.groups.to(hidden.dtype)
        adversary = self._adversary(hidden, batch.shard)
        f = batch.task_loss(logits)
        covariance = fairness_scale * self.alpha * batch.covariance_loss(logits)
        fooled = fairness_scale * self.beta * batch.mean(F.binary_cross_entropy_with_logits(
            adversary(hidden).view(-1), scores, reduction='none'))
        grads = torch.autograd.grad(f + covariance - fooled, self.classifier, allow_unused=True)
        _set_grads(self.classifier, grads)
        batch.apply(self.optimizer)
        adversary_loss = batch.mean(F.binary_cross_entropy_with_logits(
            adversary(hidden.detach()).view(-1), scores, reduction='none'))
        self.adversary_optimizer.zero_grad(set_to_none=True)
        adversary_loss.backward()
        batch.apply(self.adversary_optimizer)
        return {'task_loss': float(f.detach()), 'fairness_loss': float(covariance.detach()),
                'adversary_loss': float(adversary_loss.detach())}


STRATEGIES: Dict[str, Type[Strategy]] = {
    'vanilla': Vanilla,
    'lagrangian': Lagrangian,
    'bilevel': UnrolledBilevel,
    'bilevel_first_order': FirstOrderBilevel,
    'reference': Reference,
    'fairgnn': FairGNN,
}
METHODS: Tuple[str, ...] = tuple(STRATEGIES)


def hyperparameters(method: str) -> Tuple[str, ...]:
    """The hyperparameters (keyword arguments) that strategy ``method`` takes, its own and
    those its bases take through ``**shared``."""
    names = []
    for cls in STRATEGIES[method].__mro__:
        if '__init__' in vars(cls):
            parameters = inspect.signature(cls.__init__).parameters.values()
            names += [p.name for p in parameters if p.kind is inspect.Parameter.KEYWORD_ONLY]
            if all(p.kind is not inspect.Parameter.VAR_KEYWORD for p in parameters):
                break
    return tuple(names)


def make_strategy(method: str, model: Module, **options: Any) -> Strategy:
    """The strategy called ``method``, given the ``options`` it takes; options of other
    strategies are left out, so one set of settings serves every method."""
    if method not in STRATEGIES:
        raise ValueError(f'unknown method {method!r}; use one of {", ".join(METHODS)}')
    taken = hyperparameters(method)
    return STRATEGIES[method](model, **{k: v for k, v in options.items() if k in taken})
