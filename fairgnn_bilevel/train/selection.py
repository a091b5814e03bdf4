"""Model selection on validation metrics, with snapshots of only the epochs that can win.

Every rule picks the best epoch under a sort key over the validation metrics; each key
breaks ties so that its winner is never dominated in (acc↑, auc↑, dp↓, eo↓).  The loop
therefore only keeps parameter snapshots of the non-dominated epochs (:class:`ParetoArchive`)
instead of one per epoch.

Rules:

* ``tolerance`` (default): among epochs whose val ACC is within ``acc_tolerance`` of the
  best val ACC of the run *and* whose val AUC is within ``auc_tolerance`` of the best val
  AUC, the smallest val ΔDP + ΔEO; if no epoch meets both, the largest val ACC among
  epochs within ``auc_tolerance`` of the best AUC.  Epochs that predict one class for more
  than :data:`ONE_CLASS_SHARE` of the validation rows are left out whenever another epoch
  exists: on weak-signal graphs such near-constant predictors have the best accuracy (the
  majority rate) and look fair because they hardly separate anyone.
* ``fairgnn``: FairGNN's rule — among epochs with val ACC ≥ ``min_acc`` and val AUC ≥
  ``min_auc``, the smallest val ΔDP + ΔEO (falls back to ``best_acc`` if none qualifies).
* ``dp_budget``: the largest val ACC among epochs with val ΔDP ≤ ``max_dp`` (falls back
  to the smallest val ΔDP if none qualifies).
* ``pareto``: among epochs non-dominated on (val ACC, val ΔDP), the largest ACC − ΔDP.
* ``best_acc``: the largest val ACC.
* ``last``: the final epoch (no selection).

Ties are broken by the higher ACC, then AUC, then the earlier epoch.

A record may carry ``positive_rate`` (the share of rows predicted positive); a record
without it counts as predicting both classes.
"""
from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass
from typing import Callable, Dict, List, NamedTuple, Optional, Sequence, Tuple, TypeVar

T = TypeVar('T')

__all__ = ['SelectionRule', 'RULES', 'ONE_CLASS_SHARE', 'predicts_one_class', 'dominates',
           'pareto_front', 'ParetoArchive']

ONE_CLASS_SHARE = 0.95
_OBJECTIVES = (('acc', 1), ('auc', 1), ('dp', -1), ('eo', -1))
Record = Dict[str, float]


def predicts_one_class(record: Record) -> bool:
    """Whether more than :data:`ONE_CLASS_SHARE` of the rows get the same prediction."""
    rate = record.get('positive_rate', 0.5)
    return max(rate, 1.0 - rate) > ONE_CLASS_SHARE


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


def _tie_break(r: Record) -> tuple:
    return (-r['acc'], -r['auc'], r['dp'], r['eo'], r['epoch'])


def _fairest(r: Record) -> tuple:
    return (r['dp'] + r['eo'],) + _tie_break(r)


# Each rule: (the records, its parameters) -> (the records it may pick from, a sort key).
def _tolerance(records: Sequence[Record], p: 'SelectionRule'):
    records = [r for r in records if not predicts_one_class(r)] or records
    best_acc = max(r['acc'] for r in records)
    best_auc = max(r['auc'] for r in records)
    ranks_well = [r for r in records if r['auc'] >= best_auc - p.auc_tolerance]
    pool = [r for r in ranks_well if r['acc'] >= best_acc - p.acc_tolerance]
    return (pool, _fairest) if pool else (ranks_well, _tie_break)


def _fairgnn(records: Sequence[Record], p: 'SelectionRule'):
    pool = [r for r in records if r['acc'] >= p.min_acc and r['auc'] >= p.min_auc]
    return (pool, _fairest) if pool else (records, _tie_break)


def _dp_budget(records: Sequence[Record], p: 'SelectionRule'):
    pool = [r for r in records if r['dp'] <= p.max_dp]
    return (pool, _tie_break) if pool else (records, lambda r: (r['dp'],) + _tie_break(r))


def _pareto(records: Sequence[Record], p: 'SelectionRule'):
    front = pareto_front(records, key=lambda r: (r['acc'], -r['dp']))
    return front, lambda r: (-(r['acc'] - r['dp']),) + _tie_break(r)


def _best_acc(records: Sequence[Record], p: 'SelectionRule'):
    return records, _tie_break


def _last(records: Sequence[Record], p: 'SelectionRule'):
    return records, lambda r: -r['epoch']


class Rule(NamedTuple):
    pick: Callable[[Sequence[Record], 'SelectionRule'], Tuple[Sequence[Record], Callable]]
    description: str  # formatted with the SelectionRule's fields


RULES: Dict[str, Rule] = {
    'tolerance': Rule(_tolerance, 'tolerance: min val ΔDP+ΔEO within {acc_tolerance:g} of best '
                                  'val ACC and {auc_tolerance:g} of best val AUC'),
    'fairgnn': Rule(_fairgnn, 'fairgnn: min val ΔDP+ΔEO with val ACC ≥ {min_acc:g} and '
                              'val AUC ≥ {min_auc:g}'),
    'dp_budget': Rule(_dp_budget, 'dp_budget: max val ACC with val ΔDP ≤ {max_dp:g}'),
    'pareto': Rule(_pareto, 'pareto: max val ACC−ΔDP on the (val ACC, val ΔDP) front'),
    'best_acc': Rule(_best_acc, 'best_acc: max val ACC'),
    'last': Rule(_last, 'last: the final epoch'),
}


@dataclass(frozen=True)
class SelectionRule:
    """A named rule of :data:`RULES` with its parameters; ``select`` returns the winning
    record's epoch."""

    rule: str = 'tolerance'
    acc_tolerance: float = 0.01
    auc_tolerance: float = 0.02
    min_acc: float = 0.0
    min_auc: float = 0.0
    max_dp: float = 0.03

    def __post_init__(self) -> None:
        if self.rule not in RULES:
            raise ValueError(f'unknown selection rule {self.rule!r}; use one of '
                             f'{", ".join(RULES)}')

    def describe(self) -> str:
        return RULES[self.rule].description.format(**dataclasses.asdict(self))

    def select(self, records: Sequence[Record]) -> int:
        if not records:
            raise ValueError('no validation records to select from (did training run?)')
        pool, key = RULES[self.rule].pick(records, self)
        return int(min(pool, key=key)['epoch'])


class ParetoArchive:
    """Validation records of every epoch, plus snapshots of the non-dominated ones."""

    def __init__(self) -> None:
        self.records: List[Record] = []
        self._kept: Dict[int, tuple] = {}  # epoch -> (record, state)

    def add(self, record: Record, state: dict) -> None:
        self.records.append(record)
        if any(dominates(other, record) for other, _ in self._kept.values()):
            return
        for epoch in [e for e, (other, _) in self._kept.items() if dominates(record, other)]:
            del self._kept[epoch]
        self._kept[int(record['epoch'])] = (record, copy.deepcopy(state))

    def snapshot(self, epoch: int) -> Optional[dict]:
        kept = self._kept.get(epoch)
        return None if kept is None else kept[1]

    def __len__(self) -> int:
        return len(self._kept)
