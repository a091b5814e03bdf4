"""The experiment config: types, ranges, keys that apply, and one source for every name."""
import pytest

from fairgnn_bilevel.cli import _parser
import typing

from fairgnn_bilevel.config import (Config, ConfigError, DataConfig, ModelConfig, TrainConfig,
                                    check_applies, from_dict, load_config)
from fairgnn_bilevel.losses import FAIRNESS_LOSSES
from fairgnn_bilevel.nn.encoders import ENCODERS
from fairgnn_bilevel.engine import resolve_config
from fairgnn_bilevel.train.selection import RULES, SelectionRule
from fairgnn_bilevel.train.strategies import DEFAULTS, METHODS, STRATEGIES
from graph_data.splits import SPLITS




def test_every_name_list_comes_from_its_registry():
    def choices(section, key):
        annotation = section.model_fields[key].annotation
        literal = next(a for a in (annotation, *typing.get_args(annotation))
                       if typing.get_origin(a) is typing.Literal)
        return typing.get_args(literal)
    assert choices(DataConfig, 'split') == SPLITS
    assert choices(ModelConfig, 'encoder') == tuple(ENCODERS)
    assert choices(TrainConfig, 'method') == tuple(STRATEGIES)
    assert choices(TrainConfig, 'fairness') == tuple(FAIRNESS_LOSSES)
    assert choices(SelectionRule, 'rule') == tuple(RULES)
    commands = next(a for a in _parser()._actions if a.dest == 'command').choices
    method = next(a for a in commands['train']._actions if a.dest == 'method')
    assert tuple(method.choices) == METHODS


def test_defaults_are_the_strategies_defaults():
    train = Config().train
    assert {key: getattr(train, key) for key in DEFAULTS} == DEFAULTS


@pytest.mark.parametrize('values,message', [
    ({'train': {'eta': -1}}, 'train.eta: must be >= 0, got -1$'),
    ({'train': {'follower_step_size': 0}}, 'train.follower_step_size: must be > 0'),
    ({'model': {'dropout': 1.0}}, 'model.dropout: must be < 1'),
    ({'train': {'threads': 0}}, "train.threads: must be 'auto' or a whole number"),
    ({'train': {'method': 'bilevel_unrolled'}}, "'bilevel_unrolled' is not one of"),
    ({'selection': {'rule': 'newest'}}, "selection.rule: 'newest' is not one of"),
    ({'train': {'epochs': True}}, 'train.epochs: expected int, got True'),
    ({'trian': {}}, 'unknown key trian'),
])
def test_values_are_checked(values, message):
    with pytest.raises(ConfigError, match=message):
        from_dict(values)


def test_threads_take_auto_or_a_number(tmp_path):
    assert from_dict({'train': {'threads': 2}}).train.threads == 2
    assert from_dict({}).train.threads is None  # a library call: the caller's count
    path = tmp_path / 'c.yaml'
    path.write_text('train: {epochs: 3}\n')
    assert load_config(path, command_line=True).train.threads == 'auto'  # a command's
    assert load_config(path, ['train.threads=3'], command_line=True).train.threads == 3


def test_keyword_overrides_are_written_as_given():
    base = from_dict({'train': {'eta': 5.0}})
    config = resolve_config(base, 'lagrangian', lam=3, model__hidden=8,
                            **{'data.synthetic': {'num_nodes': 50}})
    assert (config.train.method, config.train.lam, config.model.hidden) == ('lagrangian', 3.0, 8)
    assert config.data.synthetic == {'num_nodes': 50} and config.train.eta == 5.0
    assert base.train.method == 'bilevel'  # the given config is not changed
    with pytest.raises(ConfigError, match="unknown key 'etaa'"):
        resolve_config(None, etaa=1)


@pytest.mark.parametrize('kind,values,message', [
    ('table', {'train': {'num_neighbors': [10, 5]}}, 'train.num_neighbors applies to graphs only'),
    ('graph', {'train': {'num_neighbors': [10]}}, 'train.num_neighbors has 1 entries for 2 GNN'),
    ('graph', {'train': {'batch_size': 8, 'fairness_rows': 'known'}},
     'train.fairness_rows=known needs full-graph training'),
    ('graph', {'data': {'val_fraction': 0.3}}, 'data.val_fraction applies to tables only'),
    ('table', {'model': {'encoder': 'gat'}}, 'model.encoder applies to graphs only'),
    ('table', {'data': {'split': 'stratified'}}, 'data.split applies to graphs only'),
    ('graph', {'model': {'num_layers': 0}}, 'a graph needs at least one GNN layer'),
    ('graph', {'model': {'heads': 2}}, 'model.heads applies to model.encoder=gat only'),
])
def test_keys_that_do_not_apply_are_refused(kind, values, message):
    with pytest.raises(ConfigError, match=message):
        check_applies(from_dict(values), kind)
    other = 'table' if kind == 'graph' else 'graph'
    if 'applies to' in message and 'gat' not in message:
        check_applies(from_dict(values), other)  # the same keys are fine for the other kind


def test_empty_file_is_refused(tmp_path):
    (tmp_path / 'empty.yaml').write_text('# nothing\n')
    with pytest.raises(ConfigError, match='the file is empty'):
        load_config(tmp_path / 'empty.yaml')
