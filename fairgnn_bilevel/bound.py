r"""A fairness bound as a building block: "minimise the task loss subject to gap ≤ ε".

:class:`FairnessBound` is a Lagrangian with a *proxy constraint*, solved with
`cooper-optim <https://github.com/cooper-org/cooper>`_: the differentiable fairness loss
:math:`\phi` (a squared soft gap) carries the gradient, weighted by the multiplier
:math:`\lambda`, while the *hard* gap the bound is about — ΔDP or ΔEO of the predicted
classes, counted over every row seen since the last :meth:`FairnessBound.step` — moves the
multiplier:

.. math::
    \lambda \leftarrow \min\Bigl(\lambda_{\max},\; \max\Bigl(0,\; \lambda + \rho\,
    \frac{\Delta - \epsilon}{\max(\epsilon, 0.01)}\Bigr)\Bigr)

(dual ascent of step ``dual_lr`` :math:`\rho` on the violation relative to the bound, so
one step size serves every ε; a bound under one point counts as one point; the ceiling
:math:`\lambda_{\max}` is ``max_multiplier``, none by default).  The multiplier therefore moves on the statistics of a whole epoch, not
on one mini-batch's noisy gap, and a batch that misses a group adds counts, never NaN.
With a loss that reduces over processes (``reduce=all_reduce_sum``), the counts are summed
over processes before the step: every process moves the same multiplier.

Own loop::

    bound = FairnessBound(DemographicParityLoss(), max_gap=0.02)
    for epoch in range(epochs):
        for batch in loader:
            optimizer.zero_grad()
            logits = model(batch.x, batch.edge_index)[:batch.batch_size]
            loss = task_loss(logits, batch.y[:batch.batch_size]) + bound(
                logits, batch.sens[:batch.batch_size])       # λ·φ; counts the hard gap
            loss.backward()
            optimizer.step()
        bound.step()                                         # λ moves on the epoch's ΔDP

As the follower's weight (FairBiNN under a bound), set ``follower.eta = bound.weight``
before each :meth:`~fairgnn_bilevel.followers.Follower.respond`, :meth:`FairnessBound.observe`
its logits, and :meth:`FairnessBound.step` once per epoch; ``scale`` is then η's scale
(the weight is ``scale × λ``), and ``max_multiplier=1`` keeps the weight at most η: the
unrolled follower's plain gradient step is ``step_size × η × ∇φ``, so a multiplier that kept
rising while the bound is out of reach would grow the step past the size at which gradient
descent is stable, and the model collapses (the runner's FairBiNN under a bound does this:
η is the most fairness pressure the follower takes, and the bound spends only what it needs).

Why cooper: it is a maintained, pure-Python library whose constraint objects keep the
differentiable violation (the primal Lagrangian's) apart from the strict one (the dual's)
— exactly the proxy constraint — and whose multipliers project onto :math:`\lambda \ge 0`;
the dual optimiser is an ordinary ``torch.optim.SGD(maximize=True)``.
"""
from __future__ import annotations

from typing import Any, Dict, Optional

import cooper
import torch
from torch import Tensor

from .losses import (DemographicParityLoss, EqualOpportunityLoss, FairnessLoss,
                     check_arguments)

__all__ = ['FairnessBound', 'hard_gap', 'VIOLATION_UNIT']

# the violation is measured in units of the bound, but never of less than one point: a
# bound of 0 (unreachable by any classifier that separates anyone) still moves λ finitely
VIOLATION_UNIT = 0.01


def _predicted(logits: Tensor) -> Tensor:
    """The predicted class of each row: ``z > 0`` of one logit, the argmax of ``C``."""
    if logits.dim() == 2 and logits.size(1) > 1:
        return logits.argmax(1)
    return (logits.reshape(-1) > 0).long()


def _classes(logits: Tensor) -> int:
    return logits.size(1) if logits.dim() == 2 and logits.size(1) > 1 else 2


def hard_gap(hits: Tensor, totals: Tensor) -> float:
    """The largest gap between groups of ``hits / totals`` over the outcome classes.

    Args:
        hits: ``[G, C]`` rows of group ``g`` predicted ``c`` (demographic parity), or
            labelled ``c`` and predicted ``c`` (equal opportunity).
        totals: ``[G, C]`` rows of group ``g`` (each column alike), or labelled ``c``.

    The outcome classes are class 1 of two, every class of more (the metrics' ΔDP and ΔEO
    of :mod:`~fairgnn_bilevel.metrics`); groups without rows are left out, and a class
    seen in fewer than two groups adds no gap.
    """
    outcomes = range(1, 2) if hits.size(1) == 2 else range(hits.size(1))
    gap = 0.0
    for c in outcomes:
        seen = totals[:, c] > 0
        if int(seen.sum()) >= 2:
            rates = hits[seen, c].double() / totals[seen, c].double()
            gap = max(gap, float(rates.max() - rates.min()))
    return gap


