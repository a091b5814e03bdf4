"""Model selection on validation metrics, with snapshots of only the epochs that can win.

Each rule of :data:`RULES` (its description says what it picks) narrows the records to a
pool and sorts it; every sort key but ``fairgnn``'s breaks ties (higher ACC, then AUC,
then the earlier epoch) so that its winner is never dominated in (acc↑, auc↑, dp↓, eo↓),
and the loop only keeps parameter snapshots of non-dominated epochs
(:class:`ParetoArchive`).  ``fairgnn`` is FairGNN's own rule, exactly: strict thresholds
and the *first* epoch of the smallest ΔDP + ΔEO, which a later epoch may dominate; the
loop keeps those snapshots too (:meth:`SelectionRule.may_win`).  The default
``tolerance`` rule also sets aside epochs that predict one class for more than
:data:`ONE_CLASS_SHARE` of the validation rows (a record's ``positive_rate``; a record
without one counts as two-class): on weak-signal graphs such near-constant predictors
have the best accuracy and look fair because they separate no one.  The fallbacks:
``tolerance`` without an epoch within both tolerances takes the best ACC among those
near the best AUC; ``fairgnn`` without a qualifying epoch, the best ACC; ``dp_budget``
and ``eo_budget`` without one, the smallest gap (and the run says so, naming the bound and
the gap reached).  The budget rules read a bound — ``max_dp`` or ``max_eo``, less an
optional ``margin`` for the sampling error of small validation sets — and, like
``tolerance``, set one-class epochs aside: a gap near zero is easy to reach by predicting
nearly everyone positive.
"""
from __future__ import annotations

import copy
from typing import Any, Callable, Dict, List, Literal, Optional, Sequence, Tuple, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from ..metrics import METRICS

T = TypeVar('T')

__all__ = ['SelectionWarning', 'SelectionRule', 'RULES', 'BUDGETS', 'ONE_CLASS_SHARE',
           'predicts_one_class',
           'dominates', 'pareto_front', 'ParetoArchive', 'top_class_share']

ONE_CLASS_SHARE = 0.95


class SelectionWarning(UserWarning):
    """The selected model looks fair for a reason that says little (one class, chance AUC),
    or no epoch passed a rule's thresholds."""

_OBJECTIVES = tuple((key, sign) for key, _, sign in METRICS)
Record = Dict[str, float]


def top_class_share(record: Record) -> float:
    """The share of rows that get the most frequent prediction (``top_class_rate`` of a
    multi-class record, the larger of ``positive_rate`` and its complement of a binary
    one; a record with neither counts as evenly split)."""
    if 'top_class_rate' in record:
        return record['top_class_rate']
    rate = record.get('positive_rate', 0.5)
    return max(rate, 1.0 - rate)


def predicts_one_class(record: Record) -> bool:
    """Whether more than :data:`ONE_CLASS_SHARE` of the rows get the same prediction."""
    return top_class_share(record) > ONE_CLASS_SHARE


def _better(a: Sequence[float], b: Sequence[float]) -> bool:
    return all(x >= y for x, y in zip(a, b)) and any(x > y for x, y in zip(a, b))


def pareto_front(points: Sequence[T], key: Callable[[T], Sequence[float]]) -> List[T]:
    """The points that no other point beats under ``key`` (every coordinate: larger is
    better), in their original order."""
    scores = [tuple(key(p)) for p in points]
    return [p for p, s in zip(points, scores) if not any(_better(o, s) for o in scores)]


def dominates(a: Record, b: Record) -> bool:
    """Whether ``a`` is at least as good as ``b`` everywhere and better somewhere.

    A one-class predictor never dominates a two-class one: the default rule may set it
    aside, so it must not evict a snapshot that rule can still select.
    """
    if predicts_one_class(a) and not predicts_one_class(b):
        return False
    return _better([sign * a[k] for k, sign in _OBJECTIVES],
                   [sign * b[k] for k, sign in _OBJECTIVES])


def _two_class(records: Sequence[Record]) -> Sequence[Record]:
    """``records`` without the one-class epochs, unless every epoch is one."""
    return [r for r in records if not predicts_one_class(r)] or records


def _tie_break(r: Record) -> tuple:
    return (-r['acc'], -r['auc'], r['dp'], r['eo'], r['epoch'])


def _fairest(r: Record) -> tuple:
    return (r['dp'] + r['eo'],) + _tie_break(r)


# Each rule: (the records, its parameters) -> (the records it may pick from, a sort key).
def _tolerance(records: Sequence[Record], p: 'SelectionRule'):
    records = _two_class(records)
    best_acc = max(r['acc'] for r in records)
    best_auc = max(r['auc'] for r in records)
    ranks_well = [r for r in records if r['auc'] >= best_auc - p.auc_tolerance]
    pool = [r for r in ranks_well if r['acc'] >= best_acc - p.acc_tolerance]
    return (pool, _fairest) if pool else (ranks_well, _tie_break)


