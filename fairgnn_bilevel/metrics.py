r"""Group-fairness and accuracy metrics: small functions, numpy or torch in, float out.

The hard metrics are drop-ins for fairlearn's of the same names: the same arguments
(``sensitive_features`` keyword-only, ``method='between_groups'|'to_overall'``,
``sample_weight``; ``agg`` for equalized odds) and the same values on every binary input
fairlearn accepts — a prediction counts as positive when it equals 1, as in fairlearn, so
probabilities belong in the soft variants (``soft_demographic_parity_difference``,
``soft_equal_opportunity_difference``: the same gaps of mean probabilities).  Any number of
groups: ``between_groups`` is the largest gap between two of them.  Several sensitive
columns (``sensitive_features`` of shape ``[n, k]``) define intersectional groups, named by
the tuple of their values, as fairlearn's ``MetricFrame`` forms them.

Classes: labels and predictions holding values other than 0 and 1, or ``labels`` naming
more than two classes, are multi-class, and each metric is the largest of its one-vs-rest
values over the classes — ΔDP the largest gap in :math:`P(\hat{y} = c \mid s)`, ΔEO the
largest gap in :math:`P(\hat{y} = c \mid y = c, s)`; the soft variants take
probabilities of shape ``[n, C]``.  Two classes are the binary definitions: the outcome is
the second class (1).  Pass ``labels`` when a split may not show every class.
"""
from __future__ import annotations

import warnings
from typing import Any, List, Optional, Sequence, Tuple

import numpy as np
from sklearn.metrics import roc_auc_score

__all__ = ['METRICS', 'accuracy', 'f1', 'roc_auc', 'demographic_parity_difference',
           'equal_opportunity_difference', 'equalized_odds_difference',
           'soft_demographic_parity_difference', 'soft_equal_opportunity_difference',
           'group_rates', 'false_positive_rates', 'intersections', 'binary_report',
           'fairness_report', 'check_split',
           'MIN_GROUP_ROWS', 'DataWarning', 'group_order']


# The fewest rows of a group (and positive rows of a group) that an evaluated split may
# hold: with one row, a group's rate is 0 or 1 whatever the model does.
MIN_GROUP_ROWS = 2


class DataWarning(UserWarning):
    """The data can be trained on, but something in it makes results say less than they
    seem (a class the training rows lack)."""


# The four figures of the fair-graph tables: key, label, and +1 where larger is better.
METRICS = (('acc', 'ACC', 1), ('auc', 'AUC', 1), ('dp', 'ΔDP', -1), ('eo', 'ΔEO', -1))


def _as_numpy(values: Any, name: str, columns: bool = False) -> np.ndarray:
    """``values`` as a numpy array of shape ``[n]``, or ``[n, k]`` where ``columns``."""
    if hasattr(values, 'detach'):  # torch.Tensor, without importing torch here
        values = values.detach().cpu().numpy()
    array = np.asarray(values)
    if array.ndim == 2 and array.shape[1] == 1:  # a column vector, e.g. logits [n, 1]
        array = array.reshape(-1)
    if array.ndim != 1 and not (columns and array.ndim == 2):
        raise ValueError(f'{name} must be one-dimensional{" or [n, k]" if columns else ""}, '
                         f'got shape {array.shape}')
    return array


def _groups_of(sensitive_features: Any) -> Tuple[np.ndarray, List[Any]]:
    """(code of each row's group, name of each code): the values of one sensitive column,
    or the tuples of several columns' values (intersectional groups), in sorted order."""
    sens = _as_numpy(sensitive_features, 'sensitive_features', columns=True)
    if sens.dtype.kind == 'f' and np.isnan(sens).any():
        raise ValueError('sensitive_features contains NaN; drop or impute those rows first')
    if sens.ndim == 1:
        names, codes = np.unique(sens, return_inverse=True)
        return codes.reshape(-1), [_py(name) for name in names]
    return intersections(sens)


def intersections(rows: Any) -> Tuple[np.ndarray, List[tuple]]:
    """The intersectional groups of several sensitive columns, as fairlearn forms them.

    Args:
        rows: the sensitive values of each row, shape ``[n, k]``, any column types.

    Returns:
        (code of each row's group ``[n]``; the distinct rows as tuples of values, in
        :func:`group_order`).
    """
    keys = [tuple(_py(v) for v in row) for row in rows]
    names = sorted(set(keys), key=group_order)
    code_of = {name: code for code, name in enumerate(names)}
    return np.array([code_of[key] for key in keys], dtype=np.int64), names


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


