"""The bilevel step's contract: who moves what, on which gradient."""
import copy

import pytest
import torch
from torch.func import functional_call

from fairgnn_bilevel.losses import demographic_parity_loss
from fairgnn_bilevel.nn import FairBiNNGNN, follower_parameters, leader_parameters
from fairgnn_bilevel.train.graph import GraphTask
from fairgnn_bilevel.train.strategies import (METHODS, STRATEGIES, FirstOrderBilevel, Reference,
                                              UnrolledBilevel, hyperparameters, make_strategy,
                                              task_loss)
from tests.conftest import follower_gradients, tiny_graph


def setup(method='bilevel_first_order', dtype=torch.float32, **kwargs):
    torch.manual_seed(0)
    data = tiny_graph(dtype=dtype)
    model = FairBiNNGNN(data.num_features, 8).to(dtype)
    params = dict(leader_lr=1e-2, follower_lr=1e-2, follower_step_size=1e-2, eta=50.0, lam=1.0)
    params.update(kwargs)
    strategy = make_strategy(method, model, **params)
    return model, GraphTask(model, data), strategy, data


def applied_grad(param):
    """The gradient a parameter's optimiser last stepped on (the strategies never clear it)."""
    return param.grad


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
    model, task, strategy, data = setup()
    before = copy.deepcopy(model)
    task.train_epoch(strategy)
    # expected leader gradient: d f / d leader at the *updated* follower, no fairness term
    after_follower = copy.deepcopy(before)
    after_follower.fairness_block.load_state_dict(model.fairness_block.state_dict())
    f, phi = loss_terms(after_follower, data)
    leader = leader_parameters(after_follower)
    expected = torch.autograd.grad(f, leader, retain_graph=True)
    polluted = torch.autograd.grad(f + 50.0 * phi, leader)
    for param, want, bad in zip(leader_parameters(model), expected, polluted):
        assert torch.allclose(applied_grad(param), want, atol=1e-6)
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
    fair_grads = torch.autograd.grad(phi, leader_parameters(before), allow_unused=True)
    after_follower = copy.deepcopy(before)
    after_follower.fairness_block.load_state_dict(model.fairness_block.state_dict())
    f, _ = loss_terms(after_follower, data)
    task_grads = torch.autograd.grad(f, leader_parameters(after_follower))
    for param, g_phi, g_f in zip(leader_parameters(model), fair_grads, task_grads):
        want = g_f + (0 if g_phi is None else g_phi)
        assert torch.allclose(applied_grad(param), want, atol=1e-6)


@pytest.mark.parametrize('method', ['bilevel_first_order', 'bilevel', 'reference'])
def test_the_follower_moves_only_the_block(method):
    model, task, strategy, _ = setup(method, leader_lr=1e-12)
    before = copy.deepcopy(model.state_dict())
    task.train_epoch(strategy)
    for name, value in model.state_dict().items():
        moved = not torch.allclose(value, before[name], atol=1e-9, rtol=0)
        assert moved == name.startswith('fairness_block'), name


def test_first_order_follower_steps_on_eta_phi_only():
    model, task, strategy, data = setup()
    before = copy.deepcopy(model).requires_grad_()  # the follower took its block out
    stepped_on = follower_gradients(strategy.follower)
    task.train_epoch(strategy)
    _, phi = loss_terms(before, data)
    expected = torch.autograd.grad(50.0 * phi, follower_parameters(before))
    for got, want in zip(stepped_on[0], expected):
        assert torch.allclose(got, want, atol=1e-6)
    assert all(p.grad is None for p in follower_parameters(model))  # cleared after playing


def test_unrolled_hypergradient_matches_finite_differences():
    steps, alpha, eta = 3, 0.5, 5.0
    model, task, strategy, data = setup('bilevel', dtype=torch.float64, follower_steps=steps,
                                        follower_step_size=alpha, eta=eta)
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
    analytic = sum((applied_grad(model.get_parameter(n)) * d).sum()
                   for n, d in zip(leader_names, direction))
    assert float(analytic) == pytest.approx(float(numeric), rel=1e-5, abs=1e-9)
    # and it is not the first-order gradient (the follower's response matters)
    theta_k = {n: model.get_parameter(n).detach() for n in follower_names}
    logits = functional_call(start, theta_k, (data.x, data.edge_index))[data.train_mask]
    first = torch.autograd.grad(task_loss(logits, data.y[data.train_mask]),
                                [start.get_parameter(n) for n in leader_names])
    first_dir = sum((g * d).sum() for g, d in zip(first, direction))
    assert abs(float(first_dir) - float(numeric)) > 1e-7


def test_each_strategy_takes_only_its_own_hyperparameters():
    assert isinstance(make_strategy('bilevel', FairBiNNGNN(3, 4)), UnrolledBilevel)
    assert isinstance(make_strategy('bilevel_first_order', FairBiNNGNN(3, 4)), FirstOrderBilevel)
    assert hyperparameters('vanilla') == ('leader_lr', 'weight_decay')
    assert 'follower_step_size' in hyperparameters('bilevel')
    assert 'follower_lr' not in hyperparameters('bilevel')
    assert 'follower_steps' not in hyperparameters('reference')
    with pytest.raises(TypeError, match='follower_steps'):
        Reference(FairBiNNGNN(3, 4), follower_steps=3)  # refused, never silently dropped
    assert METHODS == tuple(STRATEGIES)


def test_bad_options():
    model = FairBiNNGNN(3, 4)
    with pytest.raises(ValueError, match='steps must be >= 1, got 0'):
        UnrolledBilevel(model, follower_steps=0)
    with pytest.raises(ValueError, match='unknown method'):
        make_strategy('adversarial', model)
