import itertools

import numpy as np
import pytest

import fairgnn_bilevel.metrics as fb_metrics
import torch
from fairlearn import metrics as fl
from scipy.stats import mannwhitneyu
from sklearn.metrics import accuracy_score

from fairgnn_bilevel.metrics import (accuracy, binary_report, demographic_parity_difference,
                                     equal_opportunity_difference, equalized_odds_difference,
                                     soft_demographic_parity_difference,
                                     soft_equal_opportunity_difference,
                                     roc_auc)

# fmt: off
Y_TRUE = np.array([1, 0, 1, 1, 0, 0, 1, 0, 1, 1])
Y_PRED = np.array([1, 0, 0, 1, 1, 0, 1, 1, 1, 0])
GROUPS = np.array(['a', 'a', 'a', 'a', 'b', 'b', 'b', 'b', 'b', 'b'])
# fmt: on


def random_case(seed, n_groups, n=400):
    rng = np.random.default_rng(seed)
    groups = rng.integers(0, n_groups, n)
    y_true = rng.integers(0, 2, n)
    y_pred = (rng.random(n) < 0.3 + 0.1 * groups).astype(int)
    return y_true, y_pred, groups


def test_hand_computed_two_groups():
    # group a: predictions 1,0,0,1 -> rate 1/2; group b: 1,0,1,1,1,0 -> rate 4/6
    assert demographic_parity_difference(Y_TRUE, Y_PRED, sensitive_features=GROUPS) == pytest.approx(
        4 / 6 - 1 / 2)
    # positives: a rows 0,2,3 -> preds 1,0,1 (2/3); b rows 6,8,9 -> preds 1,1,0 (2/3)
    assert equal_opportunity_difference(Y_TRUE, Y_PRED, sensitive_features=GROUPS) == 0.0
    # negatives: a row 1 -> pred 0 (FPR 0); b rows 4,5,7 -> 1,0,1 (FPR 2/3)
    assert equalized_odds_difference(Y_TRUE, Y_PRED, sensitive_features=GROUPS) == \
        pytest.approx(2 / 3)


@pytest.mark.parametrize('seed,n_groups', list(itertools.product(range(5), [2, 3, 5])))
def test_against_fairlearn(seed, n_groups):
    y_true, y_pred, groups = random_case(seed, n_groups)
    assert demographic_parity_difference(y_true, y_pred, sensitive_features=groups) == pytest.approx(
        fl.demographic_parity_difference(y_true, y_pred, sensitive_features=groups))
    assert equal_opportunity_difference(y_true, y_pred, sensitive_features=groups) == \
        pytest.approx(fl.equal_opportunity_difference(y_true, y_pred,
                                                      sensitive_features=groups))
    assert equalized_odds_difference(y_true, y_pred, sensitive_features=groups) == \
        pytest.approx(fl.equalized_odds_difference(y_true, y_pred, sensitive_features=groups))
    assert accuracy(y_true, y_pred) == pytest.approx(accuracy_score(y_true, y_pred))


def test_soft_variants_are_gaps_of_mean_probabilities():
    rng = np.random.default_rng(0)
    prob = rng.random(300)
    groups = rng.integers(0, 3, 300)
    y_true = rng.integers(0, 2, 300)
    means = [prob[groups == g].mean() for g in range(3)]
    assert soft_demographic_parity_difference(y_true, prob, sensitive_features=groups) == \
        pytest.approx(max(means) - min(means))
    tprs = [prob[(groups == g) & (y_true == 1)].mean() for g in range(3)]
    assert soft_equal_opportunity_difference(y_true, prob, sensitive_features=groups) == \
        pytest.approx(max(tprs) - min(tprs))
    overall = prob.mean()
    assert soft_demographic_parity_difference(y_true, prob, sensitive_features=groups,
                                              method='to_overall') == pytest.approx(
        max(abs(m - overall) for m in means))
    # the hard metric of thresholded probabilities differs from the soft one
    hard = demographic_parity_difference(y_true, (prob > 0.5).astype(int),
                                         sensitive_features=groups)
    assert hard != pytest.approx(max(means) - min(means))


def test_torch_inputs_match_numpy():
    y_true, y_pred, groups = random_case(1, 3)
    expected = equal_opportunity_difference(y_true, y_pred, sensitive_features=groups)
    got = equal_opportunity_difference(torch.tensor(y_true), torch.tensor(y_pred),
                                       sensitive_features=torch.tensor(groups))
    assert got == pytest.approx(expected)


def test_roc_auc_matches_mann_whitney():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 200)
    score = rng.random(200) + 0.3 * y
    u = mannwhitneyu(score[y == 1], score[y == 0]).statistic
    assert roc_auc(y, score) == pytest.approx(u / ((y == 1).sum() * (y == 0).sum()))


