import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone

from fairgnn_bilevel.losses import demographic_parity_loss
from fairgnn_bilevel.tabular import FairBiNNClassifier, FairBiNNMLP, TabularData, fit_tabular
from fairgnn_bilevel.tabular.task import TabularTask
from fairgnn_bilevel.train.strategies import make_strategy


def toy(n=600, groups=2, seed=0):
    rng = np.random.default_rng(seed)
    sens = rng.integers(0, groups, n)
    X = rng.normal(size=(n, 5)).astype(np.float32)
    X[:, 0] += 2 * sens                                   # a strong proxy of the group
    y = (X[:, 1] + sens + 0.5 * rng.normal(size=n) > 0.5).astype(np.int64)
    part = {'train': slice(0, n // 2), 'val': slice(n // 2, 3 * n // 4), 'test': slice(3 * n // 4, n)}
    return TabularData(X={k: X[v] for k, v in part.items()}, y={k: y[v] for k, v in part.items()},
                       sens={k: sens[v] for k, v in part.items()},
                       feature_names=[f'f{i}' for i in range(5)],
                       group_names=[str(g) for g in range(groups)])


def test_block_position_is_configurable():
    model = FairBiNNMLP(5, 8, layers_before=0, fairness_layers=2)
    assert model.fairness_block.in_channels == 5 and model.fairness_block.num_layers == 2
    assert model(torch.randn(3, 5)).shape == (3,)


def test_batch_missing_a_group_is_not_nan():
    torch.manual_seed(0)
    model = FairBiNNMLP(5, 8)
    data = toy(n=40)
    data.sens['train'][:] = 0
    data.sens['train'][-1] = 1           # with batch 10, most batches hold one group only
    task = TabularTask(model, data, batch_size=10)
    strategy = make_strategy('bilevel', model, leader_lr=1e-2, follower_lr=1e-2, eta=10.0, lam=1.0)
    losses = task.train_epoch(strategy)
    assert np.isfinite(list(losses.values())).all()
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_multi_group_training_and_metrics():
    result = fit_tabular(toy(groups=4), epochs=3, batch_size=50)
    assert set(result.test) == {'acc', 'auc', 'dp', 'eo', 'positive_rate'}


def test_same_seed_same_model():
    a = fit_tabular(toy(), epochs=2, seed=1)
    b = fit_tabular(toy(), epochs=2, seed=1)
    assert all(torch.equal(x, y) for x, y in zip(a.model.state_dict().values(),
                                                 b.model.state_dict().values()))


def test_bilevel_reduces_dp_on_toy_data():
    data = toy(n=2000)
    vanilla = fit_tabular(data, method='vanilla', epochs=15, leader_lr=1e-2,
                          selection__rule='last')
    fair = fit_tabular(data, method='bilevel', epochs=15, leader_lr=1e-2, follower_lr=0.01,
                       eta=100.0, hypergradient='unrolled', selection__rule='last')
    assert fair.test['dp'] < vanilla.test['dp'] / 2
