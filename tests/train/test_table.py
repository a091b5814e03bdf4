"""Mini-batch tabular steps."""
import numpy as np
import torch

from fairgnn_bilevel.nn import FairBiNNMLP
from fairgnn_bilevel.train.strategies import make_strategy
from fairgnn_bilevel.train.table import TabularTask
from tests.conftest import toy_table


def test_batch_missing_a_group_is_not_nan():
    torch.manual_seed(0)
    model = FairBiNNMLP(5, 8)
    data = toy_table(n=40)
    data.sens['train'][:] = 0
    data.sens['train'][-1] = 1           # with batch 10, most batches hold one group only
    task = TabularTask(model, data, batch_size=10)
    strategy = make_strategy('bilevel_first_order', model, leader_lr=1e-2, follower_lr=1e-2,
                             eta=10.0)
    losses = task.train_epoch(strategy)
    assert np.isfinite(list(losses.values())).all()
    assert all(torch.isfinite(p).all() for p in model.parameters())