@pytest.mark.parametrize('n,levels', [(7, 3), (200, 5), (300, None), (1000, 40)])
def test_roc_auc_equals_scikit_learn_with_ties_and_collinear_points(n, levels):
    from sklearn.metrics import roc_auc_score
    rng = np.random.default_rng(n)
    for _ in range(20):
        y = rng.integers(0, 2, n)
        y[:2] = [0, 1]
        score = rng.random(n) + 0.4 * y
        if levels:  # many ties, and runs of collinear curve points
            score = np.round(score * levels) / levels
        for dtype in (np.float64, np.float32):
            assert roc_auc(y, score.astype(dtype)) == pytest.approx(
                roc_auc_score(y, score.astype(dtype)), rel=0, abs=1e-12)


def test_roc_auc_with_ties_is_the_mann_whitney_statistic_with_half_credit():
    y = np.array([1, 0, 1, 0, 1, 0])
    score = np.array([0.9, 0.9, 0.5, 0.5, 0.2, 0.1])
    # positives 0.9, 0.5, 0.2 against negatives 0.9, 0.5, 0.1: pairs won 2 + 1 + 1 = 4, and
    # 2 ties at half credit, of 9
    assert roc_auc(y, score) == pytest.approx(5 / 9)


def test_roc_auc_refuses_scores_it_cannot_rank():
    y = np.array([0, 1, 0, 1])
    with pytest.raises(ValueError, match='NaN or infinite'):
        roc_auc(y, np.array([0.1, np.nan, 0.3, 0.4]))
    with pytest.raises(ValueError, match='y_true has 4 rows but y_score has 3'):
        roc_auc(y, np.array([0.1, 0.2, 0.3]))


def test_binary_report_thresholds_at_half():
    y = np.array([1, 0, 1, 0])
    prob = np.array([0.9, 0.4, 0.6, 0.7])
    sens = np.array([0, 0, 1, 1])
    report = binary_report(y, prob, sensitive_features=sens)
    assert report['acc'] == 0.75
    assert report['dp'] == pytest.approx(0.5)   # group 0: 1/2, group 1: 2/2
    assert report['eo'] == 0.0
    # negatives: group 0's 0.4 → 0, group 1's 0.7 → 1
    assert report['fpr_by_group'] == {'0': 0.0, '1': 1.0}


def test_group_without_positives_is_named():
    y_true = np.array([1, 1, 0, 0])
    y_pred = np.array([1, 0, 1, 0])
    groups = np.array([0, 0, 7, 7])
    with pytest.raises(ValueError, match="group 7 has no positive labels"):
        equal_opportunity_difference(y_true, y_pred, sensitive_features=groups)


def test_requested_group_with_no_members_is_named():
    with pytest.raises(ValueError, match="group 2 has no rows"):
        demographic_parity_difference([0, 0], [1, 0], sensitive_features=[0, 1], groups=[0, 1, 2])


@pytest.mark.parametrize('bad,match', [
    (dict(y_pred=[0.5, np.nan], sensitive_features=[0, 1]), 'NaN'),
    (dict(y_pred=[2.0, 0.0], sensitive_features=[0, 1]), 'probabilities'),
    (dict(y_pred=[1, 0], sensitive_features=[0, 0]), 'at least two'),
    (dict(y_pred=[1, 0, 1], sensitive_features=[0, 1]), 'rows'),
])
def test_bad_inputs(bad, match):
    with pytest.raises(ValueError, match=match):
        y_pred = bad.pop('y_pred')
        soft_demographic_parity_difference([0] * len(y_pred), y_pred, **bad)


def test_multiclass_group_without_a_class_is_named():
    # labels 0 and 2 make the metric multi-class; group 0 has no row of class 2
    with pytest.raises(ValueError, match="group 0 has no rows of class 2"):
        equal_opportunity_difference([0, 2, 0, 2], [0, 2, 0, 2], sensitive_features=[0, 1, 1, 1])


def test_same_signatures_as_fairlearn():
    # a fairlearn user can swap our metrics in: same positional and keyword arguments
    import inspect
    for name in ('demographic_parity_difference', 'equal_opportunity_difference',
                 'equalized_odds_difference'):
        ours = inspect.signature(getattr(__import__('fairgnn_bilevel').metrics, name))
        theirs = inspect.signature(getattr(fl, name))
        positional = [p.name for p in ours.parameters.values()
                      if p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD]
        assert positional == [p.name for p in theirs.parameters.values()
                              if p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD]
        assert ours.parameters['sensitive_features'].kind is inspect.Parameter.KEYWORD_ONLY



