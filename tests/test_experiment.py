"""Experiments: the dataset a config names, and seeds recorded and resumed run by run."""
import json

import pytest

from fairgnn_bilevel.config import ConfigError, from_dict
from fairgnn_bilevel.experiment import config_hash, default_seeds, load_data, run_seeds
from graph_data import fair_sbm
from tests.conftest import tiny_graph, toy_table, write_fairgnn_files

SMALL = {'data': {'synthetic': {'num_nodes': 200}}, 'train': {'epochs': 3}}


def test_each_dataset_reads_only_its_own_keys(tmp_path):
    write_fairgnn_files(tmp_path / 'nba')
    nba = load_data(from_dict({'data': {'name': 'nba', 'root': str(tmp_path / 'nba'),
                                        'verify': False, 'split': 'stratified'}}))
    assert nba.split == 'stratified' and not nba.sens_in_features
    with pytest.raises(ConfigError, match="data.val_fraction does not apply to dataset 'nba'"):
        load_data(from_dict({'data': {'name': 'nba', 'root': str(tmp_path / 'nba'),
                                      'val_fraction': 0.3}}))
    with pytest.raises(ConfigError, match="data.root does not apply to dataset 'synthetic'"):
        load_data(from_dict({'data': {'root': str(tmp_path)}}))
    with pytest.raises(ConfigError, match="unknown dataset 'cora'"):
        load_data(from_dict({'data': {'name': 'cora'}}))


def test_small_graphs_default_to_ten_seeds(tmp_path):
    write_fairgnn_files(tmp_path / 'nba')
    nba = load_data(from_dict({'data': {'name': 'nba', 'root': str(tmp_path / 'nba'),
                                        'verify': False}}))
    assert nba.sens_number == 50 and nba.split_seed == 20   # FairGNN's NBA protocol
    assert default_seeds(nba) == default_seeds(tiny_graph()) == 10
    assert default_seeds(fair_sbm(num_nodes=5000)) == 5
    assert default_seeds(toy_table()) == 5


def test_seed_does_not_change_the_config_hash():
    a, b = from_dict({'train': {'seed': 0}}), from_dict({'train': {'seed': 3}})
    assert config_hash(a) == config_hash(b) != config_hash(from_dict({'train': {'eta': 1.0}}))


def test_runs_are_written_after_each_seed_and_resumed(tmp_path):
    config = from_dict(SMALL)
    first = run_seeds(config, 2, tmp_path, progress=False, log=lambda line: None)
    written = json.loads((tmp_path / 'results.json').read_text())
    assert [r['seed'] for r in written] == [0, 1] and written == first
    notes = []
    again = run_seeds(config, 3, tmp_path, progress=False, log=notes.append)
    assert again[:2] == first and again[2]['seed'] == 2
    assert notes == [f'{tmp_path / "results.json"}: seed(s) 0, 1 already done with this '
                     'config; skipping them']


def test_keys_added_at_their_defaults_leave_the_hash_of_earlier_runs():
    import hashlib
    from fairgnn_bilevel.config import load_config
    from fairgnn_bilevel.engine import resolve_config
    from fairgnn_bilevel.experiment import _ADDED_KEYS
    from tests.conftest import ROOT
    config = load_config(ROOT / 'configs' / 'nba.yaml')
    earlier = config.to_dict()  # the config as versions before these keys wrote it
    del earlier['train']['seed']
    for key in _ADDED_KEYS:
        section, name = key.split('.')
        del earlier[section][name]
    digest = hashlib.sha256(json.dumps(earlier, sort_keys=True).encode()).hexdigest()[:12]
    assert config_hash(config) == digest
    assert config_hash(resolve_config(config, train__max_dp=0.02)) != digest
