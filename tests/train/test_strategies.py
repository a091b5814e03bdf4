"""The bilevel step's contract: who moves what, on which gradient."""
import copy

import pytest
import torch
from torch.func import functional_call

from fairgnn_bilevel.losses import demographic_parity_loss
from fairgnn_bilevel.nn import FairBiNNGNN
from fairgnn_bilevel.train.graph import GraphTask
from fairgnn_bilevel.train.strategies import Bilevel, Reference, make_strategy, task_loss
from tests.conftest import tiny_graph

BETA1 = 0.9  # Adam's default: after one step exp_avg == (1 - beta1) * grad


def setup(method='bilevel', dtype=torch.float32, **kwargs):
    torch.manual_seed(0)
    data = tiny_graph(dtype=dtype)
    model = FairBiNNGNN(data.num_features, 8).to(dtype)
    params = dict(leader_lr=1e-2, follower_lr=1e-2, eta=50.0, lam=1.0)
    params.update(kwargs)
    strategy = make_strategy(method, model, **params)
    return model, GraphTask(model, data), strategy, data


def applied_grad(strategy, param):
    return strategy.leader_optimizer.state[param]['exp_avg'] / (1 - BETA1)


def loss_terms(model, data, follower_override=None):
    """Independent full-graph losses, optionally with other follower weights."""
    rows = data.train_mask
    if follower_override is None:
        logits = model(data.x, data.edge_index)
    else:
        logits = functional_call(model, follower_override, (data.x, data.edge_index))
    f = task_loss(logits[rows], data.y[rows])
    phi = demographic_parity_loss(logits[rows], data.sens[rows])
    return f, phi


def test_first_order_leader_sees_only_the_task_gradient():
    model, task, strategy, data = setup(hypergradient='first_order')
    before = copy.deepcopy(model)
    task.train_epoch(strategy)
    # expected leader gradient: d f / d leader at the *updated* follower, no fairness term
    after_follower = copy.deepcopy(before)
    after_follower.fairness_block.load_state_dict(model.fairness_block.state_dict())
    f, phi = loss_terms(after_follower, data)
    leader = after_follower.leader_parameters()
    expected = torch.autograd.grad(f, leader, retain_graph=True)
    polluted = torch.autograd.grad(f + 50.0 * phi, leader)
    for param, want, bad in zip(model.leader_parameters(), expected, polluted):
        got = applied_grad(strategy, param)
        assert torch.allclose(got, want, atol=1e-6)
    assert any(not torch.allclose(w, b, atol=1e-4) for w, b in zip(expected, polluted))


def test_reference_mode_leader_carries_the_fairness_gradient():
    model, task, strategy, data = setup('reference')
    assert isinstance(strategy, Reference)
    before = copy.deepcopy(model)
    task.train_epoch(strategy)
    # official behaviour: grad = d(eta * phi_double_sigmoid)/d leader (old follower)
    #                            + d f / d leader (new follower)
    rows = data.train_mask
    logits = before(data.x, data.edge_index)[rows]
    phi = 50.0 * demographic_parity_loss(torch.sigmoid(logits), data.sens[rows])
    fair_grads = torch.autograd.grad(phi, before.leader_parameters(), allow_unused=True)
    after_follower = copy.deepcopy(before)
    after_follower.fairness_block.load_state_dict(model.fairness_block.state_dict())
    f, _ = loss_terms(after_follower, data)
    task_grads = torch.autograd.grad(f, after_follower.leader_parameters())
    for param, g_phi, g_f in zip(model.leader_parameters(), fair_grads, task_grads):
        want = g_f + (0 if g_phi is None else g_phi)
        assert torch.allclose(applied_grad(strategy, param), want, atol=1e-6)


@pytest.mark.parametrize('method,hyper', [('bilevel', 'first_order'), ('bilevel', 'unrolled'),
                                          ('reference', 'first_order')])