def false_positive_rates(y_true: Any, y_pred: Any, *, sensitive_features: Any) -> dict:
    """Each group's false-positive rate P(ŷ = 1 | y = 0, s), binary labels, for the groups
    with negative rows: beside ΔDP it tells a fair model from one that reaches a small gap
    by predicting nearly everyone positive (fairlearn's ``false_positive_rate`` per group
    of a ``MetricFrame``)."""
    y_true = _check_binary_labels(_as_numpy(y_true, 'y_true'))
    codes, names = _groups_of(sensitive_features)
    negative = y_true == 0
    kept = [name for code, name in enumerate(names) if (negative & (codes == code)).any()]
    return group_rates(_check_predictions(_as_numpy(y_pred, 'y_pred')),
                       sensitive_features=sensitive_features, mask=negative, groups=kept,
                       what='negative rows') if len(kept) >= 2 else {}


def _group_means(y_pred: Any, sensitive_features: Any, mask: Optional[Any],
                 groups: Optional[Sequence[Any]], what: str, sample_weight: Optional[Any]
                 ) -> Tuple[dict, float]:
    """:func:`group_rates`, and the same mean over all kept rows."""
    y_pred = _check_predictions(_as_numpy(y_pred, 'y_pred'))
    codes, names = _groups_of(sensitive_features)
    if len(codes) != len(y_pred):
        raise ValueError(f'sensitive_features has {len(codes)} rows but y_pred has '
                         f'{len(y_pred)}')
    weight = (np.ones(len(codes)) if sample_weight is None
              else _as_numpy(sample_weight, 'sample_weight').astype(np.float64))
    if len(weight) != len(codes):
        raise ValueError(f'sample_weight has {len(weight)} rows but y_pred has {len(y_pred)}')
    all_groups = names if groups is None else [_py(g) if not isinstance(g, tuple) else
                                               tuple(_py(v) for v in g) for g in groups]
    if len(all_groups) < 2:
        raise ValueError(f'a group-fairness metric needs at least two sensitive groups, '
                         f'found {all_groups}')
    keep = np.ones(len(codes), dtype=bool) if mask is None else _as_numpy(mask, 'mask').astype(bool)
    code_of = {name: code for code, name in enumerate(names)}
    rates = {}
    for group in all_groups:
        rows = keep & (codes == code_of.get(group, -1))
        if not rows.any():
            raise ValueError(f'sensitive group {group!r} has no {what}; the metric is '
                             f'undefined (use more data or merge the group)')
        rates[group] = float(np.average(y_pred[rows], weights=weight[rows]))
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


def f1(y_true: Any, y_pred: Any, *, labels: Optional[Sequence[Any]] = None) -> float:
    """F1 of the positive class (label 1) of binary predictions, or with ``labels`` (three
    or more classes) the macro F1, the unweighted mean over classes; 0 where a class is
    never predicted nor present (as scikit-learn's ``f1_score`` with ``zero_division=0``;
    computed here with counts, as it runs at every epoch).
    On an imbalanced graph it shows what accuracy hides: predicting the majority class
    everywhere keeps accuracy at the majority share and drops F1 (or macro F1) sharply."""
    y_true = _as_numpy(y_true, 'y_true')
    y_pred = _as_numpy(y_pred, 'y_pred')
    if len(y_true) != len(y_pred):
        raise ValueError(f'y_true has {len(y_true)} rows but y_pred has {len(y_pred)}')
    def one(label: Any) -> float:  # 2 TP / (2 TP + FP + FN)
        true, pred = y_true == label, y_pred == label
        both = 2 * np.count_nonzero(true & pred)
        total = np.count_nonzero(true) + np.count_nonzero(pred)
        return both / total if total else 0.0
    return float(one(1) if labels is None else np.mean([one(label) for label in labels]))


