"""fairlearn's ExponentiatedGradient as the tabular reference front, and per-seed
hypervolumes."""
import numpy as np
import pytest

from fairgnn_bilevel.fairlearn_reference import exponentiated_gradient_runs
from fairgnn_bilevel.plot import hypervolume
from fairgnn_bilevel.sweep import seed_hypervolumes
from tests.conftest import toy_table

# Tiny fits (a few epochs, a few dozen nodes) select models that predict one class or rank
# at chance: the library's SelectionWarning about it is expected here and is not what these
# tests check (tests/test_api.py asserts it where it is).
pytestmark = pytest.mark.filterwarnings('ignore::fairgnn_bilevel.train.selection.SelectionWarning')


fairlearn = pytest.importorskip('fairlearn')


def test_records_match_fairlearn_and_sklearn_metrics():
    from fairlearn.metrics import demographic_parity_difference, true_positive_rate, MetricFrame
    from fairlearn.reductions import DemographicParity, ExponentiatedGradient
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, roc_auc_score
    data = toy_table()
    runs = exponentiated_gradient_runs(data, [0.01, 0.2], seeds=[3, 4])
    assert [(r['bound'], r['seed']) for r in runs] == [(0.01, 3), (0.01, 4), (0.2, 3), (0.2, 4)]
    X, y, s = data.X['test'], data.y['test'], data.sens['test']
    for bound in (0.01, 0.2):
        model = ExponentiatedGradient(LogisticRegression(max_iter=1000),
                                      DemographicParity(difference_bound=bound))
        model.fit(data.X['train'], data.y['train'], sensitive_features=data.sens['train'])
        for seed in (3, 4):
            run = next(r for r in runs if (r['bound'], r['seed']) == (bound, seed))
            pred = model.predict(X, random_state=seed)
            tpr = MetricFrame(metrics=true_positive_rate, y_true=y, y_pred=pred,
                              sensitive_features=s).difference()
            assert run['test']['acc'] == pytest.approx(accuracy_score(y, pred))
            assert run['test']['dp'] == pytest.approx(
                demographic_parity_difference(y, pred, sensitive_features=s))
            assert run['test']['eo'] == pytest.approx(tpr)
            assert run['test']['auc'] == pytest.approx(
                roc_auc_score(y, model._pmf_predict(X)[:, 1]))
    # a tighter bound buys fairness on this strongly biased table
    tight = np.mean([r['test']['dp'] for r in runs if r['bound'] == 0.01])
    loose = np.mean([r['test']['dp'] for r in runs if r['bound'] == 0.2])
    assert tight < loose


def test_bounds_must_be_positive():
    with pytest.raises(ValueError, match='bounds must be > 0'):
        exponentiated_gradient_runs(toy_table(), [0.0])


def run(method, seed, dp, acc):
    return {'method': method, 'seed': seed, 'test': {'dp': dp, 'acc': acc}}


def test_seed_hypervolumes_share_one_reference_point():
    runs = [run('a', 0, 0.10, 0.80), run('a', 0, 0.02, 0.70), run('a', 1, 0.05, 0.75),
            run('b', 0, 0.20, 0.60), run('b', 1, 0.04, 0.78)]
    volumes, reference = seed_hypervolumes(runs)
    assert reference == (0.20, 0.60)
    # seed 0 of 'a': a staircase of two points, hand-computed
    assert volumes['a'][0] == pytest.approx((0.10 - 0.02) * 0.10 + (0.20 - 0.10) * 0.20)
    assert volumes['a'][1] == pytest.approx((0.20 - 0.05) * 0.15)
    assert volumes['b'][0] == pytest.approx(0.0)
    assert volumes['b'][1] == pytest.approx(hypervolume([(0.04, 0.78)], reference))


def test_threshold_optimizer_equalises_selection_rates_on_its_rows():
    from fairgnn_bilevel.fairlearn_reference import threshold_optimizer_predictions
    from fairgnn_bilevel.metrics import demographic_parity_difference
    rng = np.random.default_rng(0)
    groups = rng.integers(0, 2, 4000)
    labels = (rng.random(4000) < 0.3 + 0.3 * groups).astype(int)
    scores = 0.6 * labels + 0.3 * groups + rng.normal(0, 0.3, 4000)
    plain = demographic_parity_difference(labels, (scores > 0.5).astype(int),
                                          sensitive_features=groups)
    fitted = threshold_optimizer_predictions(scores, labels, groups, scores, groups,
                                             max_gap=0.0, seed=0)
    gap = demographic_parity_difference(labels, fitted, sensitive_features=groups)
    assert plain > 0.3 and gap < 0.05  # the randomized thresholds' draw adds sampling noise
    with pytest.raises(ValueError, match='gap must be one of'):
        threshold_optimizer_predictions(scores, labels, groups, scores, groups, gap='odds')