class FairnessBound:
    r"""The constraint ``gap ≤ max_gap`` on ``loss``'s criterion (see the module docstring).

    Args:
        loss (FairnessLoss): the differentiable proxy :math:`\phi`;
            :class:`~fairgnn_bilevel.losses.DemographicParityLoss` bounds ΔDP,
            :class:`~fairgnn_bilevel.losses.EqualOpportunityLoss` bounds ΔEO.  Its
            ``reduce`` (and ``num_groups``) also sum the hard counts over processes.
        max_gap (float): the bound :math:`\epsilon`, a fraction in ``[0, 1]``.
        dual_lr (float): the multiplier's step :math:`\rho` per unit of relative
            violation (default: :obj:`0.2`).
        init (float): the multiplier's starting value (default: :obj:`1.0`: the weight
            starts at ``scale``).
        scale (float): the weight is ``scale × λ`` (default: :obj:`1.0`; the runner passes
            its ``lam`` or ``eta``).
        max_multiplier (float, optional): a ceiling on :math:`\lambda` (the weight never
            exceeds ``scale × max_multiplier``); default: none.
    """

    def __init__(self, loss: FairnessLoss, max_gap: float, *, dual_lr: float = 0.2,
                 init: float = 1.0, scale: float = 1.0,
                 max_multiplier: Optional[float] = None) -> None:
        if not 0.0 <= max_gap <= 1.0:
            raise ValueError(f'max_gap must be a fraction in [0, 1] (0.02 for 2 points), got '
                             f'{max_gap!r}')
        if dual_lr <= 0 or init < 0 or scale <= 0:
            raise ValueError(f'FairnessBound needs dual_lr > 0, init >= 0 and scale > 0, got '
                             f'{dual_lr!r}, {init!r} and {scale!r}')
        if max_multiplier is not None and not max_multiplier >= init:
            raise ValueError(f'FairnessBound needs max_multiplier >= init (the multiplier '
                             f'starts at init), got {max_multiplier!r} and {init!r}')
        if not isinstance(loss, (DemographicParityLoss, EqualOpportunityLoss)):
            raise ValueError(f'{type(loss).__name__} is not a loss of a gap the bound can count '
                             '(ΔDP or ΔEO); use DemographicParityLoss or EqualOpportunityLoss')
        self.loss, self.max_gap, self.scale = loss, float(max_gap), float(scale)
        self.max_multiplier = None if max_multiplier is None else float(max_multiplier)
        self.criterion = 'eo' if isinstance(loss, EqualOpportunityLoss) else 'dp'
        self.multiplier = cooper.multipliers.DenseMultiplier(
            init=torch.tensor([float(init)]), dtype=torch.float64)
        self.constraint = cooper.Constraint(cooper.ConstraintType.INEQUALITY,
                                            multiplier=self.multiplier)
        self.dual_optimizer = torch.optim.SGD(self.multiplier.parameters(), lr=dual_lr,
                                              maximize=True)
        self.last_gap: Optional[float] = None  # the hard gap at the last step
        self._hits: Optional[Tensor] = None
        self._totals: Optional[Tensor] = None

    @property
    def weight(self) -> float:
        """The fairness term's current weight, ``scale × λ``."""
        return self.scale * float(self.multiplier.weight.detach()[0])

    # -- the primal term ------------------------------------------------------------
    def __call__(self, logits: Tensor, sensitive: Tensor,
                 labels: Optional[Tensor] = None) -> Tensor:
        """``weight × φ(logits)``, the term to add to the task loss; the rows' hard
        predictions are counted for the next :meth:`step`."""
        phi = self.loss(logits, sensitive, labels)  # checks sensitive (and labels)
        self._count(logits, sensitive, labels)
        violation = cooper.ConstraintState(violation=phi.reshape(1).double(),
                                           contributes_to_dual_update=False)
        state = cooper.CMPState(observed_constraints={self.constraint: violation})
        return self.scale * state.compute_primal_lagrangian().lagrangian.to(phi.dtype)

    def observe(self, logits: Tensor, sensitive: Tensor,
                labels: Optional[Tensor] = None) -> None:
        """Count the hard predictions of these rows toward the next :meth:`step`'s gap."""
        if self.criterion == 'eo' and labels is None:
            raise ValueError('a bound on equal opportunity needs the labels of its rows: '
                             'bound(logits, sensitive, labels)')
        # the losses' own checks of groups and labels
        check_arguments(logits, sensitive, labels, None, self.loss.num_groups)
        self._count(logits, sensitive, labels)

    def _count(self, logits: Tensor, sensitive: Tensor, labels: Optional[Tensor]) -> None:
        predicted = _predicted(logits.detach())
        num_groups = self.loss.num_groups
        if labels is not None:
            labels = labels.reshape(-1).long()
        classes = _classes(logits)
        groups = num_groups if num_groups is not None else \
            int(sensitive.max()) + 1 if sensitive.numel() else 1
        cells = groups * classes
        if self.criterion == 'dp':
            totals = torch.bincount(sensitive, minlength=groups).unsqueeze(1).expand(
                groups, classes)
            hits = torch.bincount(sensitive * classes + predicted, minlength=cells)
        else:
            index = sensitive * classes + labels
            totals = torch.bincount(index, minlength=cells).view(groups, classes)
            hits = torch.bincount(index[predicted == labels], minlength=cells)
        self._add(hits.view(groups, classes).cpu(), totals.cpu())

    def _add(self, hits: Tensor, totals: Tensor) -> None:
        if self._hits is None:
            self._hits, self._totals = hits.clone(), totals.clone()
            return
        rows = max(self._hits.size(0), hits.size(0))  # groups seen so far
        grown = []
        for old, new in ((self._hits, hits), (self._totals, totals)):
            if old.size(1) != new.size(1):
                raise ValueError(f'the logits changed from {old.size(1)} to {new.size(1)} '
                                 'classes between steps of the bound')
            total = old.new_zeros((rows, old.size(1)))
            total[:old.size(0)] += old
            total[:new.size(0)] += new
            grown.append(total)
        self._hits, self._totals = grown

    # -- the dual step --------------------------------------------------------------
    def step(self) -> float:
        """Move the multiplier on the hard gap of every row observed since the last step
        (summed over processes with the loss's ``reduce``) and start counting afresh.
        Returns that gap."""
        if self._hits is None:
            raise RuntimeError('FairnessBound.step() before any rows were observed: call the '
                               'bound (or observe) on the logits of an epoch first')
        hits, totals = self._hits, self._totals
        reduce = getattr(self.loss, 'reduce', None)
        if reduce is not None:
            both = reduce(torch.stack([hits, totals]).to(torch.float64))
            hits, totals = both[0], both[1]
        self._hits = self._totals = None
        gap = hard_gap(hits, totals)
        relative = torch.tensor([(gap - self.max_gap) / max(self.max_gap, VIOLATION_UNIT)],
                                dtype=torch.float64)
        state = cooper.CMPState(observed_constraints={self.constraint: cooper.ConstraintState(
            violation=relative, contributes_to_primal_update=False)})
        self.dual_optimizer.zero_grad(set_to_none=True)
        state.compute_dual_lagrangian().backward()
        self.dual_optimizer.step()
        self.multiplier.post_step_()  # λ ≥ 0
        if self.max_multiplier is not None:
            with torch.no_grad():
                self.multiplier.weight.clamp_(max=self.max_multiplier)
        self.last_gap = gap
        return gap

    def state_dict(self) -> Dict[str, Any]:
        """The multiplier and its optimiser, for a checkpoint (``torch.save``)."""
        return {'multiplier': self.multiplier.state_dict(),
                'dual_optimizer': self.dual_optimizer.state_dict(), 'last_gap': self.last_gap}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        self.multiplier.load_state_dict(state['multiplier'])
        self.dual_optimizer.load_state_dict(state['dual_optimizer'])
        self.last_gap = state['last_gap']

    def __repr__(self) -> str:
        name = {'dp': 'ΔDP', 'eo': 'ΔEO'}[self.criterion]
        ceiling = '' if self.max_multiplier is None else \
            f', max weight={self.scale * self.max_multiplier:g}'
        return (f'FairnessBound({name} ≤ {self.max_gap:g}, {self.loss}, '
                f'weight={self.weight:g}{ceiling})')
