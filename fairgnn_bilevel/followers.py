r"""The follower's moves in the Stackelberg game, for any model and any training loop.

A follower owns the parameters :math:`\theta_s` of every
:class:`~fairgnn_bilevel.nn.FairnessBlock` in a model and plays first on
:math:`\eta\,\phi`, a fairness loss of the model's output; :meth:`Follower.respond` makes
its move and returns the model's logits at the follower's new parameters.  The leader (every
other parameter) then trains with an ordinary ``loss.backward(); optimizer.step()`` on the
task loss of those logits, so the leader's optimiser, scheduler, gradient clipping, mixed
precision, ``DistributedDataParallel``'s hooks and Lightning's automatic optimisation work
unchanged.  To that end the follower takes the block's parameters out of autograd
(``requires_grad=False``): the leader's backward and optimiser leave them alone, even an
optimiser built on ``model.parameters()``.  Build a follower before wrapping the model in
``DistributedDataParallel``.

Own loop (``encode``: the layers before the block; ``decode``: block and head)::

    follower = UnrolledFollower(model, DemographicParityLoss(), eta=100.0, lr=1e-2)
    optimizer = torch.optim.Adam(leader_parameters(model), lr=1e-2)
    for epoch in range(200):
        optimizer.zero_grad()
        hidden = model.encode(x, edge_index)
        logits = follower.respond(hidden, model.decode, sens[train], rows=train)
        F.binary_cross_entropy_with_logits(logits[train], y[train]).backward()
        optimizer.step()

Data parallel: pass ``reduce=all_reduce_sum`` to the loss (with ``num_groups``) and to the
follower, give each process its rows, and let ``DistributedDataParallel`` average the
leader's gradients: the steps equal those of one process on the union batch.
"""
from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, Sequence

import torch
from torch import Tensor
from torch.func import functional_call
from torch.nn import Module

from .losses import FairnessLoss, Reduce
from .nn.fairness_block import follower_parameters

__all__ = ['Follower', 'UnrolledFollower', 'FirstOrderFollower']

Decode = Callable[[Tensor], Tensor]


class _Call(Module):
    """Lets ``functional_call`` substitute parameters of ``model`` inside any callable."""

    def __init__(self, model: Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, fn: Decode, hidden: Tensor) -> Tensor:
        return fn(hidden)


class Follower:
    r"""Base of the follower's moves (see the module docstring).

    Args:
        model (Module): a model, or a block, containing at least one ``FairnessBlock``.
        loss (FairnessLoss): the fairness loss :math:`\phi`.
        eta (float): its weight :math:`\eta` (default: :obj:`100.0`).
        lr (float): the follower's step size (default: :obj:`1e-2`).
        steps (int): follower steps per call of :meth:`respond` (default: :obj:`1`).
        reduce (callable, optional): a differentiable sum over processes
            (:func:`~fairgnn_bilevel.collectives.all_reduce_sum`); the follower then steps
            on the gradient averaged over processes, the union batch's.
    """

    def __init__(self, model: Module, loss: FairnessLoss, *, eta: float = 100.0,
                 lr: float = 1e-2, steps: int = 1, reduce: Optional[Reduce] = None) -> None:
        if steps < 1:
            raise ValueError(f'{type(self).__name__}: steps must be >= 1, got {steps}')
        self.params = follower_parameters(model)  # raises, naming the model, without a block
        for param in self.params:
            param.requires_grad_(False)  # the follower's own: no leader gradient reaches it
        names = {id(p): name for name, p in model.named_parameters()}
        self._names = [f'model.{names[id(p)]}' for p in self.params]
        self._call = _Call(model)
        self.loss, self.eta, self.lr, self.steps, self.reduce = loss, eta, lr, steps, reduce
        self.last_loss: Optional[Tensor] = None  # η·φ at the follower's last step
        self._processes: Optional[Tensor] = None

    def _decode_with(self, theta: Sequence[Tensor], decode: Decode, hidden: Tensor) -> Tensor:
        return functional_call(self._call, dict(zip(self._names, theta)), (decode, hidden))

    def _phi(self, logits: Tensor, sensitive: Tensor, labels: Optional[Tensor],
             rows: Optional[Tensor], scale: float) -> Tensor:
        if rows is not None:
            logits = logits[rows]
        return scale * self.eta * self.loss(logits, sensitive, labels)

    def _average(self, grad: Tensor) -> Tensor:
        # each process's gradient of the union loss is its part times the processes
        if self.reduce is None:
            return grad
        if self._processes is None:
            self._processes = self.reduce(grad.new_ones(()))
        return self.reduce(grad) / self._processes

    def respond(self, hidden: Tensor, decode: Decode, sensitive: Tensor,
                labels: Optional[Tensor] = None, *, rows: Optional[Tensor] = None,
                scale: float = 1.0) -> Tensor:
        r"""The follower's move on :math:`\eta\,\phi(\mathrm{decode}(h)[\mathrm{rows}])`;
        returns ``decode(hidden)`` at its new parameters, for the leader's task loss.

        Args:
            hidden (Tensor): the block's input rows (the leader's output), with gradient.
            decode (callable): rows → logits through the model's fairness block(s) and
                head, e.g. ``model.decode`` or ``lambda h: head(block(h))``.
            sensitive (Tensor): the group of each row that the fairness loss sees.
            labels (Tensor, optional): their labels (equal opportunity needs them).
            rows (Tensor, optional): the rows of ``decode(hidden)`` that the fairness loss
                sees, aligned with ``sensitive`` (default: all).
            scale (float): multiplies η (a warm-up schedule).

        Shapes:
            hidden ``[n, d]`` → logits ``[n]`` or ``[n, 1]``, as ``decode`` returns them.
        """
        raise NotImplementedError

    def state_dict(self) -> Dict[str, Any]:
        """The follower's settings (and optimiser state, where it has one)."""
        return {'eta': self.eta, 'lr': self.lr, 'steps': self.steps}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        self.eta, self.lr, self.steps = state['eta'], state['lr'], state['steps']

    def __repr__(self) -> str:
        return (f'{type(self).__name__}({self.loss}, eta={self.eta:g}, lr={self.lr:g}, '
                f'steps={self.steps})')


