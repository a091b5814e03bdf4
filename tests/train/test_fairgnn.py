"""FairGNN's pieces against hand computations: covariance, the adversary's sign, the
estimator's known nodes, and the draw of those nodes."""
import copy
import random

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from fairgnn_bilevel.api import fit, fit_tabular
from fairgnn_bilevel.config import ConfigError
from fairgnn_bilevel.losses import covariance_loss
from fairgnn_bilevel.nn import FairBiNNGNN
from fairgnn_bilevel.engine import estimated_groups, resolve_config
from fairgnn_bilevel.train.graph import GraphTask
from fairgnn_bilevel.train.group_estimate import estimate_groups
from fairgnn_bilevel.train.strategies import FairGNN, make_strategy, task_loss
from graph_data import fair_sbm
from graph_data.splits import known_group_sample
from tests.conftest import UserGNN, tiny_graph, toy_table

# Tiny fits (a few epochs, a few dozen nodes) select models that predict one class or rank
# at chance: the library's SelectionWarning about it is expected here and is not what these
# tests check (tests/test_api.py asserts it where it is).
pytestmark = pytest.mark.filterwarnings('ignore::fairgnn_bilevel.train.selection.SelectionWarning')



def test_covariance_matches_numpy():
    logits = torch.tensor([0.3, -1.2, 2.0, 0.0, -0.4], dtype=torch.float64)
    scores = torch.tensor([1.0, 0.0, 0.8, 0.1, 1.0], dtype=torch.float64)
    probs = 1 / (1 + np.exp(-logits.numpy()))
    expected = abs(np.cov(scores.numpy(), probs, bias=True)[0, 1])
    assert float(covariance_loss(logits, scores)) == pytest.approx(expected, rel=1e-12)
    # hand-computed: groups 0/1, probabilities 0.5 and sigmoid(2)
    p = 1 / (1 + np.exp(-2.0))
    hand = abs(((0 - 0.5) * (0.5 - (0.5 + p) / 2) + (1 - 0.5) * (p - (0.5 + p) / 2)) / 2)
    assert float(covariance_loss(torch.tensor([0.0, 2.0]), torch.tensor([0, 1]))) == \
        pytest.approx(hand, rel=1e-6)


def _step(alpha, beta):
    """One FairGNN step on a tiny graph; returns what an independent computation needs."""
    torch.manual_seed(0)
    data = tiny_graph(n=60)
    model = FairBiNNGNN(data.num_features, 8)
    scores = torch.rand(data.num_nodes)  # estimated group probabilities
    task = GraphTask(model, data)
    strategy = make_strategy('fairgnn', model, scores=scores, leader_lr=1e-2, alpha=alpha,
                             beta=beta)
    assert isinstance(strategy, FairGNN)
    adversary = copy.deepcopy(strategy._adversary(torch.zeros(1, 8)))  # as the step sees it
    before = copy.deepcopy(model)
    task.train_epoch(strategy)
    return data, scores, before, adversary, model, strategy


def _independent_terms(model, adversary, data, scores):
    rows = data.train_mask
    hidden = model.encoder(data.x, data.edge_index)[rows]
    logits = model.decode(hidden)
    f = task_loss(logits, data.y[rows])
    cov = covariance_loss(logits, scores[rows])
    adv = F.binary_cross_entropy_with_logits(adversary(hidden).view(-1), scores[rows])
    return f, cov, adv, hidden


@pytest.mark.parametrize('alpha,beta', [(0.0, 1.0), (3.0, 0.0), (3.0, 0.5)])
def test_classifier_descends_task_and_covariance_and_ascends_the_adversary(alpha, beta):
    data, scores, before, adversary, model, _ = _step(alpha, beta)
    f, cov, adv, _ = _independent_terms(before, adversary, data, scores)
    params = list(before.parameters())
    want = torch.autograd.grad(f + alpha * cov - beta * adv, params, retain_graph=True,
                               allow_unused=True)
    for param, expected in zip(model.parameters(), want):
        assert expected is not None and torch.allclose(param.grad, expected, atol=1e-6)
    if beta:  # the sign matters: descending the adversary's loss is a different step
        wrong = torch.autograd.grad(f + alpha * cov + beta * adv, params)
        assert any(not torch.allclose(p.grad, w, atol=1e-6)
                   for p, w in zip(model.parameters(), wrong))


