"""Post-processing: per-group thresholds on any model's scores (fairlearn's
``ThresholdOptimizer``), a core piece that takes scores and returns hard predictions.

Needs the ``fairlearn`` extra (``pip install "fairgnn-bilevel[fairlearn]"``), imported when
thresholds are fitted.
"""
from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator

__all__ = ['GroupThresholds', 'POSTPROCESSING', 'threshold_optimizer_predictions']

# the library's gap names -> fairlearn's ThresholdOptimizer constraints
POSTPROCESSING = {'dp': 'demographic_parity', 'eo': 'true_positive_rate_parity'}


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

    Shapes:
        scores ``[n]`` (a probability or any score per row), labels and groups ``[n]``;
        tensors or arrays.
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

    def __repr__(self) -> str:
        return f'{type(self).__name__}({self.gap!r}, max_gap={self.max_gap:g}, seed={self.seed})'


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
