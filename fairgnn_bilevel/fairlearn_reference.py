"""The references a fairlearn user already has: ``ExponentiatedGradient`` on a table, and
``ThresholdOptimizer`` on any model's scores.

A logistic regression under a demographic-parity bound, fitted by fairlearn's
exponentiated-gradient reduction on the same training split the library trains on, and
evaluated on the same validation and test splits with the same metrics; and post-processing:
per-group (randomized) thresholds on a trained model's scores, fitted on validation rows
under a bound on the gap.  Needs the ``fairlearn`` extra
(``pip install "fairgnn-bilevel[fairlearn]"``).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, List, Sequence

import numpy as np
from sklearn.base import BaseEstimator

from .metrics import binary_report

if TYPE_CHECKING:
    from .tabular.datasets import TabularData

__all__ = ['exponentiated_gradient_runs', 'check_bounds', 'DEFAULT_BOUNDS',
           'threshold_optimizer_predictions', 'GroupThresholds', 'POSTPROCESSING']

# the library's gap names -> fairlearn's ThresholdOptimizer constraints
POSTPROCESSING = {'dp': 'demographic_parity', 'eo': 'true_positive_rate_parity'}

DEFAULT_BOUNDS = (0.002, 0.005, 0.01, 0.02, 0.05, 0.1)


def check_bounds(bounds: Sequence[float]) -> None:
    """Raise ``ValueError`` unless every demographic-parity bound is > 0."""
    bad = [b for b in bounds if not b > 0]
    if bad:
        raise ValueError(f'--bounds: difference bounds must be > 0, got {bad[0]:g}')


def exponentiated_gradient_runs(data: 'TabularData', bounds: Sequence[float] = DEFAULT_BOUNDS,
                                seeds: Sequence[int] = (0,)) -> List[dict]:
    """One run record per (bound, seed): ``{'method', 'bound', 'seed', 'val', 'test'}``.

    Each bound is fitted once (the reduction and the logistic regression are
    deterministic); the seed drives the randomized classifier's hard predictions, which
    are what its ACC, ΔDP and ΔEO measure.  AUC ranks its predicted probabilities.
    """
    check_bounds(bounds)
    from fairlearn.reductions import DemographicParity, ExponentiatedGradient
    from sklearn.linear_model import LogisticRegression
    runs = []
    for bound in bounds:
        reduction = ExponentiatedGradient(LogisticRegression(max_iter=1000),
                                          DemographicParity(difference_bound=bound))
        reduction.fit(data.X['train'], data.y['train'], sensitive_features=data.sens['train'])
        for seed in seeds:
            records = {}
            for split in ('val', 'test'):
                X = data.X[split]
                records[split] = binary_report(
                    data.y[split], reduction._pmf_predict(X)[:, 1],
                    sensitive_features=data.sens[split],
                    y_pred=reduction.predict(X, random_state=seed))
            runs.append({'method': 'fairlearn', 'bound': bound, 'seed': seed, **records})
    return runs


class _Scores(BaseEstimator):
    """A fitted "estimator" whose prediction is its input's one column: lets
    ``ThresholdOptimizer(prefit=True)`` threshold scores computed elsewhere."""

    def fit(self, X: Any = None, y: Any = None) -> '_Scores':
        self.fitted_ = True  # what check_is_fitted looks for
        return self

    def predict(self, X: Any) -> np.ndarray:
        return np.asarray(X, dtype=np.float64)[:, 0]


class GroupThresholds:
    """fairlearn's ``ThresholdOptimizer`` on scores computed elsewhere: per-group
    thresholds on the scores, fitted on some rows (validation) to maximise accuracy with
    the ``gap`` (``'dp'``: ΔDP, ``'eo'``: the TPR gap) within ``max_gap`` (its ``tol``; 0:
    equal rates), randomized between two thresholds per group, drawn with ``seed``.
    Binary labels only (fairlearn's post-processing is binary).

    ``GroupThresholds('dp').fit(val_scores, val_labels, val_groups)(scores, groups)``
    returns the hard predictions (``int64``) of the rows with ``scores`` and ``groups``.
    """

    def __init__(self, gap: str = 'dp', *, max_gap: float = 0.0, seed: int = 0) -> None:
        if gap not in POSTPROCESSING:
            raise ValueError(f'gap must be one of {", ".join(POSTPROCESSING)}, got {gap!r}')
        self.gap, self.max_gap, self.seed = gap, max_gap, seed

    def fit(self, scores: Any, labels: Any, groups: Any) -> 'GroupThresholds':
        from fairlearn.postprocessing import ThresholdOptimizer
        self.optimizer_ = ThresholdOptimizer(
            estimator=_Scores().fit(), constraints=POSTPROCESSING[self.gap], prefit=True,
            predict_method='predict', tol=self.max_gap if self.max_gap > 0 else None)
        self.optimizer_.fit(_column(scores), _numpy(labels), sensitive_features=_numpy(groups))
        return self

    def __call__(self, scores: Any, groups: Any) -> np.ndarray:
        return np.asarray(self.optimizer_.predict(
            _column(scores), sensitive_features=_numpy(groups),
            random_state=self.seed)).astype(np.int64)


def _numpy(values: Any) -> np.ndarray:
    if hasattr(values, 'detach'):
        values = values.detach().cpu()
    return np.asarray(values)


def _column(scores: Any) -> np.ndarray:
    return _numpy(scores).astype(np.float64).reshape(-1, 1)


def threshold_optimizer_predictions(val_scores: Any, val_labels: Any, val_groups: Any,
                                    scores: Any, groups: Any, *, gap: str = 'dp',
                                    max_gap: float = 0.0, seed: int = 0) -> np.ndarray:
    """Hard predictions of :class:`GroupThresholds` fitted on the validation rows, for rows
    with ``scores`` and ``groups``."""
    thresholds = GroupThresholds(gap, max_gap=max_gap, seed=seed)
    return thresholds.fit(val_scores, val_labels, val_groups)(scores, groups)