def test_adversary_descends_its_own_loss_on_detached_rows():
    data, scores, before, adversary, model, strategy = _step(1.0, 1.0)
    _, _, adv, hidden = _independent_terms(before, adversary, data, scores)
    want = torch.autograd.grad(adv, list(adversary.parameters()))
    for param, expected in zip(strategy.adversary.parameters(), want):
        assert torch.allclose(param.grad, expected, atol=1e-6)
    # its loss falls after its step, on the same rows
    after = F.binary_cross_entropy_with_logits(strategy.adversary(hidden).view(-1),
                                               scores[data.train_mask])
    assert float(after.detach()) < float(adv.detach())


def test_known_group_sample_is_fairgnns_draw():
    rng = np.random.default_rng(0)
    sens = rng.choice([-1, 0, 1], 300, p=[0.2, 0.4, 0.4])
    perm = rng.permutation(300)
    val, test = perm[:60], perm[60:120]
    # FairGNN's load_pokec, with numpy arrays as it has them
    sens_idx = set(np.where(sens >= 0)[0])
    expected = list(sens_idx - set(val) - set(test))
    random.seed(20)
    random.shuffle(expected)
    expected = sorted(int(i) for i in expected[:50])
    val_mask = torch.zeros(300, dtype=torch.bool).index_fill(0, torch.as_tensor(val), True)
    test_mask = torch.zeros(300, dtype=torch.bool).index_fill(0, torch.as_tensor(test), True)
    got = known_group_sample(torch.as_tensor(sens), val_mask, test_mask, number=50, seed=20)
    assert got.tolist() == expected
    assert not (val_mask | test_mask)[got].any() and (torch.as_tensor(sens)[got] >= 0).all()
    everything = known_group_sample(torch.as_tensor(sens), val_mask, test_mask, number=10**6)
    assert len(everything) == int(((sens >= 0) & ~(val_mask | test_mask).numpy()).sum())


def test_estimator_sees_only_the_known_nodes_groups():
    data = fair_sbm(num_nodes=300, seed=1)
    known = known_group_sample(data.sens, data.val_mask, data.test_mask, number=40, seed=0)
    torch.manual_seed(0)
    scores = estimate_groups(data, known, epochs=60)
    others = torch.ones(data.num_nodes, dtype=torch.bool).index_fill(0, known, False)
    altered = data.clone()
    altered.sens = torch.where(others, 1 - data.sens, data.sens)  # every other group flipped
    torch.manual_seed(0)
    again = estimate_groups(altered, known, epochs=60)
    assert torch.equal(scores, again)
    assert torch.equal(scores[known], data.sens[known].float())
    # and it learns something: the generated features carry the group
    guessed = (scores[others] > 0.5).long()
    assert (guessed == data.sens[others]).float().mean() > 0.6


def test_estimator_needs_both_groups():
    data = tiny_graph()
    one_group = (data.sens == 0).nonzero().view(-1)[:5]
    with pytest.raises(ValueError, match='both groups 0 and 1.*sens_number'):
        estimate_groups(data, one_group, epochs=1)


def test_estimated_groups_use_the_datasets_sens_number_and_split_seed():
    data = fair_sbm(num_nodes=300, seed=1)
    data.sens_number, data.split_seed = 30, 7
    config = resolve_config({'train': {'method': 'fairgnn', 'seed': 3}})
    torch.manual_seed(0)
    scores = estimated_groups(data, config)
    known = known_group_sample(data.sens, data.val_mask, data.test_mask, number=30, seed=7)
    exact = (scores == 0) | (scores == 1)
    assert exact[known].all() and int(exact.sum()) < 300 - 30 + len(known)
    assert torch.equal(scores[known], data.sens[known].float())


def test_fairgnn_trains_and_reports_on_a_graph():
    result = fit(fair_sbm(num_nodes=300, seed=2), method='fairgnn', epochs=5, progress=False,
                 **{'train.alpha': 10.0, 'train.beta': 1.0, 'train.sens_number': 40})
    assert 0 <= result.test['dp'] <= 1 and 0 <= result.test['acc'] <= 1


def test_fairgnn_refuses_what_it_cannot_use():
    data = tiny_graph(features=3)
    with pytest.raises(ValueError, match='representation'):
        fit(data, method='fairgnn', model=UserGNN(), epochs=1, progress=False,
            **{'train.sens_number': 10})
    with pytest.raises(ConfigError, match='graphs only'):
        fit_tabular(toy_table(), method='fairgnn', epochs=1, progress=False)
