"""FairnessBound: its gap is the metrics' gap, its multiplier moves by the stated rule, it
holds in a loop, and batches and processes see the statistics of the whole epoch."""
import functools

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import fairgnn_bilevel as fb
from fairgnn_bilevel.bound import VIOLATION_UNIT, hard_gap
from fairgnn_bilevel.metrics import demographic_parity_difference, equal_opportunity_difference
from tests.conftest import spawn, tiny_graph


def _logits(n, classes, seed):
    g = torch.Generator().manual_seed(seed)
    shape = (n,) if classes == 2 else (n, classes)
    return torch.randn(shape, generator=g), torch.randint(0, 3, (n,), generator=g), \
        torch.randint(0, classes, (n,), generator=g)


def _predicted(logits):
    return (logits > 0).long() if logits.dim() == 1 else logits.argmax(1)


@pytest.mark.parametrize('classes', [2, 3])
@pytest.mark.parametrize('criterion', ['dp', 'eo'])
def test_the_gap_is_the_metrics_gap_over_every_batch(classes, criterion):
    logits, sens, y = _logits(300, classes, seed=classes)
    loss = fb.DemographicParityLoss() if criterion == 'dp' else fb.EqualOpportunityLoss()
    bound = fb.FairnessBound(loss, 0.05)
    order = torch.randperm(300, generator=torch.Generator().manual_seed(1))
    for rows in torch.tensor_split(order, 7):
        bound.observe(logits[rows], sens[rows], y[rows])
    metric = demographic_parity_difference if criterion == 'dp' else \
        equal_opportunity_difference
    labels = {} if classes == 2 else {'labels': list(range(classes))}
    expected = metric(y.numpy(), _predicted(logits).numpy(), sensitive_features=sens.numpy(),
                      **labels)
    assert bound.step() == pytest.approx(expected, abs=1e-12)


def test_a_batch_of_one_group_adds_counts_never_nan():
    bound = fb.FairnessBound(fb.DemographicParityLoss(), 0.1)
    logits = torch.tensor([1.0, -1.0, 2.0], requires_grad=True)
    term = bound(logits, torch.tensor([0, 0, 0]))
    term.backward()
    assert float(term.detach()) == 0.0 and torch.isfinite(logits.grad).all()
    bound.observe(torch.tensor([-1.0, -2.0]), torch.tensor([1, 1]))
    # group 0: 2 of 3 positive, group 1: 0 of 2
    assert bound.step() == pytest.approx(2 / 3)


def test_hard_gap_by_hand():
    hits = torch.tensor([[3, 1], [1, 3], [0, 0]])
    totals = torch.tensor([[4, 4], [4, 4], [0, 0]])  # group 2 absent: left out
    assert hard_gap(hits, totals) == pytest.approx(0.5)  # class 1: 1/4 against 3/4


def test_the_multiplier_moves_by_the_stated_rule():
    bound = fb.FairnessBound(fb.DemographicParityLoss(), 0.04, dual_lr=0.1, init=2.0,
                             scale=10.0)
    assert bound.weight == 20.0
    logits = torch.tensor([1.0, 1.0, -1.0, -1.0])
    sens = torch.tensor([0, 0, 1, 1])
    bound.observe(logits, sens)
    assert bound.step() == 1.0
    lam = 2.0 + 0.1 * (1.0 - 0.04) / 0.04
    assert bound.weight == pytest.approx(10 * lam)
    bound.observe(logits, torch.tensor([0, 1, 0, 1]))  # gap 0: λ falls
    assert bound.step() == 0.0
    lam = max(0.0, lam + 0.1 * (0.0 - 0.04) / 0.04)
    assert bound.weight == pytest.approx(10 * lam)
    for _ in range(100):  # λ never goes below 0
        bound.observe(logits, torch.tensor([0, 1, 0, 1]))
        bound.step()
    assert bound.weight == 0.0
    # a bound of 0 measures its violation in points (VIOLATION_UNIT), never divides by 0
    zero = fb.FairnessBound(fb.DemographicParityLoss(), 0.0, dual_lr=0.1, init=0.0)
    zero.observe(logits, sens)
    zero.step()
    assert zero.weight == pytest.approx(0.1 * 1.0 / VIOLATION_UNIT)


def test_the_ceiling_holds_the_multiplier_and_the_rule_moves_it_below():
    bound = fb.FairnessBound(fb.DemographicParityLoss(), 0.04, dual_lr=0.1, scale=10.0,
                             max_multiplier=1.5)
    logits = torch.tensor([1.0, 1.0, -1.0, -1.0])
    bound.observe(logits, torch.tensor([0, 0, 1, 1]))  # gap 1: the rule says λ = 3.4
    bound.step()
    assert bound.weight == pytest.approx(15.0)  # held at the ceiling
    bound.observe(logits, torch.tensor([0, 1, 0, 1]))  # gap 0: λ falls from the ceiling
    bound.step()
    assert bound.weight == pytest.approx(10 * (1.5 + 0.1 * (0.0 - 0.04) / 0.04))
    assert 'max weight=15' in repr(bound)
    with pytest.raises(ValueError, match='max_multiplier >= init'):
        fb.FairnessBound(fb.DemographicParityLoss(), 0.04, init=2.0, max_multiplier=1.0)


def test_the_term_is_the_weight_times_the_loss_and_its_gradient():
    logits, sens, _ = _logits(50, 2, seed=3)
    bound = fb.FairnessBound(fb.DemographicParityLoss(), 0.02, init=1.5, scale=4.0)
    a = logits.clone().requires_grad_()
    bound(a, sens).backward()
    b = logits.clone().requires_grad_()
    (6.0 * fb.losses.demographic_parity_loss(b, sens)).backward()
    torch.testing.assert_close(a.grad, b.grad)


