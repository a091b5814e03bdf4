"""Where the fairness terms look: the labelled training nodes, or every node of known group."""
import copy

import pytest
import torch

from fairgnn_bilevel.losses import demographic_parity_loss
from fairgnn_bilevel.nn import FairBiNNGNN, follower_parameters
from fairgnn_bilevel.train.graph import GraphTask
from fairgnn_bilevel.train.strategies import Batch, make_strategy, task_loss
from tests.conftest import follower_gradients, tiny_graph
from tests.train.test_graph import Plain


def known_graph():
    data = tiny_graph(n=90)
    data.sens[data.sens.size(0) - 7:] = -1     # a few nodes of unknown group
    data.train_mask[-7:] = data.val_mask[-7:] = data.test_mask[-7:] = False
    return data


def test_known_rows_lagrangian_equals_an_independent_step():
    data = known_graph()
    torch.manual_seed(0)
    model = FairBiNNGNN(data.num_features, 8)
    twin = copy.deepcopy(model)
    task = GraphTask(model, data, fairness_rows='known')
    strategy = make_strategy('lagrangian', model, leader_lr=1e-2, lam=5.0)
    optimizer = torch.optim.Adam(twin.parameters(), lr=1e-2, weight_decay=1e-5)
    known, train = data.sens >= 0, data.train_mask
    assert int(known.sum()) > int(train.sum())  # unlabelled nodes of known group exist
    for _ in range(3):
        task.train_epoch(strategy)
        logits = twin(data.x, data.edge_index)
        loss = task_loss(logits[train], data.y[train]) + 5.0 * demographic_parity_loss(
            logits[known], data.sens[known])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    for (name, a), b in zip(model.state_dict().items(), twin.state_dict().values()):
        assert torch.allclose(a, b, atol=1e-5), name


def test_known_rows_change_the_follower_gradient_and_agree_across_paths():
    data = known_graph()
    torch.manual_seed(0)
    model = FairBiNNGNN(data.num_features, 8)
    plain = Plain(copy.deepcopy(model))
    before = copy.deepcopy(model)
    fast_task = GraphTask(model, data, fairness_rows='known')
    plain_task = GraphTask(plain, data, fairness_rows='known')
    options = dict(follower_lr=1e-2, eta=20.0)
    fast = make_strategy('bilevel_first_order', model, **options)
    slow = make_strategy('bilevel_first_order', plain, **options)
    stepped_on = follower_gradients(fast.follower)
    fast_task.train_epoch(fast)
    plain_task.train_epoch(slow)
    known = data.sens >= 0
    logits = before(data.x, data.edge_index)
    want = torch.autograd.grad(20.0 * demographic_parity_loss(logits[known], data.sens[known]),
                               follower_parameters(before), retain_graph=True)
    train_only = torch.autograd.grad(
        20.0 * demographic_parity_loss(logits[data.train_mask], data.sens[data.train_mask]),
        follower_parameters(before))
    for got, expected, other in zip(stepped_on[0], want, train_only):
        assert torch.allclose(got, expected, atol=1e-6)
        assert not torch.allclose(got, other, atol=1e-6)
    for a, b in zip(model.state_dict().values(), plain.model.state_dict().values()):
        assert torch.allclose(a, b, atol=1e-6)


def test_label_dependent_losses_refuse_unlabelled_rows():
    model = FairBiNNGNN(2, 4)
    batch = Batch(torch.zeros(4, 4), torch.ones(2), torch.tensor([0, 1, 0, 1]),
                  labelled=torch.tensor([0, 1]), fair=torch.arange(4))
    strategy = make_strategy('lagrangian', model, fairness='eo')
    with pytest.raises(ValueError, match='EqualOpportunityLoss needs the labels'):
        strategy.step(batch, model.decode)
    with pytest.raises(ValueError, match='unknown fairness_rows'):
        GraphTask(FairBiNNGNN(5, 4), tiny_graph(), fairness_rows='all')
