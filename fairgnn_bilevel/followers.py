r"""The follower's moves in the Stackelberg game, for any model and any training loop.

A follower owns the parameters :math:`\theta_s` of a module — every
:class:`~fairgnn_bilevel.nn.FairnessBlock` inside it, or, for a module without one, all
of the module's parameters (a ``GATConv``, an ``MLP``, a ``LayerNorm``: whatever you pass
as ``model.block``) — and plays first on :math:`\eta\,\phi`, a fairness loss of the model's
output; :meth:`Follower.respond` makes its move and returns the model's logits at the
follower's new parameters.  The leader (every other parameter) then trains with an ordinary
``loss.backward(); optimizer.step()`` on the task loss of those logits, so the leader's
optimiser, scheduler, gradient clipping, mixed precision, ``DistributedDataParallel``'s
hooks and Lightning's automatic optimisation work unchanged.  To that end the follower
takes its parameters out of autograd (``requires_grad=False``) while it owns them: the
leader's backward and optimiser leave them alone, even an optimiser built on
``model.parameters()``.  :meth:`Follower.release` (or leaving a ``with follower:`` block)
hands them back as they were.  One follower per module: a second is refused.

**Once per leader step.**  :meth:`Follower.respond` moves the follower every time it is
called.  Call it once per optimiser step of the leader: gradient accumulation over ``k``
micro-batches, or an optimiser closure that re-runs the forward (LBFGS), would move the
follower ``k`` times per leader step.

Own loop (``encode``: the layers before the block; ``decode``: block and head)::

    follower = UnrolledFollower(model, DemographicParityLoss(), eta=100.0, step_size=1e-2)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)   # the leader's
    for epoch in range(200):
        optimizer.zero_grad()
        hidden = model.encode(x, edge_index)[train]
        logits = follower.respond(hidden, model.decode, sens[train])
        F.binary_cross_entropy_with_logits(logits, y[train].float()).backward()
        optimizer.step()

Data parallel: give the loss ``reduce=all_reduce_sum`` (with ``num_groups``) — the follower
takes the loss's — give each process its rows, and call the follower inside the forward of
the module that ``DistributedDataParallel`` wraps (:class:`FairForward` is that module):
the steps then equal those of one process on the union batch.  A follower that reduces,
called in several processes outside such a forward, is refused (DDP would not reduce the
leader's gradients); a loop that averages the leader's gradients itself says so with
:func:`leader_gradients_averaged`.
"""
from __future__ import annotations

import contextlib
import contextvars
import weakref
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import torch
from torch import Tensor
from torch.func import functional_call
from torch.nn import Module, Parameter
from torch.nn.utils import parametrize

from .collectives import same_reduce, world_size
from .losses import FairnessLoss, Reduce
from .nn.fairness_block import FairnessBlock

__all__ = ['Follower', 'UnrolledFollower', 'FirstOrderFollower', 'FairForward',
           'leader_gradients_averaged', 'owned_modules']

Decode = Callable[[Tensor], Tensor]
_FROM_LOSS: Any = object()  # reduce's default: the loss's
_averaged_by_caller = contextvars.ContextVar('leader_gradients_averaged', default=False)


@contextlib.contextmanager
def leader_gradients_averaged() -> Iterator[None]:
    """Inside this block, followers that reduce over processes may be called outside a
    ``DistributedDataParallel`` forward: the caller averages the leader's gradients
    itself (the library's runner does)."""
    token = _averaged_by_caller.set(True)
    try:
        yield
    finally:
        _averaged_by_caller.reset(token)


def owned_modules(module: Module) -> List[Module]:
    """The modules a follower of ``module`` owns: every ``FairnessBlock`` inside it, or
    ``module`` itself when it holds none."""
    blocks = [m for m in module.modules() if isinstance(m, FairnessBlock)]
    return blocks or [module]


class _Call(Module):
    """Lets ``functional_call`` substitute parameters of ``module`` inside any callable."""

    def __init__(self, module: Module) -> None:
        super().__init__()
        self.module = module

    def forward(self, fn: Decode, hidden: Tensor) -> Tensor:
        return fn(hidden)


# id of a parameter -> the live follower that owns it (a follower that is garbage
# collected frees its parameters' entries)
_OWNERS: 'weakref.WeakValueDictionary[int, Follower]' = weakref.WeakValueDictionary()


