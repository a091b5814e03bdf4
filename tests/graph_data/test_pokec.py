"""PokecZ / PokecN end to end on generated files in the real Pokec format."""

import numpy as np
import pytest
import torch
from torch_geometric.utils import is_undirected

from graph_data import PokecN, PokecZ, load_dataset
from tests.conftest import COLUMNS, write_pokec


def load(*args, **kwargs):
    """``load_dataset`` on the generated files, whose labels above 1 it counts in a warning
    at every load (the FairGNN protocol binarises them)."""
    with pytest.warns(UserWarning, match='above 1 set to 1'):
        return load_dataset(*args, **kwargs)


@pytest.mark.parametrize('name,cls,stem', [('pokec_z', PokecZ, 'region_job'),
                                           ('pokec_n', PokecN, 'region_job_2')])
def test_end_to_end(tmp_path, name, cls, stem):
    frame, edges = write_pokec(tmp_path, stem)
    data = load(name, tmp_path)
    n = len(frame)
    assert data.num_nodes == n and data.num_features == len(COLUMNS) - 3  # id, label, region
    assert load(name, tmp_path, sens_in_features=True).num_features == len(COLUMNS) - 2
    assert is_undirected(data.edge_index)
    assert not (data.edge_index[0] == data.edge_index[1]).any()
    # the edges are exactly the file's pairs, as a set of undirected non-loop pairs
    row = {u: i for i, u in enumerate(frame['user_id'])}
    expected = {(row[a], row[b]) for a, b in edges if a != b} | {
        (row[b], row[a]) for a, b in edges if a != b}
    assert set(map(tuple, data.edge_index.t().tolist())) == expected
    raw_label = frame['I_am_working_in_field'].to_numpy()
    assert torch.equal(data.y, torch.from_numpy(np.where(raw_label > 1, 1, raw_label)))
    labelled = int((raw_label >= 0).sum())
    assert int(data.train_mask.sum()) == min(int(0.5 * labelled), 500)
    assert int(data.val_mask.sum()) == int(0.75 * labelled) - int(0.5 * labelled)
    assert not (data.val_mask & data.test_mask).any() and not data.val_is_test
    split = load(name, tmp_path, split='stratified', train=0.6, val=0.2)
    assert abs(int(split.train_mask.sum()) - 0.6 * labelled) <= 4


def test_processed_cache_is_outside_root_and_refreshed(tmp_path, monkeypatch):
    root = tmp_path / 'raw'
    root.mkdir()
    write_pokec(root)
    root.chmod(0o555)  # read-only raw folder
    try:
        first = load('pokec_z', root)
    finally:
        root.chmod(0o755)
    assert sorted(p.name for p in root.iterdir()) == ['region_job.csv',
                                                      'region_job_relationship.txt']
    assert any((tmp_path / 'cache').rglob('data.pt'))
    write_pokec(root, n=200, seed=1)  # the raw files change: the cache must not be reused
    assert load('pokec_z', root).num_nodes == 200 != first.num_nodes


def test_missing_files_name_file_place_and_url(tmp_path):
    (tmp_path / 'region_job.csv').write_text('user_id\n')
    with pytest.raises(FileNotFoundError) as error:
        load_dataset('pokec_z', tmp_path)
    message = str(error.value)
    assert 'region_job_relationship.txt' in message and str(tmp_path) in message
    assert 'https://raw.githubusercontent.com/EnyanDai/FairGNN/' in message
    assert 'region_job.csv,' not in message  # only the missing file is listed