@pytest.mark.parametrize('seed', range(6))
def test_drop_in_for_fairlearn_on_every_argument(seed):
    """Same values as fairlearn's functions on the same inputs: hard or probability-valued
    predictions (fairlearn counts y_pred == 1), sample weights, both methods, both
    aggregations, two to four groups of any label type."""
    rng = np.random.default_rng(seed)
    n = 400
    groups = rng.choice(['a', 'b', 'c', 'd'][:2 + seed % 3], n)
    y_true = rng.integers(0, 2, n)
    y_pred = rng.integers(0, 2, n) if seed % 2 else np.where(rng.random(n) < 0.3, 1.0,
                                                             rng.random(n))
    weight = None if seed < 2 else rng.random(n) * 3
    for method in ('between_groups', 'to_overall'):
        kw = dict(sensitive_features=groups, method=method, sample_weight=weight)
        assert demographic_parity_difference(y_true, y_pred, **kw) == pytest.approx(
            fl.demographic_parity_difference(y_true, y_pred, **kw), abs=1e-12), method
        if not seed % 2:
            continue  # fairlearn's rates given labels take hard predictions only
        assert equal_opportunity_difference(y_true, y_pred, **kw) == pytest.approx(
            fl.equal_opportunity_difference(y_true, y_pred, **kw), abs=1e-12), method
        for agg in ('worst_case', 'mean'):
            assert equalized_odds_difference(y_true, y_pred, agg=agg, **kw) == pytest.approx(
                fl.equalized_odds_difference(y_true, y_pred, agg=agg, **kw), abs=1e-12)


# --- several classes and intersectional groups: one-vs-rest compositions of fairlearn's ---

def multiclass_case(seed, classes, groups, attributes=1, n=600):
    """Random labels, predictions, probabilities and sensitive columns, with predictions
    that depend on the group (so the gaps are not all zero)."""
    rng = np.random.default_rng(seed)
    sens = rng.integers(0, groups, (n, attributes))
    y_true = rng.integers(0, classes, n)
    tilt = sens.sum(1)[:, None] * (np.arange(classes) == 0)  # group-dependent class 0
    logits = rng.normal(size=(n, classes)) + 0.5 * tilt
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    y_pred = np.where(rng.random(n) < 0.7, probs.argmax(1), rng.integers(0, classes, n))
    return y_true, y_pred, probs, (sens[:, 0] if attributes == 1 else sens)


CASES = [(c, g, k) for c in (3, 4, 5) for g in (2, 3, 4) for k in (1, 2)]


@pytest.mark.parametrize('classes,groups,attributes', CASES)
def test_multiclass_metrics_are_fairlearn_one_vs_rest(classes, groups, attributes):
    y, pred, probs, sens = multiclass_case(classes * 10 + groups, classes, groups, attributes)
    weight = np.random.default_rng(0).random(len(y)) + 0.5
    for method in ('between_groups', 'to_overall'):
        for sample_weight in (None, weight):
            options = dict(sensitive_features=sens, method=method, sample_weight=sample_weight)
            ovr = [((y == c).astype(int), (pred == c).astype(int)) for c in range(classes)]
            dp = max(fl.demographic_parity_difference(t, p, **options) for t, p in ovr)
            eo = max(fl.equal_opportunity_difference(t, p, **options) for t, p in ovr)
            odds = max(fl.equalized_odds_difference(t, p, **options) for t, p in ovr)
            assert demographic_parity_difference(y, pred, **options) == pytest.approx(dp, abs=1e-12)
            assert equal_opportunity_difference(y, pred, **options) == pytest.approx(eo, abs=1e-12)
            assert equalized_odds_difference(y, pred, **options) == pytest.approx(odds, abs=1e-12)
    # soft: the same gaps of each class's probability (fairlearn's MetricFrame of means)
    def mean(y_true, y_pred):
        return float(np.mean(y_pred))
    soft_dp = max(fl.MetricFrame(metrics=mean, y_true=y, y_pred=probs[:, c],
                                 sensitive_features=sens).difference() for c in range(classes))
    soft_eo = max(fl.MetricFrame(metrics=mean, y_true=y[y == c], y_pred=probs[y == c, c],
                                 sensitive_features=sens[y == c]).difference()
                  for c in range(classes))
    assert soft_demographic_parity_difference(y, probs, sensitive_features=sens) == \
        pytest.approx(soft_dp, abs=1e-12)
    assert soft_equal_opportunity_difference(y, probs, sensitive_features=sens) == \
        pytest.approx(soft_eo, abs=1e-12)
    from sklearn.metrics import roc_auc_score
    assert roc_auc(y, probs) == pytest.approx(
        np.mean([roc_auc_score(y == c, probs[:, c]) for c in range(classes)]), abs=1e-12)