def _classes(y_true: np.ndarray, labels: Optional[Sequence[Any]],
             y_pred: Optional[np.ndarray] = None) -> Optional[List[Any]]:
    """The classes of a multi-class metric, or ``None`` for the binary case (``y_true``
    and the hard predictions ``y_pred`` of 0s and 1s, or two ``labels``)."""
    seen = {'y_true': np.unique(y_true)}
    if y_pred is not None:
        predicted = np.unique(y_pred)
        # fractional values are no class: they count as not positive, as in fairlearn
        seen['y_pred'] = [v for v in predicted if not isinstance(_py(v), float)
                          or float(v).is_integer()]
    if labels is None:  # a predicted class no label holds still makes the task multi-class
        values = sorted({_py(v) for found in seen.values() for v in found}, key=_order)
        if set(values) <= {0, 1}:
            return None
        return values
    labels = [_py(v) for v in labels]
    if len(set(labels)) != len(labels) or len(labels) < 2:
        raise ValueError(f'labels must name at least two distinct classes, got {labels}')
    for name, found in seen.items():
        unknown = sorted(set(_py(v) for v in found) - set(labels), key=str)
        if unknown:
            raise ValueError(f'{name} holds values {unknown[:10]} that are not in labels '
                             f'{labels}')
    return labels


def _order(value: Any) -> tuple:
    """Sort key of values of mixed types: numbers by value, then text."""
    return (0, value, '') if isinstance(value, (int, float)) else (1, 0, str(value))


def group_order(key: tuple) -> tuple:
    """The one order of intersectional groups everywhere (metrics, ``fit``, the
    estimator): tuples compared value by value, numbers by value (``(2, 0)`` before
    ``(10, 0)``) and before text."""
    return tuple(_order(v) for v in key)


def _outcomes(classes: List[Any]) -> List[Any]:
    """The classes whose one-vs-rest gaps a metric takes: the second of two, else all."""
    return classes[1:] if len(classes) == 2 else classes


def binary_roc_auc(positive: np.ndarray, scores: np.ndarray) -> float:
    """The binary ROC AUC of ``scores`` for rows where ``positive`` (bool ``[n]``, both
    values present), computed as scikit-learn's ``roc_auc_score`` computes it — the ROC
    curve's points at each distinct score, collinear points dropped, the trapezoid rule —
    without its input validation, which costs more than the sum on small graphs (the
    runner evaluates every epoch)."""
    order = np.argsort(scores, kind='stable')[::-1]
    ranked = scores[order]
    # the last row of each run of equal scores: where the curve has a point
    ends = np.r_[np.flatnonzero(np.diff(ranked)), len(ranked) - 1]
    tps = np.cumsum(positive[order].astype(np.float64))[ends]
    fps = 1 + ends - tps
    if len(fps) > 2:
        keep = np.r_[True, np.logical_or(np.diff(fps, 2), np.diff(tps, 2)), True]
        fps, tps = fps[keep], tps[keep]
    fpr, tpr = np.r_[0.0, fps] / fps[-1], np.r_[0.0, tps] / tps[-1]
    return float((np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2.0).sum())


def roc_auc(y_true: Any, y_score: Any, *, labels: Optional[Sequence[Any]] = None) -> float:
    """Area under the ROC curve (scikit-learn's ``roc_auc_score``); for ``y_score`` of
    shape ``[n, C]`` with ``C >= 3`` the macro average of the one-vs-rest AUCs
    (``multi_class='ovr'``), ``labels`` naming the columns (default ``0 .. C-1``); two
    columns are the binary AUC of the second."""
    y_true = _as_numpy(y_true, 'y_true')
    scores = _as_numpy(y_score, 'y_score', columns=True)
    _check_scores(y_true, scores)
    if scores.ndim == 2:
        classes = list(range(scores.shape[1])) if labels is None else [_py(v) for v in labels]
        if len(classes) != scores.shape[1]:
            raise ValueError(f'y_score has {scores.shape[1]} columns but labels names '
                             f'{len(classes)} classes')
        missing = [c for c in classes if not (y_true == c).any()]
        if missing:
            raise ValueError(f'ROC AUC needs every class in y_true; this split holds no row of '
                             f'class(es) {missing}')
        if len(classes) == 2:
            return binary_roc_auc(y_true == classes[1], scores[:, 1])
        return float(roc_auc_score(y_true, scores, multi_class='ovr', average='macro',
                                   labels=classes))
    y_true = _check_binary_labels(y_true)
    if len(np.unique(y_true)) < 2:
        raise ValueError('ROC AUC needs both classes in y_true; this split holds only one')
    return binary_roc_auc(y_true == 1, scores)