def _passes(r: Record, p: 'SelectionRule') -> bool:
    return r['acc'] > p.min_acc and r['auc'] > p.min_auc  # strict, as in FairGNN's code


def _first_fairest(r: Record) -> tuple:
    return (r['dp'] + r['eo'], r['epoch'])


def _fairgnn(records: Sequence[Record], p: 'SelectionRule'):
    # FairGNN's training script (and the official FairBiNN graph script, taken from it):
    # among epochs above both thresholds, the first with the smallest val ΔDP + ΔEO
    pool = [r for r in records if _passes(r, p)]
    return (pool, _first_fairest) if pool else (records, _tie_break)


def _within(r: Record, p: 'SelectionRule', metric: str) -> bool:
    return r[metric] <= getattr(p, f'max_{metric}') - p.margin


def _budget(metric: str):
    def pick(records: Sequence[Record], p: 'SelectionRule'):
        records = _two_class(records)
        pool = [r for r in records if _within(r, p, metric)]
        return (pool, _tie_break) if pool else (records, lambda r: (r[metric],) + _tie_break(r))
    return pick


def _pareto(records: Sequence[Record], p: 'SelectionRule'):
    front = pareto_front(records, key=lambda r: (r['acc'], -r['dp']))
    return front, lambda r: (-(r['acc'] - r['dp']),) + _tie_break(r)


# name -> (pick: (records, parameters) -> (pool, sort key), description with the parameters)
RULES: Dict[str, Tuple[Callable, str]] = {
    'tolerance': (_tolerance, 'tolerance: min val ΔDP+ΔEO within {acc_tolerance:g} of best '
                              'val ACC and {auc_tolerance:g} of best val AUC'),
    'fairgnn': (_fairgnn, 'fairgnn: first min val ΔDP+ΔEO with val ACC > {min_acc:g} and '
                          'val AUC > {min_auc:g}'),
    'dp_budget': (_budget('dp'), 'dp_budget: max val ACC with val ΔDP ≤ {max_dp:g}'),
    'eo_budget': (_budget('eo'), 'eo_budget: max val ACC with val ΔEO ≤ {max_eo:g}'),
    'pareto': (_pareto, 'pareto: max val ACC−ΔDP on the (val ACC, val ΔDP) front'),
    'best_acc': (lambda records, p: (records, _tie_break), 'best_acc: max val ACC'),
    'last': (lambda records, p: (records, lambda r: -r['epoch']), 'last: the final epoch'),
}
# the budget rules: name -> the gap they bound (their parameters: max_<gap>, margin)
BUDGETS: Dict[str, str] = {'dp_budget': 'dp', 'eo_budget': 'eo'}


class SelectionRule(BaseModel):
    """A named rule of :data:`RULES` with its parameters (the config's ``selection``
    section); ``select`` returns the winning record's epoch."""

    model_config = ConfigDict(extra='forbid', frozen=True)

    rule: Literal.__getitem__(tuple(RULES)) = 'tolerance'
    acc_tolerance: float = Field(0.01, ge=0)
    auc_tolerance: float = Field(0.02, ge=0)
    min_acc: float = Field(0.0, ge=0, le=1)
    min_auc: float = Field(0.0, ge=0, le=1)
    max_dp: float = Field(0.03, ge=0, le=1)
    max_eo: float = Field(0.03, ge=0, le=1)
    margin: float = Field(0.0, ge=0, lt=1)

    def __init__(self, rule: str = 'tolerance', **parameters: Any) -> None:
        super().__init__(rule=rule, **parameters)

    def describe(self) -> str:
        text = RULES[self.rule][1].format(**self.model_dump())
        return text + f' − {self.margin:g}' if self.rule in BUDGETS and self.margin else text

    def select(self, records: Sequence[Record]) -> int:
        if not records:
            raise ValueError('no validation records to select from (did training run?)')
        pool, key = RULES[self.rule][0](records, self)
        return int(min(pool, key=key)['epoch'])

    def may_win(self, record: Record, earlier: Sequence[Record]) -> bool:
        """Whether ``record`` can be this rule's winner although another epoch dominates it
        (the ``fairgnn`` rule keeps the *first* epoch of the smallest ΔDP + ΔEO): then its
        snapshot must be kept outside the Pareto archive."""
        if self.rule != 'fairgnn' or not _passes(record, self):
            return False
        return all(r['dp'] + r['eo'] > record['dp'] + record['eo'] for r in earlier
                   if _passes(r, self))

    def falls_back(self, records: Sequence[Record]) -> bool:
        """Whether no epoch passes the thresholds of a thresholded rule (``fairgnn``,
        the budgets), so that :meth:`select` falls back to its other choice."""
        if self.rule == 'fairgnn':
            return not any(_passes(r, self) for r in records)
        if self.rule in BUDGETS:
            metric = BUDGETS[self.rule]
            return not any(_within(r, self, metric) for r in _two_class(records))
        return False