def _owner_of(param: Parameter) -> Optional['Follower']:
    owner = _OWNERS.get(id(param))
    # an id can be reused by a new tensor once the old one is gone
    return owner if owner is not None and any(p is param for p in owner.params) else None


def _inside_ddp_forward() -> bool:
    from torch.nn.parallel import DistributedDataParallel
    return getattr(DistributedDataParallel, '_active_ddp_module', None) is not None


class Follower:
    r"""Base of the follower's moves (see the module docstring).

    Args:
        module (Module): the follower's module: a model or block containing
            ``FairnessBlock`` s (the follower owns those), or any other module (the
            follower owns all of its parameters).
        loss (FairnessLoss): the fairness loss :math:`\phi`.
        eta (float): its weight :math:`\eta` (default: :obj:`100.0`).
        steps (int): follower steps per call of :meth:`respond` (default: :obj:`1`).
        reduce (callable or None, optional): a differentiable sum over processes
            (:func:`~fairgnn_bilevel.collectives.all_reduce_sum`); the follower then
            steps on the gradient averaged over processes, the union batch's.  Default:
            the loss's ``reduce``; another one than the loss's is refused.
    """

    def __init__(self, module: Module, loss: FairnessLoss, *, eta: float = 100.0,
                 steps: int = 1, reduce: Optional[Reduce] = _FROM_LOSS) -> None:
        if steps < 1:
            raise ValueError(f'{type(self).__name__}: steps must be >= 1, got {steps}')
        loss_reduce = getattr(loss, 'reduce', None)
        if reduce is _FROM_LOSS:
            reduce = loss_reduce
        elif not same_reduce(reduce, loss_reduce):
            raise ValueError(f'{type(self).__name__}: reduce differs from the loss\'s '
                             f'({reduce!r} and {loss_reduce!r}); pass reduce to the loss '
                             'only, the follower takes it from there')
        self.modules = owned_modules(module)
        self.params: List[Parameter] = list(dict.fromkeys(
            p for m in self.modules for p in m.parameters()))
        if not self.params:
            raise ValueError(f'{type(module).__name__} has no parameters for the follower '
                             'to own; pass the module of the fairness player (e.g. a '
                             'FairnessBlock)')
        for param in self.params:
            owner = _owner_of(param)
            if owner is not None:
                raise ValueError(f'{type(module).__name__} already has a follower '
                                 f'({owner!r}); release() it first, or use that one')
        # where each owned parameter sits (a tied one in several places): the move swaps
        # tensors in there for the decode, as functional_call does, without its lookups
        index = {id(p): i for i, p in enumerate(self.params)}
        self._slots = [(holder, name, index[id(param)]) for holder in module.modules()
                       for name, param in holder._parameters.items()
                       if param is not None and id(param) in index]
        self._call = _Call(module) if any(
            parametrize.is_parametrized(m) for m in module.modules()) else None
        names = {id(p): name for name, p in module.named_parameters()}
        self._names = [f'module.{names[id(p)]}' for p in self.params]
        self.owner_name = type(module).__name__
        self.loss, self.eta, self.steps, self.reduce = loss, eta, steps, reduce
        self.last_loss: Optional[Tensor] = None  # η·φ at the follower's last step
        self._processes: Optional[Tensor] = None
        self._reached = False
        self._hooks = [m.register_forward_pre_hook(self._mark_reached) for m in self.modules]
        # taken last: nothing above may fail with the parameters frozen
        self._requires_grad = [p.requires_grad for p in self.params]
        for param in self.params:
            _OWNERS[id(param)] = self
            param.requires_grad_(False)  # the follower's own: no leader gradient reaches it

    # -- ownership ------------------------------------------------------------------
    def release(self) -> None:
        """Hand the parameters back: ``requires_grad`` as it was before, and the module free
        for another follower.  The follower cannot move after this."""
        if not self._hooks:
            return
        for hook in self._hooks:
            hook.remove()
        self._hooks = []
        for param, flag in zip(self.params, self._requires_grad):
            param.requires_grad_(flag)
            if _OWNERS.get(id(param)) is self:
                del _OWNERS[id(param)]

    def __enter__(self) -> 'Follower':
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()

    # -- the move -------------------------------------------------------------------
    def _mark_reached(self, module: Module, args: Any) -> None:
        self._reached = True

    def _decode_with(self, theta: Sequence[Tensor], decode: Decode, hidden: Tensor) -> Tensor:
        self._reached = False
        if self._call is not None:  # parametrized modules: torch's own substitution
            out = functional_call(self._call, dict(zip(self._names, theta)), (decode, hidden))
        else:
            for holder, name, i in self._slots:
                holder._parameters[name] = theta[i]
            try:
                out = decode(hidden)
            finally:
                for holder, name, i in self._slots:
                    holder._parameters[name] = self.params[i]
        if not self._reached:
            raise ValueError(f'decode never calls the follower\'s module ({self.owner_name}), '
                             'so the follower cannot move the logits; pass the decode that '
                             'runs it (e.g. model.decode, or lambda h: head(block(h)))')
        return out

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

    def _check_call(self) -> None:
        if not self._hooks:
            raise RuntimeError(f'{type(self).__name__} was released; build a new follower')
        if self.reduce is not None and world_size() > 1 and not _inside_ddp_forward() \
                and not _averaged_by_caller.get():
            raise RuntimeError(
                'the follower reduces over processes but is called outside the forward of '
                'a DistributedDataParallel module, so DDP will not reduce the leader\'s '
                'gradients and the processes drift apart: wrap the step in a module whose '
                'forward calls it (fb.FairForward) and wrap that in DDP')

    def respond(self, hidden: Tensor, decode: Decode, sensitive: Tensor,
                labels: Optional[Tensor] = None, *, rows: Optional[Tensor] = None,
                scale: float = 1.0) -> Tensor:
        r"""The follower's move on :math:`\eta\,\phi(\mathrm{decode}(h)[\mathrm{rows}])`;
        returns ``decode(hidden)`` at its new parameters, for the leader's task loss.
        Call it once per leader step (see the module docstring).

        Args:
            hidden (Tensor): the follower's input rows (the leader's output), with gradient.
            decode (callable): rows → logits through the follower's module and the head,
                e.g. ``model.decode`` or ``lambda h: head(block(h))``.
            sensitive (Tensor): the integer group (``0 .. G-1``) of each row that the
                fairness loss sees.
            labels (Tensor, optional): their labels (equal opportunity needs them).
            rows (Tensor, optional): the rows of ``decode(hidden)`` that the fairness loss
                sees, aligned with ``sensitive`` (default: all).
            scale (float): multiplies η (a warm-up schedule).

        Shapes:
            hidden ``[n, d]`` → logits ``[n]``, ``[n, 1]`` or ``[n, C]``, as ``decode``
            returns them.
        """
        raise NotImplementedError

    # the name of the subclass's step-size setting (its argument and attribute)
    rate_name: str

    def state_dict(self) -> Dict[str, Any]:
        """The follower's settings (and optimiser state, where it has one)."""
        return {'eta': self.eta, 'steps': self.steps,
                self.rate_name: getattr(self, self.rate_name)}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        self.eta, self.steps = state['eta'], state['steps']
        setattr(self, self.rate_name, state[self.rate_name])

    def __repr__(self) -> str:
        return (f'{type(self).__name__}({self.loss}, eta={self.eta:g}, '
                f'{self.rate_name}={getattr(self, self.rate_name):g}, steps={self.steps})')