def _check_scores(y_true: np.ndarray, scores: np.ndarray) -> None:
    if len(y_true) != len(scores):
        raise ValueError(f'y_true has {len(y_true)} rows but y_score has {len(scores)}')
    if not np.isfinite(scores).all():
        raise ValueError('y_score holds NaN or infinite values; a model that produces them '
                         'has diverged (lower the learning rate)')


def _gap(y_true: Any, values: Any, kind: str, method: str, *, sensitive_features: Any,
         groups: Optional[Sequence[Any]], sample_weight: Optional[Any],
         outcome: Any = 1, binary: bool = True) -> float:
    """The ``method`` gap of the per-group means of ``values`` on all rows
    (``kind='selection'``), the rows of class ``outcome`` (``'tpr'``) or the others
    (``'fpr'``); ``binary``: 0/1 labels, named positive and negative in errors."""
    y_true = _as_numpy(y_true, 'y_true')
    if len(y_true) != len(_as_numpy(values, 'y_pred')):
        raise ValueError('y_true and y_pred have different numbers of rows')
    if kind == 'selection':
        mask, what = None, 'rows'
    elif binary:
        mask, what = ((y_true == 1, 'positive labels (y_true == 1)') if kind == 'tpr' else
                      (y_true == 0, 'negative labels (y_true == 0)'))
    else:
        mask, what = ((y_true == outcome, f'rows of class {outcome!r}') if kind == 'tpr' else
                      (y_true != outcome, f'rows outside class {outcome!r}'))
    return _difference(_group_means(values, sensitive_features, mask, groups, what,
                                    sample_weight), method)


def _hard_gap(kinds: Tuple[str, ...], y_true: Any, y_pred: Any, labels, **options
              ) -> List[float]:
    """The gaps of ``kinds`` of the hard predictions, for each outcome class (fairlearn's
    positive label 1 in the binary case): a list, one per class, of lists, one per kind."""
    predicted = _as_numpy(y_pred, 'y_pred')
    classes = _classes(_as_numpy(y_true, 'y_true'), labels, predicted)  # None: all 0/1
    return [[_gap(y_true, (predicted == c).astype(np.float64), kind, outcome=c,
                  binary=classes is None, **options)
             for kind in kinds] for c in ([1] if classes is None else _outcomes(classes))]


def demographic_parity_difference(
    y_true: Any, y_pred: Any, *, sensitive_features: Any, method: str = 'between_groups',
    sample_weight: Optional[Any] = None, groups: Optional[Sequence[Any]] = None,
    labels: Optional[Sequence[Any]] = None
) -> float:
    r"""ΔDP: the largest gap in positive-prediction rate between sensitive groups.

    .. math::
        \Delta_{DP} = \max_{a, b} \left| P(\hat{y}=1 \mid s=a) - P(\hat{y}=1 \mid s=b) \right|

    fairlearn's function: ``y_true`` is not used in the binary case (ΔDP needs no labels)
    but checked for length; ``groups``: the groups that must be present.  Multi-class
    (see the module docstring): the largest over classes :math:`c` of the gap in
    :math:`P(\hat{y}=c \mid s)`.
    """
    gaps = _hard_gap(('selection',), y_true, y_pred, labels,
                     sensitive_features=sensitive_features, groups=groups,
                     sample_weight=sample_weight, method=method)
    return max(gap for (gap,) in gaps)


def equal_opportunity_difference(
    y_true: Any, y_pred: Any, *, sensitive_features: Any, method: str = 'between_groups',
    sample_weight: Optional[Any] = None, groups: Optional[Sequence[Any]] = None,
    labels: Optional[Sequence[Any]] = None
) -> float:
    r"""ΔEO (equal opportunity): the largest true-positive-rate gap between groups.

    .. math::
        \Delta_{EO} = \max_{a, b} \left| P(\hat{y}=1 \mid y=1, s=a)
                                       - P(\hat{y}=1 \mid y=1, s=b) \right|

    What the fair-graph literature calls ΔEO; for max(TPR gap, FPR gap) use
    :func:`equalized_odds_difference`.  Multi-class: the largest over classes :math:`c`
    of the gap in :math:`P(\hat{y}=c \mid y=c, s)`.
    """
    gaps = _hard_gap(('tpr',), y_true, y_pred, labels, sensitive_features=sensitive_features,
                     groups=groups, sample_weight=sample_weight, method=method)
    return max(gap for (gap,) in gaps)