def _snapshot(state: Any) -> Any:
    """A copy of ``state`` that later steps cannot change.  A ``state_dict`` (a mapping of
    tensors) has its tensors cloned, keeping its type and ``_metadata``; anything else is
    deep-copied.  Cloning costs a tenth of ``copy.deepcopy``'s per-tensor bookkeeping, which
    the loop pays every epoch."""
    if not isinstance(state, dict) or not all(hasattr(v, 'detach') for v in state.values()):
        return copy.deepcopy(state)
    copied = copy.copy(state)  # the same mapping type, its attributes (``_metadata``) shared
    metadata = getattr(state, '_metadata', None)
    if metadata is not None:
        copied._metadata = copy.deepcopy(metadata)
    for key, value in state.items():
        copied[key] = value.detach().clone()
    return copied


class ParetoArchive:
    """Validation records of every epoch, with parameter snapshots of only the epochs that
    ``rule`` can still select: the non-dominated ones, the ones ``rule`` may pick although
    dominated (:meth:`SelectionRule.may_win`), and the latest (rule ``last``).

    A record is a mapping with ``epoch`` (int) and the validation metrics ``acc``, ``auc``,
    ``dp`` and ``eo`` (fractions; :func:`~fairgnn_bilevel.evaluate` returns them), and
    ``positive_rate`` or ``top_class_rate`` where known (the one-class guard reads it).
    ``state_dict()`` / ``load_state_dict()`` carry records and snapshots through a
    checkpoint, so a resumed run selects from its whole history.

    Args:
        rule (SelectionRule): the rule :meth:`best` applies (default: ``tolerance``).

    Example::

        archive = ParetoArchive(SelectionRule('tolerance'))
        for epoch in range(1, epochs + 1):
            ...  # train
            archive.add({'epoch': epoch, **fb.evaluate(model, data, data.val_mask)},
                        model.state_dict())
        record, state = archive.best()
        model.load_state_dict(state)
    """

    def __init__(self, rule: Optional[SelectionRule] = None) -> None:
        self.rule = SelectionRule() if rule is None else rule
        self.records: List[Record] = []
        self._kept: Dict[int, tuple] = {}  # epoch -> (record, state)
        self._forced: Dict[int, dict] = {}  # epoch -> state
        self._latest: Optional[tuple] = None  # (epoch, state)

    def add(self, record: Record, state: dict) -> None:
        """Record an epoch and keep a copy of ``state`` while it can still be selected."""
        missing = [k for k in ('epoch', 'acc', 'auc', 'dp', 'eo') if k not in record]
        if missing:
            raise ValueError(f'a selection record needs epoch, acc, auc, dp and eo; this one '
                             f'lacks {", ".join(missing)}')
        epoch = int(record['epoch'])
        copied = _snapshot(state)
        if self.rule.may_win(record, self.records):
            self._forced[epoch] = copied
        self.records.append(dict(record))
        self._latest = (epoch, copied)
        if any(dominates(other, record) for other, _ in self._kept.values()):
            return
        for old in [e for e, (other, _) in self._kept.items() if dominates(record, other)]:
            del self._kept[old]
        self._kept[epoch] = (record, copied)

    def snapshot(self, epoch: int) -> Optional[dict]:
        """The state kept for ``epoch`` (``None`` when it can no longer be selected)."""
        kept = self._kept.get(epoch)
        if kept is not None:
            return kept[1]
        if self._latest is not None and self._latest[0] == epoch:
            return self._latest[1]
        return self._forced.get(epoch)

    def best(self) -> Tuple[Record, dict]:
        """The record ``rule`` selects and its state."""
        epoch = self.rule.select(self.records)
        record = next(r for r in self.records if int(r['epoch']) == epoch)
        return record, self.snapshot(epoch)

    def state_dict(self) -> Dict[str, Any]:
        """Records and snapshots, to save in a checkpoint (``torch.save``)."""
        return {'rule': self.rule.model_dump(), 'records': copy.deepcopy(self.records),
                'kept': {e: state for e, (_, state) in self._kept.items()},
                'forced': dict(self._forced), 'latest': self._latest}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        self.rule = SelectionRule(**state['rule'])
        self.records = copy.deepcopy(state['records'])
        by_epoch = {int(r['epoch']): r for r in self.records}
        self._kept = {int(e): (by_epoch[int(e)], s) for e, s in state['kept'].items()}
        self._forced = {int(e): s for e, s in state['forced'].items()}
        self._latest = state['latest']

    def __len__(self) -> int:
        return len(self._kept)
