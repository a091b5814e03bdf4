"""The shared-work graph step is exact: same parameters as the straightforward step."""
import copy

import pytest
import torch

from fairgnn_bilevel.nn import FairBiNNGNN
from fairgnn_bilevel.train.graph import GraphTask
from fairgnn_bilevel.train.strategies import make_strategy
from tests.conftest import tiny_graph


class Plain(torch.nn.Module):
    """The same model seen as an opaque module: every decode runs the whole graph."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x, edge_index):
        return self.model(x, edge_index)


@pytest.mark.parametrize('sparse', [False, True], ids=['wide-field', 'restricted-field'])
@pytest.mark.parametrize('method', ['vanilla', 'lagrangian', 'bilevel_first_order', 'bilevel',
                                    'reference'])
def test_shared_step_equals_straightforward_step(method, sparse):
    torch.manual_seed(0)
    data = tiny_graph(n=200, edges_per_node=0.5) if sparse else tiny_graph(n=80)
    if sparse:  # few labelled nodes: their receptive field is a small part of the graph
        keep = data.train_mask.nonzero().view(-1)[:12]
        data.train_mask = torch.zeros_like(data.train_mask).index_fill(0, keep, True)
    fast = FairBiNNGNN(data.num_features, 16, num_layers=2)
    plain = Plain(copy.deepcopy(fast))
    kwargs = dict(leader_lr=1e-2, follower_lr=1e-2, follower_step_size=1e-2, eta=10.0, lam=1.0,
                  follower_steps=2)
    fast_task, plain_task = GraphTask(fast, data), GraphTask(plain, data)
    assert fast_task.encodes_rows and not plain_task.encodes_rows
    plan = fast_task.prepared.plan(fast_task.train_rows, 2)
    assert (plan[0][1] is not None) == sparse  # which path of the encoder is exercised
    s_fast, s_plain = make_strategy(method, fast, **kwargs), make_strategy(method, plain,
                                                                           **kwargs)
    for _ in range(15):
        fast_task.train_epoch(s_fast)
        plain_task.train_epoch(s_plain)
    for (name, a), b in zip(fast.state_dict().items(), plain.model.state_dict().values()):
        assert torch.allclose(a, b, atol=1e-5), name
    assert torch.allclose(fast_task.predict_proba(), plain_task.predict_proba(), atol=1e-5)