def equalized_odds_difference(
    y_true: Any, y_pred: Any, *, sensitive_features: Any, method: str = 'between_groups',
    sample_weight: Optional[Any] = None, agg: str = 'worst_case',
    groups: Optional[Sequence[Any]] = None, labels: Optional[Sequence[Any]] = None
) -> float:
    """Equalized odds: the larger (``agg='worst_case'``) or the mean (``'mean'``) of the
    true-positive-rate and false-positive-rate gaps; multi-class: the largest over classes
    of that class's one-vs-rest value."""
    if agg not in ('worst_case', 'mean'):
        raise ValueError(f"agg must be 'worst_case' or 'mean', got {agg!r}")
    gaps = _hard_gap(('tpr', 'fpr'), y_true, y_pred, labels,
                     sensitive_features=sensitive_features, groups=groups,
                     sample_weight=sample_weight, method=method)
    return max(max(pair) if agg == 'worst_case' else float(np.mean(pair)) for pair in gaps)


def _soft_gap(kind: str, y_true: Any, y_prob: Any, labels: Optional[Sequence[Any]],
              **options: Any) -> float:
    probs = _as_numpy(y_prob, 'y_prob', columns=True)
    if probs.ndim == 1:
        if kind == 'tpr':
            _check_binary_labels(_as_numpy(y_true, 'y_true'))
        return _gap(y_true, probs, kind, groups=None, **options)
    classes = list(range(probs.shape[1])) if labels is None else [_py(v) for v in labels]
    if len(classes) != probs.shape[1]:
        raise ValueError(f'y_prob has {probs.shape[1]} columns but labels names '
                         f'{len(classes)} classes')
    return max(_gap(y_true, probs[:, classes.index(c)], kind, groups=None, outcome=c,
                    binary=False, **options) for c in _outcomes(classes))


def soft_demographic_parity_difference(
    y_true: Any, y_prob: Any, *, sensitive_features: Any, method: str = 'between_groups',
    sample_weight: Optional[Any] = None, labels: Optional[Sequence[Any]] = None
) -> float:
    """The soft ΔDP: :func:`demographic_parity_difference` on probabilities, the gap of
    the groups' mean predicted probability (expected rather than realised predictions);
    ``y_prob`` of shape ``[n, C]``: the largest such gap over classes (columns named by
    ``labels``, default ``0 .. C-1``; of two columns the second)."""
    return _soft_gap('selection', y_true, y_prob, labels, method=method,
                     sensitive_features=sensitive_features, sample_weight=sample_weight)


def soft_equal_opportunity_difference(
    y_true: Any, y_prob: Any, *, sensitive_features: Any, method: str = 'between_groups',
    sample_weight: Optional[Any] = None, labels: Optional[Sequence[Any]] = None
) -> float:
    """The soft ΔEO: the gap of the groups' mean predicted probability on positive rows;
    ``y_prob`` of shape ``[n, C]``: the largest over classes of the gap in the mean
    probability of class ``c`` on the rows of class ``c``."""
    return _soft_gap('tpr', y_true, y_prob, labels, method=method,
                     sensitive_features=sensitive_features, sample_weight=sample_weight)


