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
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence

__all__ = ['SelectionRule', 'RULES', 'ONE_CLASS_SHARE', 'predicts_one_class', 'dominates',
           'ParetoArchive']

RULES = ('tolerance', 'fairgnn', 'dp_budget', 'pareto', 'best_acc', 'last')
ONE_CLASS_SHARE = 0.95
_OBJECTIVES = (('acc', 1), ('auc', 1), ('dp', -1), ('eo', -1))


def predicts_one_class(record: Dict[str, float]) -> bool:
    """Whether more than :data:`ONE_CLASS_SHARE` of the rows get the same prediction."""
    rate = record.get('positive_rate', 0.5)
    return max(rate, 1.0 - rate) > ONE_CLASS_SHARE


def dominates(a: Dict[str, float], b: Dict[str, float]) -> bool:
    """Whether ``a`` is at least as good as ``b`` everywhere and better somewhere.

    A one-class predictor never dominates a two-class one: the default rule may set it
    aside, so it must not evict a snapshot that rule can still select.
    """
    if predicts_one_class(a) and not predicts_one_class(b):
        return False
    better_or_equal = all(sign * a[k] >= sign * b[k] for k, sign in _OBJECTIVES)
    return better_or_equal and any(sign * a[k] > sign * b[k] for k, sign in _OBJECTIVES)


def _tie_break(r: Dict[str, float]) -> tuple:
    return (-r['acc'], -r['auc'], r['dp'], r['eo'], r['epoch'])


@dataclass(frozen=True)
class SelectionRule:
    """A named rule with its parameters; ``select`` returns the winning record's epoch."""

    rule: str = 'tolerance'
    acc_tolerance: float = 0.01
    auc_tolerance: float = 0.02
    min_acc: float = 0.0
    min_auc: float = 0.0
    max_dp: float = 0.03

    def __post_init__(self) -> None:
        if self.rule not in RULES:
            raise ValueError(f'unknown selection rule {self.rule!r}; use one of {RULES}')

    def describe(self) -> str:
        if self.rule == 'tolerance':
            return (f'tolerance: min val ΔDP+ΔEO within {self.acc_tolerance:g} of best val ACC '
                    f'and {self.auc_tolerance:g} of best val AUC')
        if self.rule == 'fairgnn':
            return (f'fairgnn: min val ΔDP+ΔEO with val ACC ≥ {self.min_acc:g} and '
                    f'val AUC ≥ {self.min_auc:g}')
        if self.rule == 'dp_budget':
            return f'dp_budget: max val ACC with val ΔDP ≤ {self.max_dp:g}'
        if self.rule == 'pareto':
            return 'pareto: max val ACC−ΔDP on the (val ACC, val ΔDP) front'
        if self.rule == 'last':
            return 'last: the final epoch'
        return 'best_acc: max val ACC'

    def select(self, records: Sequence[Dict[str, float]]) -> int:
        if not records:
            raise ValueError('no validation records to select from (did training run?)')
        if self.rule == 'last':
            return int(max(r['epoch'] for r in records))
        fairness = lambda r: r['dp'] + r['eo']  # noqa: E731
        if self.rule == 'tolerance':
            records = [r for r in records if not predicts_one_class(r)] or records
            best_acc = max(r['acc'] for r in records)
            best_auc = max(r['auc'] for r in records)
            ranks_well = [r for r in records if r['auc'] >= best_auc - self.auc_tolerance]
            pool = [r for r in ranks_well if r['acc'] >= best_acc - self.acc_tolerance]
            key = lambda r: (fairness(r),) + _tie_break(r)  # noqa: E731
            if not pool:
                pool, key = ranks_well, _tie_break
        elif self.rule == 'fairgnn':
            pool = [r for r in records if r['acc'] >= self.min_acc and r['auc'] >= self.min_auc]
            key = lambda r: (fairness(r),) + _tie_break(r)  # noqa: E731
            if not pool:
                pool, key = list(records), _tie_break
        elif self.rule == 'dp_budget':
            pool, key = [r for r in records if r['dp'] <= self.max_dp], _tie_break
            if not pool:
                pool, key = list(records), lambda r: (r['dp'],) + _tie_break(r)  # noqa: E731
        elif self.rule == 'pareto':
            pool = [r for r in records if not any(
                o['acc'] >= r['acc'] and o['dp'] <= r['dp']
                and (o['acc'] > r['acc'] or o['dp'] < r['dp']) for o in records)]
            key = lambda r: (-(r['acc'] - r['dp']),) + _tie_break(r)  # noqa: E731
        else:
            pool, key = list(records), _tie_break
        return int(min(pool, key=key)['epoch'])


class ParetoArchive:
    """Validation records of every epoch, plus snapshots of the non-dominated ones."""

    def __init__(self) -> None:
        self.records: List[Dict[str, float]] = []
        self._kept: Dict[int, tuple] = {}  # epoch -> (record, state)

    def add(self, record: Dict[str, float], state: dict) -> None:
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
