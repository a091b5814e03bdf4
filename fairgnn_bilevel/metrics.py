"""Group-fairness and accuracy metrics: small functions, numpy or torch in, float out.

Conventions follow fairlearn: ``sensitive_features`` is keyword-only and may hold any
number of groups; a "difference" is the largest gap between any two groups.  ``y_pred``
of hard labels (0/1) gives the hard metric; probabilities in [0, 1] give the soft one
(the same formula on expected rather than realised predictions).
"""
from __future__ import annotations

from typing import Any, List, Optional, Sequence

import numpy as np
from sklearn.metrics import roc_auc_score

__all__ = ['METRICS', 'accuracy', 'roc_auc', 'demographic_parity_difference',
           'equal_opportunity_difference', 'equalized_odds_difference', 'group_rates',
           'binary_report', 'check_split']


# The four figures of the fair-graph tables: key, label, and +1 where larger is better.
METRICS = (('acc', 'ACC', 1), ('auc', 'AUC', 1), ('dp', 'ΔDP', -1), ('eo', 'ΔEO', -1))


def _as_numpy(values: Any, name: str) -> np.ndarray:
    if hasattr(values, 'detach'):  # torch.Tensor, without importing torch here
        values = values.detach().cpu().numpy()
    array = np.asarray(values)
    if array.ndim == 2 and 1 in array.shape:  # a column vector, e.g. logits of shape [n, 1]
        array = array.reshape(-1)
    if array.ndim != 1:
        raise ValueError(f'{name} must be one-dimensional, got shape {array.shape}')
    return array


def _check_predictions(y_pred: np.ndarray) -> np.ndarray:
    y_pred = y_pred.astype(np.float64)
    if np.isnan(y_pred).any():
        raise ValueError('y_pred contains NaN; pass hard labels (0/1) or probabilities')
    if (y_pred < 0).any() or (y_pred > 1).any():
        raise ValueError('y_pred must hold hard labels (0/1) or probabilities in [0, 1]; '
                         'for logits apply a sigmoid first')
    return y_pred


def _check_binary_labels(y_true: np.ndarray) -> np.ndarray:
    values = np.unique(y_true)
    if not np.isin(values, [0, 1]).all():
        raise ValueError(f'y_true must be binary 0/1, found values {values[:10].tolist()}')
    return y_true.astype(np.int64)


def group_rates(
    y_pred: Any,
    *,
    sensitive_features: Any,
    mask: Optional[Any] = None,
    groups: Optional[Sequence[Any]] = None,
    what: str = 'rows',
) -> dict:
    """Mean of ``y_pred`` within each sensitive group (optionally within ``mask`` only).

    Args:
        y_pred: hard labels or probabilities, shape ``[n]``.
        sensitive_features: group of each row, shape ``[n]``.
        mask: optional boolean row filter applied before grouping (e.g. ``y_true == 1``).
        groups: the groups that must be present; defaults to those in ``sensitive_features``.
        what: how the filtered rows are described in error messages.

    Raises:
        ValueError: if a group has no rows (after ``mask``) or fewer than two groups exist.
    """
    y_pred = _check_predictions(_as_numpy(y_pred, 'y_pred'))
    sens = _as_numpy(sensitive_features, 'sensitive_features')
    if len(sens) != len(y_pred):
        raise ValueError(f'sensitive_features has {len(sens)} rows but y_pred has {len(y_pred)}')
    if sens.dtype.kind == 'f' and np.isnan(sens).any():
        raise ValueError('sensitive_features contains NaN; drop or impute those rows first')
    all_groups = list(np.unique(sens)) if groups is None else list(groups)
    if len(all_groups) < 2:
        raise ValueError(f'a group-fairness metric needs at least two sensitive groups, '
                         f'found {[_py(g) for g in all_groups]}')
    keep = np.ones(len(sens), dtype=bool) if mask is None else _as_numpy(mask, 'mask').astype(bool)
    rates = {}
    for group in all_groups:
        rows = keep & (sens == group)
        if not rows.any():
            raise ValueError(f'sensitive group {_py(group)!r} has no {what}; the metric is '
                             f'undefined (use more data or merge the group)')
        rates[_py(group)] = float(y_pred[rows].mean())
    return rates


def _py(value: Any) -> Any:
    return value.item() if hasattr(value, 'item') else value


def _largest_gap(rates: dict) -> float:
    values = list(rates.values())
    return float(max(values) - min(values))


def accuracy(y_true: Any, y_pred: Any) -> float:
    """Fraction of rows where the hard prediction equals the label."""
    y_true = _as_numpy(y_true, 'y_true')
    y_pred = _as_numpy(y_pred, 'y_pred')
    if len(y_true) != len(y_pred):
        raise ValueError(f'y_true has {len(y_true)} rows but y_pred has {len(y_pred)}')
    return float((y_true == y_pred).mean())


def roc_auc(y_true: Any, y_score: Any) -> float:
    """Area under the ROC curve (scikit-learn's ``roc_auc_score``)."""
    y_true = _check_binary_labels(_as_numpy(y_true, 'y_true'))
    if len(np.unique(y_true)) < 2:
        raise ValueError('ROC AUC needs both classes in y_true; this split holds only one')
    return float(roc_auc_score(y_true, _as_numpy(y_score, 'y_score')))


