"""Group-fairness and accuracy metrics: small functions, numpy or torch in, float out.

The hard metrics are drop-ins for fairlearn's of the same names: the same arguments
(``sensitive_features`` keyword-only, ``method='between_groups'|'to_overall'``,
``sample_weight``; ``agg`` for equalized odds) and the same values on every input fairlearn
accepts — a prediction counts as positive when it equals 1, as in fairlearn, so
probabilities belong in the soft variants (``soft_demographic_parity_difference``,
``soft_equal_opportunity_difference``: the same gaps of mean probabilities).  Any number of
groups: ``between_groups`` is the largest gap between two of them.
"""
from __future__ import annotations

from typing import Any, List, Optional, Sequence, Tuple

import numpy as np
from sklearn.metrics import roc_auc_score

__all__ = ['METRICS', 'accuracy', 'roc_auc', 'demographic_parity_difference',
           'equal_opportunity_difference', 'equalized_odds_difference',
           'soft_demographic_parity_difference', 'soft_equal_opportunity_difference',
           'group_rates', 'binary_report', 'check_split']


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
    sample_weight: Optional[Any] = None,
) -> dict:
    """(Weighted) mean of ``y_pred`` within each sensitive group; ``mask`` keeps only some
    rows (e.g. ``y_true == 1``).

    Args:
        y_pred: values to average (0/1 indicators or probabilities), shape ``[n]``.
        sensitive_features: group of each row, shape ``[n]``.
        groups: the groups that must be present; defaults to those in ``sensitive_features``.
        what: how the kept rows are described in error messages.

    Raises:
        ValueError: if a group has no rows (after ``mask``) or fewer than two groups exist.
    """
    return _group_means(y_pred, sensitive_features, mask, groups, what, sample_weight)[0]


def _group_means(y_pred: Any, sensitive_features: Any, mask: Optional[Any],
                 groups: Optional[Sequence[Any]], what: str, sample_weight: Optional[Any]
                 ) -> Tuple[dict, float]:
    """:func:`group_rates`, and the same mean over all kept rows."""
    y_pred = _check_predictions(_as_numpy(y_pred, 'y_pred'))
    sens = _as_numpy(sensitive_features, 'sensitive_features')
    if len(sens) != len(y_pred):
        raise ValueError(f'sensitive_features has {len(sens)} rows but y_pred has {len(y_pred)}')
    if sens.dtype.kind == 'f' and np.isnan(sens).any():
        raise ValueError('sensitive_features contains NaN; drop or impute those rows first')
    weight = (np.ones(len(sens)) if sample_weight is None
              else _as_numpy(sample_weight, 'sample_weight').astype(np.float64))
    if len(weight) != len(sens):
        raise ValueError(f'sample_weight has {len(weight)} rows but y_pred has {len(y_pred)}')
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
        rates[_py(group)] = float(np.average(y_pred[rows], weights=weight[rows]))
    return rates, float(np.average(y_pred[keep], weights=weight[keep]))


def _py(value: Any) -> Any:
    return value.item() if hasattr(value, 'item') else value


METHODS = ('between_groups', 'to_overall')


def _difference(means: Tuple[dict, float], method: str) -> float:
    """fairlearn's ``difference`` of (per-group means, overall mean): the largest gap
    between two groups, or the largest gap between a group and all rows."""
    rates, overall = means
    values = list(rates.values())
    if method == 'between_groups':
        return float(max(values) - min(values))
    if method == 'to_overall':
        return float(max(abs(v - overall) for v in values))
    raise ValueError(f'method must be one of {", ".join(METHODS)}, got {method!r}')


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


def _positive(y_pred: Any) -> np.ndarray:
    # fairlearn's selection: a prediction equal to the positive label 1
    return (_as_numpy(y_pred, 'y_pred') == 1).astype(np.float64)