def test_follower_optimiser_moves_only_the_block(method, hyper):
    model, task, strategy, _ = setup(method, leader_lr=0.0, hypergradient=hyper)
    before = copy.deepcopy(model.state_dict())
    task.train_epoch(strategy)
    for name, value in model.state_dict().items():
        changed = not torch.equal(value, before[name])
        assert changed == name.startswith('fairness_block'), name
    assert {id(p) for g in strategy.follower_optimizer.param_groups for p in g['params']} == {
        id(p) for p in model.fairness_block.parameters()}


def test_first_order_follower_step_is_adam_on_eta_phi_only():
    model, task, strategy, data = setup(hypergradient='first_order')
    before = copy.deepcopy(model)
    task.train_epoch(strategy)
    _, phi = loss_terms(before, data)
    expected = torch.autograd.grad(50.0 * phi, before.follower_parameters())
    for param, want in zip(model.follower_parameters(), expected):
        got = strategy.follower_optimizer.state[param]['exp_avg'] / (1 - BETA1)
        assert torch.allclose(got, want, atol=1e-6)


def test_unrolled_hypergradient_matches_finite_differences():
    steps, alpha, eta = 3, 0.5, 5.0
    model, task, strategy, data = setup(dtype=torch.float64, hypergradient='unrolled',
                                        follower_steps=steps, follower_lr=alpha, eta=eta)
    start = copy.deepcopy(model)
    task.train_epoch(strategy)
    leader_names = [n for n, _ in start.named_parameters()
                    if not n.startswith('fairness_block')]
    follower_names = [n for n, _ in start.named_parameters() if n.startswith('fairness_block')]

    def outer(leader_values):
        """f(theta_p, theta_s^k(theta_p)) by plain gradient steps, no autograd through them."""
        params = dict(zip(leader_names, leader_values))
        theta = [start.get_parameter(n).detach().clone() for n in follower_names]
        rows = data.train_mask
        for _ in range(steps):
            theta = [t.requires_grad_() for t in theta]
            logits = functional_call(start, {**params, **dict(zip(follower_names, theta))},
                                     (data.x, data.edge_index))[rows]
            grads = torch.autograd.grad(eta * demographic_parity_loss(logits, data.sens[rows]),
                                        theta)
            theta = [(t - alpha * g).detach() for t, g in zip(theta, grads)]
        logits = functional_call(start, {**params, **dict(zip(follower_names, theta))},
                                 (data.x, data.edge_index))[rows]
        return task_loss(logits, data.y[rows])

    base = [start.get_parameter(n).detach() for n in leader_names]
    gen = torch.Generator().manual_seed(0)
    direction = [torch.randn(b.shape, generator=gen, dtype=torch.float64) for b in base]
    h = 1e-6
    plus = outer([b + h * d for b, d in zip(base, direction)])
    minus = outer([b - h * d for b, d in zip(base, direction)])
    numeric = (plus - minus) / (2 * h)
    analytic = sum((applied_grad(strategy, model.get_parameter(n)) * d).sum()
                   for n, d in zip(leader_names, direction))
    assert float(analytic) == pytest.approx(float(numeric), rel=1e-5, abs=1e-9)
    # and it is not the first-order gradient (the follower's response matters)
    theta_k = {n: model.get_parameter(n).detach() for n in follower_names}
    logits = functional_call(start, theta_k, (data.x, data.edge_index))[data.train_mask]
    first = torch.autograd.grad(task_loss(logits, data.y[data.train_mask]),
                                [start.get_parameter(n) for n in leader_names])
    first_dir = sum((g * d).sum() for g, d in zip(first, direction))
    assert abs(float(first_dir) - float(numeric)) > 1e-7


def test_bad_options():
    model = FairBiNNGNN(3, 4)
    with pytest.raises(ValueError, match='hypergradient'):
        Bilevel(model, leader_lr=1, follower_lr=1, eta=1, hypergradient='second')
    with pytest.raises(ValueError, match='unknown method'):
        make_strategy('adversarial', model, leader_lr=1, follower_lr=1, eta=1, lam=1)