class UnrolledFollower(Follower):
    r"""The paper's methodology: the leader's gradient runs through the follower's response.

    .. math::
        \theta_s^{j+1} = \theta_s^j - \alpha\,\nabla_{\theta_s}\,\eta\,\phi(\theta_p,
        \theta_s^j), \qquad j = 0, \dots, k - 1

    plain gradient steps of size :math:`\alpha` = ``step_size``, kept differentiable in the
    leader's parameters :math:`\theta_p`.  :meth:`respond` returns the logits at
    :math:`\theta_s^k(\theta_p)`, so ``backward()`` of the task loss gives the leader
    :math:`\nabla_{\theta_p} f(\theta_p, \theta_s^k(\theta_p))`; the module keeps
    :math:`\theta_s^k`.  Memory grows with ``steps`` (each step is kept for the leader's
    backward).

    Args:
        module, loss, eta, steps, reduce: see :class:`Follower`.
        step_size (float): :math:`\alpha` (default: :obj:`1e-2`; the runner's
            ``train.follower_step_size``).
    """

    rate_name = 'step_size'

    def __init__(self, module: Module, loss: FairnessLoss, *, eta: float = 100.0,
                 step_size: float = 1e-2, steps: int = 1,
                 reduce: Optional[Reduce] = _FROM_LOSS) -> None:
        super().__init__(module, loss, eta=eta, steps=steps, reduce=reduce)
        self.step_size = step_size

    def respond(self, hidden: Tensor, decode: Decode, sensitive: Tensor,
                labels: Optional[Tensor] = None, *, rows: Optional[Tensor] = None,
                scale: float = 1.0) -> Tensor:
        self._check_call()
        # copies, not the parameters: the module is overwritten with θ_s^k below, before
        # the leader's backward reads the graph that starts at θ_s^0
        theta: List[Tensor] = [p.detach().clone().requires_grad_() for p in self.params]
        for _ in range(self.steps):
            phi = self._phi(self._decode_with(theta, decode, hidden), sensitive, labels, rows,
                            scale)
            grads = torch.autograd.grad(phi, theta, create_graph=True)
            theta = [t - self.step_size * self._average(g) for t, g in zip(theta, grads)]
        logits = self._decode_with(theta, decode, hidden)
        with torch.no_grad():
            for param, value in zip(self.params, theta):
                param.copy_(value)
        self.last_loss = phi.detach()
        return logits


