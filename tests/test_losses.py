import numpy as np
import pytest
import torch

from fairgnn_bilevel.losses import (CovarianceLoss, DemographicParityLoss, EqualOpportunityLoss,
                                    demographic_parity_loss, equal_opportunity_loss,
                                    group_means, make_fairness_loss)


def test_dp_loss_is_squared_gap_of_sigmoid_means():
    logits = torch.tensor([2.0, -1.0, 0.5, 0.0, 3.0])
    groups = torch.tensor([0, 0, 1, 1, 1])
    p = 1 / (1 + np.exp(-logits.numpy()))
    expected = (p[:2].mean() - p[2:].mean()) ** 2   # sigmoid applied once
    assert demographic_parity_loss(logits, groups).item() == pytest.approx(expected, rel=1e-6)


def test_multi_group_uses_largest_gap():
    logits = torch.randn(60, generator=torch.Generator().manual_seed(0))
    groups = torch.arange(60) % 3
    means = [torch.sigmoid(logits[groups == g]).mean().item() for g in range(3)]
    assert demographic_parity_loss(logits, groups).item() == pytest.approx(
        (max(means) - min(means)) ** 2, rel=1e-5)


def test_absent_group_contributes_zero_not_nan():
    logits = torch.randn(5, requires_grad=True)
    loss = demographic_parity_loss(logits, torch.zeros(5, dtype=torch.long))
    loss.backward()
    assert loss.item() == 0.0 and torch.isfinite(logits.grad).all()
    empty = equal_opportunity_loss(logits, torch.tensor([0, 1, 0, 1, 0]), torch.zeros(5))
    assert empty.item() == 0.0


def test_eo_loss_only_sees_positives():
    logits = torch.tensor([1.0, -1.0, 5.0, -5.0])
    groups = torch.tensor([0, 1, 0, 1])
    labels = torch.tensor([1, 1, 0, 0])
    p = torch.sigmoid(logits[:2])
    assert equal_opportunity_loss(logits, groups, labels).item() == pytest.approx(
        ((p[0] - p[1]) ** 2).item())
    assert make_fairness_loss('eo')(logits, groups, labels) == equal_opportunity_loss(
        logits, groups, labels)
    with pytest.raises(ValueError, match='unknown fairness loss'):
        make_fairness_loss('xx')
    with pytest.raises(ValueError, match='EqualOpportunityLoss needs the labels'):
        EqualOpportunityLoss()(logits, groups)


def test_group_means_gradient_matches_finite_differences():
    values = torch.rand(7, dtype=torch.double, requires_grad=True)
    groups = torch.tensor([0, 1, 1, 2, 2, 2, 0])
    assert torch.autograd.gradcheck(lambda v: group_means(v, groups), (values,))


def test_rank_reduced_statistics_equal_the_one_process_formulas():
    """With an identity reduce (one rank) the all-reduce formulations give the same values:
    group means over fixed group ids (absent ids skipped) and the covariance from sums."""
    from fairgnn_bilevel.losses import covariance_loss, group_means
    g = torch.Generator().manual_seed(0)
    values, logits = torch.rand(30, generator=g), torch.randn(30, generator=g)
    groups = torch.randint(0, 2, (30,), generator=g) * 2     # ids 0 and 2; 1 and 3 absent
    torch.testing.assert_close(group_means(values, groups, reduce=lambda t: t, num_groups=4),
                               group_means(values, groups))
    scores = torch.rand(30, generator=g)
    torch.testing.assert_close(covariance_loss(logits, scores, reduce=lambda t: t),
                               covariance_loss(logits, scores))


def test_loss_objects_are_the_functions_and_ignore_what_they_do_not_need():
    g = torch.Generator().manual_seed(1)
    logits, groups = torch.randn(40, 1, generator=g), torch.arange(40) % 3
    labels = torch.randint(0, 2, (40,), generator=g)
    assert DemographicParityLoss()(logits, groups, labels) == demographic_parity_loss(
        logits, groups)
    assert EqualOpportunityLoss()(logits, groups, labels) == equal_opportunity_loss(
        logits, groups, labels)
    scores = torch.rand(40, generator=g)
    from fairgnn_bilevel.losses import covariance_loss
    assert CovarianceLoss()(logits, scores) == covariance_loss(logits, scores)
    with pytest.raises(ValueError, match='with reduce needs num_groups'):
        DemographicParityLoss(reduce=lambda t: t)


