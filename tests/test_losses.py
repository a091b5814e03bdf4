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