class FirstOrderFollower(Follower):
    r"""The paper's Algorithm 1: the follower takes ``steps`` Adam steps on
    :math:`\eta\,\phi` with the leader's rows fixed; :meth:`respond` returns the logits at
    its new parameters, through which the leader's gradient of the task loss runs to the
    encoder (no second-order terms).  ``state_dict()`` holds the Adam state.

    Args:
        module, loss, eta, steps, reduce: see :class:`Follower`.
        lr (float): Adam's learning rate (default: :obj:`1e-2`; the runner's
            ``train.follower_lr``).
        betas (tuple): Adam's moment decays (default: :obj:`(0.9, 0.999)`).
        fused (bool, optional): Adam's ``fused`` implementation (default: torch's choice).
    """

    rate_name = 'lr'

    def __init__(self, module: Module, loss: FairnessLoss, *, eta: float = 100.0,
                 lr: float = 1e-2, steps: int = 1, reduce: Optional[Reduce] = _FROM_LOSS,
                 betas: Tuple[float, float] = (0.9, 0.999),
                 fused: Optional[bool] = None) -> None:
        super().__init__(module, loss, eta=eta, steps=steps, reduce=reduce)
        self.lr = lr
        try:
            self.optimizer = torch.optim.Adam(self.params, lr=lr, betas=betas,
                                              weight_decay=0.0, fused=fused)
        except BaseException:
            self.release()
            raise

    def respond(self, hidden: Tensor, decode: Decode, sensitive: Tensor,
                labels: Optional[Tensor] = None, *, rows: Optional[Tensor] = None,
                scale: float = 1.0) -> Tensor:
        self._check_call()
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


class FairForward(Module):
    r"""One step's logits at the follower's response, computed in ``forward``: the module
    to wrap in ``DistributedDataParallel`` (or to call from a ``LightningModule``), so
    that the leader's gradients are reduced for exactly the forward that produced them.

    Args:
        model (Module): a model with ``encode(x, edge_index)`` (the leader's layers before
            the follower's module) and ``decode(hidden)`` (the follower's module and the
            head), such as :class:`~fairgnn_bilevel.nn.FairBiNNGNN`.
        follower (Follower, optional): the follower, built on ``model`` *before* this
            module is wrapped in DDP; ``None`` decodes plainly (a vanilla model).

    ``forward(x, edge_index, sensitive, labels=None, *, rows=None)`` returns the logits
    of ``rows`` (default: every node), the fairness loss seeing the same rows.
    """

    def __init__(self, model: Module, follower: Optional[Follower] = None) -> None:
        super().__init__()
        for name in ('encode', 'decode'):
            if not callable(getattr(model, name, None)):
                raise ValueError(f'{type(model).__name__} has no {name}(...): FairForward '
                                 'needs encode(x, edge_index) and decode(hidden)')
        self.model, self.follower = model, follower

    def forward(self, x: Tensor, edge_index: Tensor, sensitive: Tensor,
                labels: Optional[Tensor] = None, *, rows: Optional[Tensor] = None) -> Tensor:
        hidden = self.model.encode(x, edge_index)
        if rows is not None:
            hidden = hidden[rows]
        if self.follower is None:
            return self.model.decode(hidden)
        return self.follower.respond(hidden, self.model.decode, sensitive, labels)
