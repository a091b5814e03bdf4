"""NBA from the real raw files (../shared/data/nba), against an independent FairGNN split."""
import random
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from torch_geometric.utils import is_undirected

from graph_data import NBA, load_dataset
from tests.conftest import shared_dataset


def fairgnn_reference_indices(csv):
    """Re-derive FairGNN's NBA split straight from the CSV (label_number 100, test_idx)."""
    labels = pd.read_csv(csv)['SALARY'].to_numpy()
    label_idx = np.where(labels >= 0)[0]
    random.seed(20)
    random.shuffle(label_idx)
    return sorted(label_idx[:100].tolist()), sorted(label_idx[100:].tolist())


def test_nba_shape_and_fairgnn_split():
    root = shared_dataset('nba')
    data = load_dataset('nba', root, sens_in_features=True)
    assert data.num_nodes == 403 and data.num_features == 96
    assert load_dataset('nba', root).num_features == 95
    assert is_undirected(data.edge_index)
    assert len(set(map(tuple, data.edge_index.t().tolist()))) == data.edge_index.size(1)
    train, test = fairgnn_reference_indices(root / 'nba.csv')
    assert data.train_mask.nonzero().view(-1).tolist() == train and len(train) == 100
    assert data.test_mask.nonzero().view(-1).tolist() == test and len(test) == 213
    assert torch.equal(data.val_mask, data.test_mask) and data.val_is_test
    assert float(data.x.min()) == -1.0 and float(data.x.max()) == 1.0


def test_sensitive_column_is_country():
    root = shared_dataset('nba')
    data = load_dataset('nba', root, sens_in_features=True)
    country = pd.read_csv(root / 'nba.csv')['country'].to_numpy().copy()
    assert torch.equal(data.sens, torch.from_numpy(country))
    # min-max scaled country column is still the sensitive attribute (0 -> -1, 1 -> 1)
    column = list(pd.read_csv(root / 'nba.csv').columns).index('country') - 2
    assert torch.equal(data.x[:, column], 2.0 * data.sens - 1)


def test_stratified_split_is_leak_free():
    data = load_dataset('nba', shared_dataset('nba'), split='stratified', seed=0)
    assert not (data.val_mask & data.test_mask).any() and not data.val_is_test
    assert not (data.train_mask & data.val_mask).any()
    assert int((data.train_mask | data.val_mask | data.test_mask).sum()) == 313


def test_found_file_checksum_mismatch(tmp_path):
    root = shared_dataset('nba')
    (tmp_path / 'nba.csv').write_bytes((root / 'nba.csv').read_bytes() + b'\n')
    (tmp_path / 'nba_relationship.txt').write_bytes((root / 'nba_relationship.txt').read_bytes())
    with pytest.raises(ValueError, match='differs from the canonical'):
        NBA(tmp_path)
    assert NBA(tmp_path, verify=False)[0].num_nodes == 403


def test_cli_runs_nba(tmp_path, capsys):
    from fairgnn_bilevel.cli import main
    root = shared_dataset('nba')
    assert main(['train', '--config', str(Path(__file__).resolve().parents[2] / 'configs/nba.yaml'), '--root', str(root), '--seeds', '1',
                 '--set', 'train.epochs=20', '--out', str(tmp_path), '--no-progress']) == 0
    out = capsys.readouterr().out
    assert 'validation = test' in out and '| bilevel_first_order | 1 |' in out
