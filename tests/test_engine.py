"""The engine: config resolution, the model and task for each kind of data, one train()."""
import pytest
import torch

from fairgnn_bilevel.config import ConfigError, from_dict
from fairgnn_bilevel.nn import FairBiNNGNN, FairBiNNMLP
from fairgnn_bilevel.engine import build_model, make_task, resolve_config, train
from fairgnn_bilevel.train.graph import GraphTask
from fairgnn_bilevel.train.table import TabularTask
from tests.conftest import tiny_graph, toy_table
from tests.train.test_minibatch import SAMPLER

# Tiny fits (a few epochs, a few dozen nodes) select models that predict one class or rank
# at chance: the library's SelectionWarning about it is expected here and is not what these
# tests check (tests/test_api.py asserts it where it is).
pytestmark = pytest.mark.filterwarnings('ignore::fairgnn_bilevel.train.selection.SelectionWarning')



def test_resolve_config_leaves_the_given_mapping_alone():
    given = {'train': {'eta': 5.0}}
    config = resolve_config(given, 'lagrangian', eta=7.0, model__hidden=8)
    assert given == {'train': {'eta': 5.0}}
    assert (config.train.method, config.train.eta, config.model.hidden) == ('lagrangian', 7.0, 8)


def test_the_kind_of_data_picks_model_and_task():
    config = from_dict({'model': {'hidden': 8, 'num_layers': 1}, 'train': {'seed': 0}})
    graph, table = tiny_graph(), toy_table(n=200)
    gnn, mlp = build_model(config, graph), build_model(config, table)
    assert isinstance(gnn, FairBiNNGNN) and gnn.hidden_channels == 8
    assert isinstance(mlp, FairBiNNMLP) and mlp.fairness_block.in_channels == 8
    cpu = torch.device('cpu')
    assert isinstance(make_task(gnn, graph, config, cpu), GraphTask)
    task = make_task(mlp, table, config, cpu)
    assert isinstance(task, TabularTask) and task.batch_size == 100   # the tabular default
    if SAMPLER:  # a batch size or a fan-out asks a graph for mini-batches
        from fairgnn_bilevel.train.minibatch import MiniBatchGraphTask
        sampled = from_dict({'model': {'num_layers': 1}, 'train': {'num_neighbors': [4]}})
        task = make_task(gnn, graph, sampled, cpu)
        assert isinstance(task, MiniBatchGraphTask) and task.schedule.batch_size == 1024


def test_train_refuses_keys_of_the_other_kind_before_building_anything():
    with pytest.raises(ConfigError, match='train.num_neighbors applies to graphs only'):
        train(toy_table(n=200), from_dict({'train': {'num_neighbors': [3, 3]}}))
    with pytest.raises(ConfigError, match='model.encoder applies to graphs only'):
        train(toy_table(n=200), from_dict({'model': {'encoder': 'gat'}}))


def test_train_restores_torch_threads_and_records_them():
    before = torch.get_num_threads()
    result = train(tiny_graph(), from_dict({'train': {'epochs': 2, 'threads': 1}}),
                   progress=False)
    assert result.threads == 1 and torch.get_num_threads() == before
    assert result.selected_epoch in (1, 2) and set(result.test) >= {'acc', 'auc', 'dp', 'eo'}


def test_a_methods_set_up_runs_at_the_runs_thread_count(monkeypatch):
    # FairSIN fits its neutraliser before the first step; at torch's default count beside
    # a pinned worker that fit oversubscribed the cores
    from fairgnn_bilevel.train import baselines
    seen, fit = [], baselines.fit_neutralizer

    def recording(*args, **kwargs):
        seen.append(torch.get_num_threads())
        return fit(*args, **kwargs)
    monkeypatch.setattr(baselines, 'fit_neutralizer', recording)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        train(tiny_graph(), from_dict({'train': {'epochs': 2, 'threads': 1, 'method': 'fairsin',
                                                 'neutralizer_steps': 3}}), progress=False)
        assert seen == [1] and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_the_built_network_computes_in_the_features_precision():
    graph = tiny_graph(n=60, dtype=torch.float64)
    result = train(graph, from_dict({'train': {'epochs': 2}}), progress=False)
    assert {p.dtype for p in result.model.parameters()} == {torch.float64}
    table = toy_table(n=200)
    table.X = {split: X.astype('float64') for split, X in table.X.items()}
    result = train(table, from_dict({'train': {'epochs': 1}}), progress=False)
    assert {p.dtype for p in result.model.parameters()} == {torch.float32}