def test_reduced_statistics_are_those_of_the_union_of_shares():
    """Two shares of a batch, with a stand-in reduce that adds share b's statistics (recorded
    from b's own call, in the same order) to share a's: the loss is the whole batch's, and
    the gradient share a receives is its part of the whole gradient."""
    g = torch.Generator().manual_seed(2)
    logits = torch.randn(30, dtype=torch.double, generator=g, requires_grad=True)
    groups = torch.randint(0, 3, (30,), generator=g)
    whole = demographic_parity_loss(logits, groups)
    (want,) = torch.autograd.grad(whole, logits)
    recorded = []

    def record(t):
        recorded.append(t.detach())
        return t

    DemographicParityLoss(reduce=record, num_groups=3)(logits[12:], groups[12:])
    others = iter(recorded)
    loss_a = DemographicParityLoss(reduce=lambda t: t + next(others), num_groups=3)(
        logits[:12], groups[:12])
    assert float(loss_a.detach()) == pytest.approx(float(whole.detach()), rel=1e-12)
    (got,) = torch.autograd.grad(loss_a, logits)
    torch.testing.assert_close(got[:12], want[:12])
    assert torch.all(got[12:] == 0)


# --- several classes: logits [n, C] ---

def _softmax(z):
    e = np.exp(z - z.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def _multiclass_case(seed=0, n=90, classes=4, groups=3):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(n, classes, generator=g, dtype=torch.double)
    return logits, torch.randint(0, groups, (n,), generator=g), torch.randint(
        0, classes, (n,), generator=g)


def test_multiclass_dp_loss_sums_each_class_squared_gap():
    logits, sens, _ = _multiclass_case()
    p = _softmax(logits.numpy())
    expected = sum((max(p[sens.numpy() == a, c].mean() for a in range(3))
                    - min(p[sens.numpy() == a, c].mean() for a in range(3))) ** 2
                   for c in range(4))
    assert demographic_parity_loss(logits, sens).item() == pytest.approx(expected, rel=1e-12)


def test_multiclass_eo_loss_compares_each_class_on_its_own_rows():
    logits, sens, labels = _multiclass_case(1)
    p, s, y = _softmax(logits.numpy()), sens.numpy(), labels.numpy()
    expected = 0.0
    for c in range(4):
        means = [p[(y == c) & (s == a), c].mean() for a in range(3) if ((y == c) & (s == a)).any()]
        expected += (max(means) - min(means)) ** 2 if len(means) > 1 else 0.0
    assert equal_opportunity_loss(logits, sens, labels).item() == pytest.approx(expected,
                                                                                rel=1e-12)
    # a class seen by a single group adds nothing (and no NaN reaches the gradient)
    only = labels.clone()
    only[(labels == 3) & (sens != 0)] = 2
    logits.requires_grad_()
    equal_opportunity_loss(logits, sens, only).backward()
    assert torch.isfinite(logits.grad).all()


def test_two_columns_are_the_binary_loss_of_the_logit_difference():
    logits, sens, labels = _multiclass_case(2, classes=2)
    difference = logits[:, 1] - logits[:, 0]
    for loss in (DemographicParityLoss(), EqualOpportunityLoss()):
        assert loss(logits, sens, labels).item() == pytest.approx(
            loss(difference, sens, labels).item(), rel=1e-12)


@pytest.mark.parametrize('loss', [demographic_parity_loss, equal_opportunity_loss])
def test_multiclass_gradients_match_finite_differences(loss):
    logits, sens, labels = _multiclass_case(3, n=40, classes=3)
    args = (sens,) if loss is demographic_parity_loss else (sens, labels)
    assert torch.autograd.gradcheck(lambda z: loss(z, *args), (logits.requires_grad_(),))


def test_multiclass_reduced_statistics_equal_the_one_process_loss():
    # the reduce hook's path (fixed group ids, sums then means) gives the same values
    logits, sens, labels = _multiclass_case(4)
    for loss in (demographic_parity_loss, equal_opportunity_loss):
        args = (sens,) if loss is demographic_parity_loss else (sens, labels)
        assert loss(logits, *args, reduce=lambda t: t, num_groups=5).item() == pytest.approx(
            loss(logits, *args).item(), rel=1e-12)


def test_covariance_refuses_several_classes():
    from fairgnn_bilevel.losses import covariance_loss
    with pytest.raises(ValueError, match=r'one logit per row, got logits of shape \(4, 3\)'):
        covariance_loss(torch.zeros(4, 3), torch.zeros(4))