def test_two_classes_are_the_binary_definitions():
    y, pred, probs, sens = multiclass_case(3, 2, 3)
    options = dict(sensitive_features=sens)
    for name in ('demographic_parity_difference', 'equal_opportunity_difference',
                 'equalized_odds_difference'):
        ours = getattr(fb_metrics, name)(y, pred, labels=[0, 1], **options)
        assert ours == getattr(fl, name)(y, pred, **options)
    assert soft_equal_opportunity_difference(y, probs, **options) == \
        soft_equal_opportunity_difference(y, probs[:, 1], **options)
    assert roc_auc(y, probs) == roc_auc(y, probs[:, 1])
    report = fb_metrics.fairness_report(y, probs, **options)
    assert report == binary_report(y, probs[:, 1], **options)


def test_intersections_are_named_by_their_values():
    sens = np.array([[0, 'x'], [0, 'y'], [1, 'x'], [1, 'x']], dtype=object)
    rates = fb_metrics.group_rates([1, 0, 1, 0], sensitive_features=sens)
    assert rates == {(0, 'x'): 1.0, (0, 'y'): 0.0, (1, 'x'): 0.5}
    with pytest.raises(ValueError, match=r"group \(0, 'y'\) has no positive labels"):
        equal_opportunity_difference([1, 0, 1, 1], [1, 0, 1, 0], sensitive_features=sens)


def test_labels_fix_the_classes_of_a_split_that_lacks_one():
    # the split shows classes 0 and 1 only; labels says there are three
    y, pred = np.array([0, 1, 0, 1, 0, 1]), np.array([0, 1, 2, 1, 0, 0])
    sens = np.array([0, 0, 0, 1, 1, 1])
    with pytest.raises(ValueError, match='group 0 has no rows of class 2'):
        equal_opportunity_difference(y, pred, sensitive_features=sens, labels=[0, 1, 2])
    # ΔDP of three classes: class 2 is predicted in group 0 only (1/3 vs 0); class 0: 2/3 vs 1/3
    assert demographic_parity_difference(y, pred, sensitive_features=sens, labels=[0, 1, 2]) == \
        pytest.approx(1 / 3)
    with pytest.raises(ValueError, match=r'not in labels'):
        demographic_parity_difference(y, pred, sensitive_features=sens, labels=[1, 2])


def test_multiclass_report_hand_computed():
    y = np.array([0, 1, 2, 0, 1, 2])
    probs = np.array([[.8, .1, .1], [.1, .8, .1], [.1, .1, .8],
                      [.1, .8, .1], [.1, .8, .1], [.1, .1, .8]])
    sens = np.array([0, 0, 0, 1, 1, 1])
    report = fb_metrics.fairness_report(y, probs, sensitive_features=sens)
    # predictions 0,1,2 | 1,1,2: class 1 is predicted for 1/3 of group 0 and 2/3 of group 1
    assert report['acc'] == pytest.approx(5 / 6)
    assert report['dp'] == pytest.approx(1 / 3)
    assert report['eo'] == pytest.approx(1.0)       # class 0: TPR 1 in group 0, 0 in group 1
    assert report['top_class_rate'] == pytest.approx(1 / 2)
    assert 'positive_rate' not in report


def test_f1_matches_scikit_learn_binary_and_macro():
    from sklearn.metrics import f1_score

    from fairgnn_bilevel.metrics import f1, fairness_report
    rng = np.random.default_rng(4)
    for trial in range(50):
        y, p = rng.integers(0, 3, 40), rng.integers(0, 3, 40)
        assert f1(y, p, labels=[0, 1, 2]) == pytest.approx(
            f1_score(y, p, labels=[0, 1, 2], average='macro', zero_division=0))
        yb, pb = rng.integers(0, 2, 25), rng.integers(0, 2, 25) * (trial % 4 > 0)
        assert f1(yb, pb) == pytest.approx(f1_score(yb, pb, zero_division=0))
    # the majority-class predictor on an imbalanced split: accuracy 0.8, F1 of class 0 = 0
    y = np.array([1] * 8 + [0] * 2)
    report = fairness_report(1 - y, np.full(10, 0.1), sensitive_features=np.arange(10) % 2)
    assert report['acc'] == 0.8 and report['f1'] == 0.0 and report['positive_rate'] == 0.0


def test_false_positive_rates_match_fairlearns_metric_frame():
    from fairlearn.metrics import MetricFrame, false_positive_rate
    from fairgnn_bilevel.metrics import false_positive_rates
    rng = np.random.default_rng(7)
    y, pred, sens = rng.integers(0, 2, 200), rng.integers(0, 2, 200), rng.integers(0, 3, 200)
    frame = MetricFrame(metrics=false_positive_rate, y_true=y, y_pred=pred,
                        sensitive_features=sens)
    ours = false_positive_rates(y, pred, sensitive_features=sens)
    assert ours == pytest.approx(frame.by_group.to_dict())