def _rates(y_true: Any, values: Any, kind: str, *, sensitive_features: Any,
           groups: Optional[Sequence[Any]], sample_weight: Optional[Any]
           ) -> Tuple[dict, float]:
    """Per-group means of ``values`` on all rows (``kind='selection'``), positive rows
    (``'tpr'``) or negative rows (``'fpr'``)."""
    y_true = _as_numpy(y_true, 'y_true')
    if len(y_true) != len(_as_numpy(values, 'y_pred')):
        raise ValueError('y_true and y_pred have different numbers of rows')
    if kind == 'selection':
        mask, what = None, 'rows'
    else:
        y_true = _check_binary_labels(y_true)
        mask, what = ((y_true == 1, 'positive labels (y_true == 1)') if kind == 'tpr' else
                      (y_true == 0, 'negative labels (y_true == 0)'))
    return _group_means(values, sensitive_features, mask, groups, what, sample_weight)


def demographic_parity_difference(
    y_true: Any, y_pred: Any, *, sensitive_features: Any, method: str = 'between_groups',
    sample_weight: Optional[Any] = None, groups: Optional[Sequence[Any]] = None
) -> float:
    r"""ΔDP: the largest gap in positive-prediction rate between sensitive groups.

    .. math::
        \Delta_{DP} = \max_{a, b} \left| P(\hat{y}=1 \mid s=a) - P(\hat{y}=1 \mid s=b) \right|

    fairlearn's function: ``y_true`` is not used (ΔDP needs no labels) but checked for
    length; ``groups``: the groups that must be present.
    """
    return _difference(_rates(y_true, _positive(y_pred), 'selection',
                              sensitive_features=sensitive_features, groups=groups,
                              sample_weight=sample_weight), method)


def equal_opportunity_difference(
    y_true: Any, y_pred: Any, *, sensitive_features: Any, method: str = 'between_groups',
    sample_weight: Optional[Any] = None, groups: Optional[Sequence[Any]] = None
) -> float:
    r"""ΔEO (equal opportunity): the largest true-positive-rate gap between groups.

    .. math::
        \Delta_{EO} = \max_{a, b} \left| P(\hat{y}=1 \mid y=1, s=a)
                                       - P(\hat{y}=1 \mid y=1, s=b) \right|

    What the fair-graph literature calls ΔEO; for max(TPR gap, FPR gap) use
    :func:`equalized_odds_difference`.
    """
    return _difference(_rates(y_true, _positive(y_pred), 'tpr',
                              sensitive_features=sensitive_features, groups=groups,
                              sample_weight=sample_weight), method)


def equalized_odds_difference(
    y_true: Any, y_pred: Any, *, sensitive_features: Any, method: str = 'between_groups',
    sample_weight: Optional[Any] = None, agg: str = 'worst_case',
    groups: Optional[Sequence[Any]] = None
) -> float:
    """Equalized odds: the larger (``agg='worst_case'``) or the mean (``'mean'``) of the
    true-positive-rate and false-positive-rate gaps."""
    if agg not in ('worst_case', 'mean'):
        raise ValueError(f"agg must be 'worst_case' or 'mean', got {agg!r}")
    gaps = [_difference(_rates(y_true, _positive(y_pred), kind,
                               sensitive_features=sensitive_features, groups=groups,
                               sample_weight=sample_weight), method) for kind in ('tpr', 'fpr')]
    return max(gaps) if agg == 'worst_case' else float(np.mean(gaps))


def soft_demographic_parity_difference(
    y_true: Any, y_prob: Any, *, sensitive_features: Any, method: str = 'between_groups',
    sample_weight: Optional[Any] = None
) -> float:
    """The soft ΔDP: :func:`demographic_parity_difference` on probabilities, the gap of
    the groups' mean predicted probability (expected rather than realised predictions)."""
    return _difference(_rates(y_true, y_prob, 'selection', sensitive_features=sensitive_features,
                              groups=None, sample_weight=sample_weight), method)


def soft_equal_opportunity_difference(
    y_true: Any, y_prob: Any, *, sensitive_features: Any, method: str = 'between_groups',
    sample_weight: Optional[Any] = None
) -> float:
    """The soft ΔEO: the gap of the groups' mean predicted probability on positive rows."""
    return _difference(_rates(y_true, y_prob, 'tpr', sensitive_features=sensitive_features,
                              groups=None, sample_weight=sample_weight), method)


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
            raise ValueError(f'{name}: sensitive group(s) {named(without)} have no positive '
                             'row, so ΔEO is undefined; use a larger split or merge groups')
