import pytest
import torch

import fairgnn_bilevel as fb
from fairgnn_bilevel import FairnessBlock
from fairgnn_bilevel.tabular import fit_tabular
from tests.conftest import UserGNN, tiny_graph, toy_table


def test_fit_returns_metrics_and_selected_model(graph):
    result = fb.fit(graph, method='bilevel', epochs=20)
    assert set(result.test) == set(result.val) == {'acc', 'auc', 'dp', 'eo', 'positive_rate'}
    assert 1 <= result.selected_epoch <= 20
    assert all(0.0 <= v <= 1.0 for v in result.test.values())
    # the returned model is the selected one: re-evaluating it reproduces the val metrics
    record = next(r for r in result.history if r['epoch'] == result.selected_epoch)
    assert {k: record[k] for k in result.val} == result.val
    from fairgnn_bilevel.train.graph import GraphTask
    assert GraphTask(result.model, graph).evaluate('val') == result.val


def test_same_seed_same_parameters(graph):
    a = fb.fit(graph, epochs=15, seed=3)
    b = fb.fit(graph, epochs=15, seed=3)
    c = fb.fit(graph, epochs=15, seed=4)
    for (name, x), y in zip(a.model.state_dict().items(), b.model.state_dict().values()):
        assert torch.equal(x, y), name
    assert any(not torch.equal(x, y) for x, y in zip(a.model.state_dict().values(),
                                                     c.model.state_dict().values()))


def test_user_model_with_a_fairness_block(graph):
    graph.x = graph.x[:, :3]
    model = UserGNN()
    before = model.fair.lins[0].weight.clone()
    result = fb.fit(graph, model=model, method='bilevel', epochs=5)
    assert result.model is model and not torch.equal(before, model.fair.lins[0].weight)


def test_overrides_and_unknown_keys(graph):
    with pytest.raises(fb.ConfigError, match='unknown key'):
        fb.fit(graph, epochz=3)
    result = fb.fit(graph, epochs=3, model__hidden=4, eval_every=2)
    assert result.model.hidden_channels == 4
    assert [r['epoch'] for r in result.history] == [2, 3]


def broken(**changes):
    data = tiny_graph()
    for key, value in changes.items():
        if value is None:
            del data[key]
        else:
            setattr(data, key, value(data) if callable(value) else value)
    return data


@pytest.mark.parametrize('changes,match', [
    (dict(sens=None), "no 'sens' attribute"),
    (dict(val_mask=lambda d: d.train_mask.clone()), 'train_mask and val_mask overlap'),
    (dict(test_mask=lambda d: torch.zeros_like(d.test_mask)), 'test_mask selects no node'),
    (dict(y=lambda d: d.y + 1), 'y must be 0 or 1'),
    (dict(x=lambda d: d.x.index_fill(0, torch.tensor([2]), float('nan'))), 'NaN in 1 nodes'),
    (dict(train_mask=lambda d: d.train_mask.long()), 'boolean mask'),
    (dict(sens=lambda d: d.sens.float()), 'integer group'),
    (dict(sens=lambda d: torch.zeros_like(d.sens)), 'single sensitive group'),
    (dict(edge_index=lambda d: d.edge_index + 1000), 'outside'),
])
def test_bad_graphs_name_the_problem(changes, match):
    with pytest.raises(ValueError, match=match):
        fb.fit(broken(**changes), epochs=1)


def test_fairness_block_is_exported():
    assert isinstance(FairnessBlock(3), torch.nn.Module)


# -- tables ----------------------------------------------------------------------------

def test_multi_group_training_and_metrics():
    result = fit_tabular(toy_table(groups=4), epochs=3, batch_size=50)
    assert set(result.test) == {'acc', 'auc', 'dp', 'eo', 'positive_rate'}


def test_same_seed_same_model():
    a = fit_tabular(toy_table(), epochs=2, seed=1)
    b = fit_tabular(toy_table(), epochs=2, seed=1)
    assert all(torch.equal(x, y) for x, y in zip(a.model.state_dict().values(),
                                                 b.model.state_dict().values()))


def test_bilevel_reduces_dp_on_toy_data():
    data = toy_table(n=2000)
    vanilla = fit_tabular(data, method='vanilla', epochs=15, leader_lr=1e-2,
                          selection__rule='last')
    fair = fit_tabular(data, method='bilevel', epochs=15, leader_lr=1e-2, follower_step=0.01,
                       eta=100.0, selection__rule='last')
    assert fair.test['dp'] < vanilla.test['dp'] / 2