def binary_report(y_true: Any, y_prob: Any, *, sensitive_features: Any,
                  y_pred: Any = None) -> dict:
    """ACC, AUC, hard ΔDP and hard ΔEO of probabilities thresholded at 0.5, as fractions.

    These are the four figures of the fair-graph tables (keys ``acc``, ``auc``, ``dp``,
    ``eo``), plus ``f1`` (of the positive class) and ``positive_rate``, the share of rows
    predicted positive, which tell a near-constant predictor (fair only because it predicts
    one class) from a real one.
    ``fpr_by_group`` maps each group (as text: records are JSON) to its false-positive rate
    (:func:`false_positive_rates`), the other half of that story.
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
        'f1': f1(y_true, y_hat),
        'positive_rate': float(y_hat.mean()),
        'fpr_by_group': {str(group): rate for group, rate in false_positive_rates(
            y_true, y_hat, sensitive_features=sensitive_features).items()},
    }


def fairness_report(y_true: Any, y_prob: Any, *, sensitive_features: Any,
                    y_pred: Any = None) -> dict:
    """The four figures of :func:`binary_report` for one probability per row (``[n]``)
    or per class (``[n, C]``, labels ``0 .. C-1``).

    Two columns are the binary report of the second.  With ``C >= 3`` the hard prediction
    is the most probable class (or ``y_pred``), AUC the macro one-vs-rest one, ΔDP and ΔEO
    the multi-class ones, ``f1`` the macro F1, and ``top_class_rate`` (in place of
    ``positive_rate``) the share of rows predicted as the most predicted class.
    """
    probs = _as_numpy(y_prob, 'y_prob', columns=True)
    if probs.ndim == 1 or probs.shape[1] == 2:
        return binary_report(y_true, probs if probs.ndim == 1 else probs[:, 1],
                             sensitive_features=sensitive_features, y_pred=y_pred)
    labels = list(range(probs.shape[1]))
    y_hat = probs.argmax(1) if y_pred is None else _as_numpy(y_pred, 'y_pred')
    shares = np.bincount(y_hat.astype(np.int64), minlength=len(labels)) / len(y_hat)
    return {
        'acc': accuracy(y_true, y_hat),
        'auc': roc_auc(y_true, probs),
        'dp': demographic_parity_difference(y_true, y_hat, labels=labels,
                                            sensitive_features=sensitive_features),
        'eo': equal_opportunity_difference(y_true, y_hat, labels=labels,
                                           sensitive_features=sensitive_features),
        'f1': f1(y_true, y_hat, labels=labels),
        'top_class_rate': float(shares.max()),
    }


def check_split(name: str, y_true: Any, *, sensitive_features: Any, evaluated: bool,
                group_names: Optional[Sequence[Any]] = None, num_classes: int = 2) -> None:
    """Raise ``ValueError`` if split ``name`` cannot be trained or evaluated on.

    A split needs two labels and at least two sensitive groups; an ``evaluated`` split
    (validation, test) also needs :data:`MIN_GROUP_ROWS` rows in every group, and as many
    positive rows (with ``num_classes >= 3``: rows of every class) in every group: a group
    of one row has a rate of 0 or 1 whatever the model does, so ΔDP and ΔEO would be pinned
    and no selection rule could read them.  A training split without a row of some class
    gets a :class:`DataWarning` (that class is never learnt).  Called before training, so
    that no run ends in an undefined metric.  ``group_names``: the caller's name of each
    group code, to name groups in the message.
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
                         'two classes in every split')
    if not evaluated:
        absent = [c for c in range(num_classes) if c not in labels]
        if absent:
            warnings.warn(f'{name} holds no row of class(es) {absent}: the model never sees '
                          'them in training and will hardly ever predict them', DataWarning,
                          stacklevel=3)
        return
    few = [g for g in present if (sens == g).sum() < MIN_GROUP_ROWS]
    if few:
        raise ValueError(f'{name}: sensitive group(s) {named(few)} have fewer than '
                         f'{MIN_GROUP_ROWS} rows, so their rates are pinned at 0 or 1 and ΔDP '
                         'cannot be measured; use a larger split or merge groups')
    if num_classes <= 2:
        without = [g for g in present if (y_true[sens == g] == 1).sum() < MIN_GROUP_ROWS]
        if without:
            raise ValueError(f'{name}: sensitive group(s) {named(without)} have fewer than '
                             f'{MIN_GROUP_ROWS} positive rows, so ΔEO is undefined or pinned; '
                             'use a larger split or merge groups')
        return
    missing = [c for c in range(num_classes) if c not in labels]
    if missing:
        raise ValueError(f'{name} holds no row of class(es) {missing}, so AUC and ΔEO are '
                         'undefined; use a larger split or merge classes')
    for c in range(num_classes):
        without = [g for g in present if (y_true[sens == g] == c).sum() < MIN_GROUP_ROWS]
        if without:
            raise ValueError(f'{name}: sensitive group(s) {named(without)} have fewer than '
                             f'{MIN_GROUP_ROWS} rows of class {c}, so ΔEO is undefined or '
                             'pinned; use a larger split or merge groups')
