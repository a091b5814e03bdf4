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

from typing import TYPE_CHECKING, List, Sequence

from .metrics import binary_report
# post-processing lives in the core; kept importable here, where fairlearn users look
from .postprocessing import POSTPROCESSING, GroupThresholds, threshold_optimizer_predictions

if TYPE_CHECKING:
    from .tabular.datasets import TabularData

__all__ = ['exponentiated_gradient_runs', 'check_bounds', 'DEFAULT_BOUNDS',
           'threshold_optimizer_predictions', 'GroupThresholds', 'POSTPROCESSING']

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