def demographic_parity_difference(
    y_true: Any, y_pred: Any, *, sensitive_features: Any,
    groups: Optional[Sequence[Any]] = None
) -> float:
    r"""ΔDP: the largest gap in positive-prediction rate between sensitive groups.

    .. math::
        \Delta_{DP} = \max_{a, b} \left| P(\hat{y}=1 \mid s=a) - P(\hat{y}=1 \mid s=b) \right|

    With probabilities as ``y_pred`` this is the soft ΔDP (gap of mean probabilities).
    ``y_true`` is not used (ΔDP needs no labels); it is there, and checked for length, so
    that the signature is fairlearn's.
    """
    if len(_as_numpy(y_true, 'y_true')) != len(_as_numpy(y_pred, 'y_pred')):
        raise ValueError('y_true and y_pred have different numbers of rows')
    return _largest_gap(group_rates(y_pred, sensitive_features=sensitive_features,
                                    groups=groups))


def equal_opportunity_difference(
    y_true: Any, y_pred: Any, *, sensitive_features: Any,
    groups: Optional[Sequence[Any]] = None
) -> float:
    r"""ΔEO (equal opportunity): the largest true-positive-rate gap between groups.

    .. math::
        \Delta_{EO} = \max_{a, b} \left| P(\hat{y}=1 \mid y=1, s=a)
                                       - P(\hat{y}=1 \mid y=1, s=b) \right|

    This is what the fair-graph literature calls ΔEO; for max(TPR gap, FPR gap) use
    :func:`equalized_odds_difference`.
    """
    y_true = _check_binary_labels(_as_numpy(y_true, 'y_true'))
    return _largest_gap(group_rates(y_pred, sensitive_features=sensitive_features,
                                    mask=y_true == 1, groups=groups,
                                    what='positive labels (y_true == 1)'))


def equalized_odds_difference(
    y_true: Any, y_pred: Any, *, sensitive_features: Any,
    groups: Optional[Sequence[Any]] = None
) -> float:
    """Equalized odds: the larger of the true-positive-rate and false-positive-rate gaps."""
    tpr_gap = equal_opportunity_difference(y_true, y_pred, sensitive_features=sensitive_features,
                                           groups=groups)
    y_true = _check_binary_labels(_as_numpy(y_true, 'y_true'))
    fpr_gap = _largest_gap(group_rates(y_pred, sensitive_features=sensitive_features,
                                       mask=y_true == 0, groups=groups,
                                       what='negative labels (y_true == 0)'))
    return max(tpr_gap, fpr_gap)


def binary_report(y_true: Any, y_prob: Any, *, sensitive_features: Any,
                  y_pred: Any = None) -> dict:
    """ACC, AUC, hard ΔDP and hard ΔEO of probabilities thresholded at 0.5, as fractions.

    These are the four figures of the fair-graph tables (keys ``acc``, ``auc``, ``dp``,
    ``eo``), plus ``positive_rate``, the share of rows predicted positive, which tells a
    near-constant predictor (fair only because it predicts one class) from a real one.
    ``y_pred``: hard predictions to use instead of the threshold (a randomized classifier's,
    such as fairlearn's ``ExponentiatedGradient``); AUC still ranks ``y_prob``.
    """
    y_prob = _as_numpy(y_prob, 'y_prob')
    y_hat = (y_prob > 0.5).astype(np.int64) if y_pred is None else _check_predictions(
        _as_numpy(y_pred, 'y_pred'))
    return {
        'acc': accuracy(y_true, y_hat),
        'auc': roc_auc(y_true, y_prob),
        'dp': demographic_parity_difference(y_true, y_hat,
                                            sensitive_features=sensitive_features),
        'eo': equal_opportunity_difference(y_true, y_hat,
                                           sensitive_features=sensitive_features),
        'positive_rate': float(y_hat.mean()),
    }


def check_split(name: str, y_true: Any, *, sensitive_features: Any, evaluated: bool,
                group_names: Optional[Sequence[Any]] = None) -> None:
    """Raise ``ValueError`` if split ``name`` cannot be trained or evaluated on.

    A split needs both labels and at least two sensitive groups; an ``evaluated`` split
    (validation, test) also needs a positive row in every group, or ΔEO is undefined.
    Called before training, so that no run ends in an undefined metric.  ``group_names``:
    the caller's value of each group code, to name groups in the message.
    """
    y_true = _as_numpy(y_true, 'y_true')
    sens = _as_numpy(sensitive_features, 'sensitive_features')
    present = [_py(g) for g in np.unique(sens)]

    def named(groups: List[Any]) -> List[Any]:
        return groups if group_names is None else [_py(group_names[g]) for g in groups]
    if len(present) < 2:
        raise ValueError(f'{name} holds a single sensitive group ({named(present)}); '
                         'group fairness needs at least two in every split')
    labels = [_py(v) for v in np.unique(y_true)]
    if len(labels) < 2:
        raise ValueError(f'{name} holds a single label ({labels}); training and AUC need '
                         'both classes in every split')
    if evaluated:
        without = [g for g in present if not (y_true[sens == g] == 1).any()]
        if without:
            raise ValueError(f'{name}: sensitive group(s) {named(without)} have no positive row, so '
                             'ΔEO is undefined; use a larger split or merge groups')