@pytest.mark.parametrize('edit,match', [
    (lambda f: f.drop(columns=['region']), 'missing column.*region'),
    (lambda f: f.drop(columns=['I_am_working_in_field']), 'missing column.*I_am_working_in_field'),
    (lambda f: f.drop(columns=['user_id']), 'missing column.*user_id'),
    (lambda f: f.assign(gender=['m'] * len(f)), 'non-numeric column.*gender'),
    (lambda f: f.assign(user_id=[7] * len(f)), 'duplicate user_id'),
    (lambda f: f.assign(AGE=[np.nan] + [20] * (len(f) - 1)), 'AGE have empty values'),
])
def test_bad_node_tables(tmp_path, edit, match):
    ids = np.arange(10, dtype=np.int64)
    write_pokec(tmp_path, n=10, frame_edit=edit, edges=np.stack([ids, ids[::-1]], 1))
    with pytest.raises(ValueError, match=match):
        load_dataset('pokec_z', tmp_path)


def test_unknown_edge_ids_counted_then_droppable(tmp_path):
    frame, edges = write_pokec(tmp_path)
    bad = np.concatenate([edges, [[1, 2], [3, 4], [5, frame['user_id'][0]]]])
    np.savetxt(tmp_path / 'region_job_relationship.txt', bad, fmt='%d')
    with pytest.raises(ValueError, match=r'3 of 1203 edges name user ids not in region_job.csv'):
        load_dataset('pokec_z', tmp_path)
    with pytest.warns(UserWarning, match='dropped'):
        data = load('pokec_z', tmp_path, drop_unknown_edges=True)
    assert data.num_nodes == len(frame)


def test_unknown_dataset_and_split(tmp_path):
    with pytest.raises(ValueError, match='unknown dataset'):
        load_dataset('cora', tmp_path)
    write_pokec(tmp_path)
    with pytest.raises(ValueError, match='unknown split'):
        load_dataset('pokec_z', tmp_path, split='random')


def test_binarised_labels_are_counted_at_every_load(tmp_path):
    frame, _ = write_pokec(tmp_path, frame_edit=lambda f: f.assign(
        region=np.where(np.arange(len(f)) < 7, 3, f['region'])))
    above = int((frame['I_am_working_in_field'] > 1).sum())
    for _ in range(2):  # the second load reads the cache and still reports
        with pytest.warns(UserWarning) as caught:
            load_dataset('pokec_z', tmp_path)
        messages = [str(w.message) for w in caught]
        assert f'PokecZ: {above} node(s) have I_am_working_in_field above 1 set to 1' in ' '.join(
            messages)
        assert 'PokecZ: 7 node(s) have region above 1 set to 1' in ' '.join(messages)


def test_raw_labels_keep_every_value_as_a_class(tmp_path):
    frame, _ = write_pokec(tmp_path, frame_edit=lambda f: f.assign(
        I_am_working_in_field=np.where(np.arange(len(f)) % 7 == 0, 5,
                                       f['I_am_working_in_field'])))
    raw = frame['I_am_working_in_field'].to_numpy()
    with pytest.warns(UserWarning, match='I_am_working_in_field above 1 set to 1'):
        binary = load_dataset('pokec_z', tmp_path)
    data = load_dataset('pokec_z', tmp_path, raw_labels=True)  # no binarisation to report
    assert data.label_values.tolist() == [0, 1, 2, 3, 5]
    expected = np.searchsorted([0, 1, 2, 3, 5], raw)
    assert data.y.tolist() == np.where(raw < 0, -1, expected).tolist()
    # the same nodes are labelled, so FairGNN's split picks the same nodes
    assert torch.equal(data.train_mask, binary.train_mask)
    assert torch.equal(binary.y, torch.from_numpy(np.where(raw > 1, 1, raw)))


def test_the_cli_trains_on_raw_labels(tmp_path):
    import json
    from fairgnn_bilevel.cli import main
    write_pokec(tmp_path, n=600)
    out = tmp_path / 'run'
    assert main(['train', '--config', 'configs/pokec_z.yaml', '--root', str(tmp_path),
                 '--out', str(out), '--set', 'data.raw_labels=true', '--set', 'train.epochs=2',
                 '--set', 'data.split=stratified', '--method', 'vanilla', '--no-progress']) == 0
    run = json.loads((out / 'results.json').read_text())[0]
    assert 'top_class_rate' in run['test']  # four classes: 0, 1, 2, 3