class UnrolledFollower(Follower):
    r"""The paper's methodology: the leader's gradient runs through the follower's response.

    .. math::
        \theta_s^{j+1} = \theta_s^j - \alpha\,\nabla_{\theta_s}\,\eta\,\phi(\theta_p,
        \theta_s^j), \qquad j = 0, \dots, k - 1

    plain gradient steps of size :math:`\alpha` = ``lr``, kept differentiable in the
    leader's parameters :math:`\theta_p`.  :meth:`respond` returns the logits at
    :math:`\theta_s^k(\theta_p)`, so ``backward()`` of the task loss gives the leader
    :math:`\nabla_{\theta_p} f(\theta_p, \theta_s^k(\theta_p))`; the block keeps
    :math:`\theta_s^k`.  Arguments: see :class:`Follower`.
    """

    def respond(self, hidden: Tensor, decode: Decode, sensitive: Tensor,
                labels: Optional[Tensor] = None, *, rows: Optional[Tensor] = None,
                scale: float = 1.0) -> Tensor:
        # copies, not the parameters: the block is overwritten with θ_s^k below, before
        # the leader's backward reads the graph that starts at θ_s^0
        theta: List[Tensor] = [p.detach().clone().requires_grad_() for p in self.params]
        for _ in range(self.steps):
            phi = self._phi(self._decode_with(theta, decode, hidden), sensitive, labels, rows,
                            scale)
            grads = torch.autograd.grad(phi, theta, create_graph=True)
            theta = [t - self.lr * self._average(g) for t, g in zip(theta, grads)]
        logits = self._decode_with(theta, decode, hidden)
        with torch.no_grad():
            for param, value in zip(self.params, theta):
                param.copy_(value)
        self.last_loss = phi.detach()
        return logits


class FirstOrderFollower(Follower):
    r"""The paper's Algorithm 1: the follower takes ``steps`` Adam steps (rate ``lr``, no
    weight decay) on :math:`\eta\,\phi` with the leader's rows fixed; :meth:`respond`
    returns the logits at its new parameters, through which the leader's gradient of the
    task loss runs to the encoder (no second-order terms).  ``state_dict()`` holds the
    Adam state.  Other arguments: see :class:`Follower`.
    """

    def __init__(self, model: Module, loss: FairnessLoss, **options: Any) -> None:
        super().__init__(model, loss, **options)
        self.optimizer = torch.optim.Adam(self.params, lr=self.lr, weight_decay=0.0,
                                          fused=True)

    def respond(self, hidden: Tensor, decode: Decode, sensitive: Tensor,
                labels: Optional[Tensor] = None, *, rows: Optional[Tensor] = None,
                scale: float = 1.0) -> Tensor:
        fixed = hidden.detach()  # the follower never moves the leader
        for _ in range(self.steps):
            theta = [p.detach().requires_grad_() for p in self.params]
            phi = self._phi(self._decode_with(theta, decode, fixed), sensitive, labels, rows,
                            scale)
            for param, grad in zip(self.params, torch.autograd.grad(phi, theta)):
                param.grad = self._average(grad)
            self.optimizer.step()
        # cleared, or an optimiser of the leader's built on model.parameters() would step
        # the block on the follower's gradient
        self.optimizer.zero_grad(set_to_none=True)
        self.last_loss = phi.detach()
        return decode(hidden)

    def state_dict(self) -> Dict[str, Any]:
        return {**super().state_dict(), 'optimizer': self.optimizer.state_dict()}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.optimizer.load_state_dict(state['optimizer'])
        for group in self.optimizer.param_groups:
            group['lr'] = self.lr