def test_state_dict_round_trip():
    bound = fb.FairnessBound(fb.DemographicParityLoss(), 0.02)
    bound.observe(torch.tensor([1.0, -1.0]), torch.tensor([0, 1]))
    bound.step()
    other = fb.FairnessBound(fb.DemographicParityLoss(), 0.02)
    other.load_state_dict(bound.state_dict())
    assert other.weight == bound.weight and other.last_gap == bound.last_gap == 1.0


@pytest.mark.parametrize('call, message', [
    (lambda: fb.FairnessBound(fb.DemographicParityLoss(), 2.0), 'max_gap must be a fraction'),
    (lambda: fb.FairnessBound(fb.DemographicParityLoss(), 0.1, dual_lr=0), 'dual_lr > 0'),
    (lambda: fb.FairnessBound(fb.CovarianceLoss(), 0.1), 'not a loss of a gap the bound can count'),
    (lambda: fb.FairnessBound(fb.EqualOpportunityLoss(), 0.1).observe(
        torch.zeros(3), torch.tensor([0, 1, 0])), 'needs the labels'),
    (lambda: fb.FairnessBound(fb.DemographicParityLoss(), 0.1).observe(
        torch.zeros(3), torch.tensor([0.0, 1.0, 0.0])), 'integer group ids'),
    (lambda: fb.FairnessBound(fb.DemographicParityLoss(), 0.1).step(), 'before any rows'),
])
def test_what_the_bound_cannot_use_is_refused(call, message):
    with pytest.raises((ValueError, RuntimeError), match=message):
        call()


def _loop(data, max_dp, epochs, seed=0):
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(data.num_features, 16), torch.nn.ReLU(),
                                torch.nn.Linear(16, 1))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    bound = fb.FairnessBound(fb.DemographicParityLoss(), max_dp, dual_lr=0.2)
    rows = data.train_mask
    gaps = []
    for _ in range(epochs):
        optimizer.zero_grad()
        logits = model(data.x[rows]).view(-1)
        loss = F.binary_cross_entropy_with_logits(logits, data.y[rows].float())
        (loss + bound(logits, data.sens[rows])).backward()
        optimizer.step()
        gaps.append(bound.step())
    return gaps, bound


def test_a_loop_reaches_the_bound_that_plain_training_misses():
    data = tiny_graph(n=400)
    free, _ = _loop(data, 1.0, 150)   # a bound of 1 never binds: plain training
    bounded, bound = _loop(data, 0.03, 150)
    assert np.mean(free[-20:]) > 0.1, free[-20:]
    assert np.mean(bounded[-20:]) <= 0.03 + 0.02, bounded[-20:]
    assert bound.weight > 1.0  # the multiplier had to rise


def _rank(rank, world, out):
    from torch.nn.parallel import DistributedDataParallel
    data = tiny_graph(n=160, dtype=torch.float64)
    torch.manual_seed(0)
    model = DistributedDataParallel(torch.nn.Linear(data.num_features, 1).double())
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    reduce = functools.partial(fb.all_reduce_sum, group=None)
    bound = fb.FairnessBound(fb.DemographicParityLoss(reduce=reduce, num_groups=2), 0.02,
                             dual_lr=0.5)
    rows = data.train_mask.nonzero().view(-1)
    shares = [torch.tensor_split(part, 2) for part in torch.tensor_split(rows, world)]
    gaps = []
    for _ in range(5):
        for step, batch in enumerate(shares[rank]):  # two mini-batches per epoch
            optimizer.zero_grad()
            logits = model(data.x[batch]).view(-1)
            # each process's share of the union batch's mean, for averaged gradients
            union = sum(len(share[step]) for share in shares)
            task = F.binary_cross_entropy_with_logits(
                logits, data.y[batch].double(), reduction='sum') * world / union
            (task + bound(logits, data.sens[batch])).backward()
            optimizer.step()
        gaps.append(bound.step())
    torch.save({'weight': model.module.weight.detach(), 'gaps': torch.tensor(gaps),
                'multiplier': torch.tensor(bound.weight, dtype=torch.float64)},
               out.format(rank))


def test_two_processes_move_the_multiplier_as_one_process_does(tmp_path):
    out = str(tmp_path / 'rank{}.pt')
    spawn(_rank, args=(2, out), nprocs=2, init_file=str(tmp_path / 'init'))
    ranks = [torch.load(out.format(r), weights_only=True) for r in range(2)]
    # one process: the same steps, each over the union of both processes' batches
    data = tiny_graph(n=160, dtype=torch.float64)
    torch.manual_seed(0)
    model = torch.nn.Linear(data.num_features, 1).double()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    bound = fb.FairnessBound(fb.DemographicParityLoss(), 0.02, dual_lr=0.5)
    rows = data.train_mask.nonzero().view(-1)
    shares = [torch.tensor_split(part, 2) for part in torch.tensor_split(rows, 2)]
    gaps = []
    for _ in range(5):
        for step in range(2):
            batch = torch.cat([shares[0][step], shares[1][step]])
            optimizer.zero_grad()
            logits = model(data.x[batch]).view(-1)
            task = F.binary_cross_entropy_with_logits(logits, data.y[batch].double(),
                                                      reduction='sum') / len(batch)
            (task + bound(logits, data.sens[batch])).backward()
            optimizer.step()
        gaps.append(bound.step())
    for result in ranks:
        torch.testing.assert_close(result['gaps'], torch.tensor(gaps, dtype=result['gaps'].dtype),
                                   atol=1e-12, rtol=0)
        assert float(result['multiplier']) == pytest.approx(bound.weight, abs=1e-9)
        torch.testing.assert_close(result['weight'], model.weight.detach(), atol=1e-5, rtol=0)
    assert len(set(gaps)) > 1  # the runs moved
