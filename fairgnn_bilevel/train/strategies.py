"""One optimisation step per strategy; the same code trains graphs and tables.

A strategy receives ``encode()``, which returns a :class:`TrainBatch` (the encoder's rows
for the loss, computed once per step, plus labels and groups), and ``decode(hidden)``,
which maps those rows to logits through the fairness block and head.  Graph and tabular
loops differ only in how they build these two callables.

Strategies:

* :class:`Vanilla` — task loss only, one optimiser over every parameter.
* :class:`Lagrangian` — task loss + λ · fairness loss, one optimiser.
* :class:`Bilevel` — the Stackelberg game of FairBiNN.  The follower (fairness block)
  takes ``follower_steps`` steps on η · fairness loss with its own optimiser; then the
  leader (everything else) steps on the task loss alone.  ``hypergradient='first_order'``
  is the paper's Algorithm 1 (no second-order terms); ``'unrolled'`` differentiates the
  task loss through the follower's unrolled steps (the paper's methodology section).
* :class:`Reference` — the official FairBiNN code's behaviour, for comparison only: one
  ``zero_grad`` per step, so the leader's step also carries η · ∇(fairness loss), and the
  sigmoid applied twice on the fairness path.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Dict, List, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.func import functional_call
from torch.nn import Module, Parameter

from ..losses import fairness_loss
from ..nn.fairness_block import follower_parameters, leader_parameters

__all__ = ['TrainBatch', 'Strategy', 'Vanilla', 'Lagrangian', 'Bilevel', 'Reference',
           'make_strategy', 'METHODS']

METHODS = ('vanilla', 'lagrangian', 'bilevel', 'reference')


@dataclass
class TrainBatch:
    """What one step trains on: encoder rows (with grad), labels and sensitive groups."""

    hidden: Tensor
    labels: Tensor
    groups: Tensor


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
    """Base: holds the model and its optimisers; ``step`` performs one update.

    ``fairness_scale`` multiplies the fairness weight (λ or η); the loop sets it each epoch
    to schedule the weight (see ``run_epochs(fairness_warmup=...)``).
    """

    fairness_scale: float = 1.0

    def __init__(self, model: Module) -> None:
        self.model = model

    def step(self, encode: Encode, decode: Decode) -> Dict[str, float]:
        raise NotImplementedError

    def optimizers(self) -> List[torch.optim.Optimizer]:
        raise NotImplementedError

    def state_dict(self) -> dict:
        return {'optimizers': [opt.state_dict() for opt in self.optimizers()]}

    def load_state_dict(self, state: dict) -> None:
        for opt, opt_state in zip(self.optimizers(), state['optimizers']):
            opt.load_state_dict(opt_state)


class Vanilla(Strategy):
    """Task loss only; every parameter (the fairness block's too) in one Adam."""

    def __init__(self, model: Module, *, lr: float, weight_decay: float = 0.0) -> None:
        super().__init__(model)
        self.optimizer = _adam(list(model.parameters()), lr, weight_decay)

    def optimizers(self) -> List[torch.optim.Optimizer]:
        return [self.optimizer]

    def _objective(self, logits: Tensor, batch: TrainBatch) -> Dict[str, Tensor]:
        return {'task_loss': task_loss(logits, batch.labels)}

    def step(self, encode: Encode, decode: Decode) -> Dict[str, float]:
        batch = encode()
        terms = self._objective(decode(batch.hidden), batch)
        self.optimizer.zero_grad(set_to_none=True)
        sum(terms.values()).backward()
        self.optimizer.step()
        return {name: float(value.detach()) for name, value in terms.items()}


class Lagrangian(Vanilla):
    r"""Minimise :math:`f + \lambda\,\phi` over all parameters with one optimiser."""

    def __init__(self, model: Module, *, lr: float, lam: float, fairness: str = 'dp',
                 weight_decay: float = 0.0) -> None:
        super().__init__(model, lr=lr, weight_decay=weight_decay)
        self.lam, self.fairness = lam, fairness

    def _objective(self, logits: Tensor, batch: TrainBatch) -> Dict[str, Tensor]:
        return {'task_loss': task_loss(logits, batch.labels),
                'fairness_loss': self.fairness_scale * self.lam * fairness_loss(self.fairness, logits, batch.groups,
                                                          batch.labels)}


class _Call(Module):
    """Lets ``functional_call`` substitute parameters of ``model`` inside any callable."""

    def __init__(self, model: Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, fn: Decode, hidden: Tensor) -> Tensor:
        return fn(hidden)


class Bilevel(Strategy):
    r"""FairBiNN's Stackelberg step: follower first on :math:`\eta\phi`, then leader on f.

    Args:
        model: any module containing a :class:`~fairgnn_bilevel.nn.FairnessBlock`.
        leader_lr: Adam learning rate of the leader (encoder and head).
        follower_lr: learning rate of the follower (Adam for ``'first_order'``; the step
            size of the differentiable gradient steps for ``'unrolled'``).
        eta: weight η of the fairness loss in the follower's objective.
        follower_steps: follower updates per leader update.
        hypergradient: ``'first_order'`` or ``'unrolled'``.
        fairness: fairness loss, ``'dp'`` or ``'eo'``.
    """

    def __init__(self, model: Module, *, leader_lr: float, follower_lr: float, eta: float,
                 follower_steps: int = 1, hypergradient: str = 'first_order',
                 fairness: str = 'dp', weight_decay: float = 0.0) -> None:
        super().__init__(model)
        if hypergradient not in ('first_order', 'unrolled'):
            raise ValueError(f"hypergradient must be 'first_order' or 'unrolled', "
                             f'got {hypergradient!r}')
        if follower_steps < 1:
            raise ValueError(f'follower_steps must be >= 1, got {follower_steps}')
        self.follower = follower_parameters(model)  # raises, naming the model, without a block
        self.leader = leader_parameters(model)
        names = {id(p): name for name, p in model.named_parameters()}
        self.follower_names = [names[id(p)] for p in self.follower]
        self.leader_optimizer = _adam(self.leader, leader_lr, weight_decay)
        self.follower_optimizer = _adam(self.follower, follower_lr, 0.0)
        self.follower_lr, self.eta, self.follower_steps = follower_lr, eta, follower_steps
        self.hypergradient, self.fairness = hypergradient, fairness
        self._call = _Call(model)

    def optimizers(self) -> List[torch.optim.Optimizer]:
        return [self.leader_optimizer, self.follower_optimizer]

    def _phi(self, logits: Tensor, batch: TrainBatch) -> Tensor:
        weight = self.fairness_scale * self.eta
        return weight * fairness_loss(self.fairness, logits, batch.groups, batch.labels)

    def _decode_with(self, follower: Sequence[Tensor], decode: Decode, hidden: Tensor) -> Tensor:
        params = {f'model.{name}': value for name, value in zip(self.follower_names, follower)}
        return functional_call(self._call, params, (decode, hidden))

    def step(self, encode: Encode, decode: Decode) -> Dict[str, float]:
        batch = encode()
        if self.hypergradient == 'first_order':
            phi = self._follower_first_order(batch, decode)
            f = task_loss(decode(batch.hidden), batch.labels)
            leader_grads = torch.autograd.grad(f, self.leader, allow_unused=True)
        else:
            phi, f, leader_grads = self._unrolled(batch, decode)
        _set_grads(self.leader, leader_grads)
        self.leader_optimizer.step()
        return {'task_loss': float(f.detach()), 'fairness_loss': float(phi.detach())}

    def _follower_first_order(self, batch: TrainBatch, decode: Decode) -> Tensor:
        # The follower never moves the leader: its loss sees the encoder rows detached and
        # its gradient is taken with respect to the block's parameters only.
        hidden = batch.hidden.detach()
        for _ in range(self.follower_steps):
            phi = self._phi(decode(hidden), batch)
            _set_grads(self.follower, torch.autograd.grad(phi, self.follower))
            self.follower_optimizer.step()
        return phi

    def _unrolled(self, batch: TrainBatch, decode: Decode):
        # theta_{j+1} = theta_j - alpha * grad phi(theta_p, theta_j), kept differentiable in
        # theta_p, so grad f(theta_p, theta_k(theta_p)) includes the follower's response.
        theta: List[Tensor] = list(self.follower)
        for _ in range(self.follower_steps):
            phi = self._phi(self._decode_with(theta, decode, batch.hidden), batch)
            grads = torch.autograd.grad(phi, theta, create_graph=True)
            theta = [t - self.follower_lr * g for t, g in zip(theta, grads)]
        f = task_loss(self._decode_with(theta, decode, batch.hidden), batch.labels)
        leader_grads = torch.autograd.grad(f, self.leader, allow_unused=True)
        with torch.no_grad():
            for param, value in zip(self.follower, theta):
                param.copy_(value)
        return phi, f, leader_grads


class Reference(Bilevel):
    """The official FairBiNN code's update, reproduced on purpose for comparison.

    Differences from :class:`Bilevel` (each a defect of the official code): gradients are
    zeroed once per step, so the leader steps on ∇(f + η·φ) rather than ∇f; and the
    fairness loss receives sigmoid(logits) where logits are expected, so the sigmoid is
    applied twice.  Set ``follower_lr=1e-9`` to also mimic its hard-coded graph learning rate.
    """

    def step(self, encode: Encode, decode: Decode) -> Dict[str, float]:
        batch = encode()  # one follower step per leader step, as the official code does
        self.leader_optimizer.zero_grad(set_to_none=True)
        self.follower_optimizer.zero_grad(set_to_none=True)
        phi = self._phi(torch.sigmoid(decode(batch.hidden)), batch)
        phi.backward(retain_graph=True)   # fills leader *and* follower gradients
        self.follower_optimizer.step()
        f = task_loss(decode(batch.hidden), batch.labels)
        f.backward()                      # accumulates onto the fairness gradients
        self.leader_optimizer.step()
        return {'task_loss': float(f.detach()), 'fairness_loss': float(phi.detach())}


def make_strategy(method: str, model: Module, *, leader_lr: float, follower_lr: float,
                  eta: float, lam: float, follower_steps: int = 1,
                  hypergradient: str = 'first_order', fairness: str = 'dp',
                  weight_decay: float = 0.0) -> Strategy:
    """The strategy called ``method`` (one of :data:`METHODS`) with its optimisers."""
    if method == 'vanilla':
        return Vanilla(model, lr=leader_lr, weight_decay=weight_decay)
    if method == 'lagrangian':
        return Lagrangian(model, lr=leader_lr, lam=lam, fairness=fairness,
                          weight_decay=weight_decay)
    if method in ('bilevel', 'reference'):
        cls = Bilevel if method == 'bilevel' else Reference
        return cls(model, leader_lr=leader_lr, follower_lr=follower_lr, eta=eta,
                   follower_steps=follower_steps, fairness=fairness,
                   weight_decay=weight_decay,
                   **({'hypergradient': hypergradient} if method == 'bilevel' else {}))
    raise ValueError(f'unknown method {method!r}; use one of {", ".join(METHODS)}')
