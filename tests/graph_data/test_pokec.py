"""PokecZ / PokecN end to end on generated files in the real Pokec format."""
import functools
import http.server
import threading
import time

import numpy as np
import pandas as pd
import pytest
import torch
from torch_geometric.utils import is_undirected

from graph_data import PokecN, PokecZ, load_dataset
from graph_data.download import sha256

# the first columns of FairGNN's region_job.csv
COLUMNS = ['user_id', 'public', 'completion_percentage', 'gender', 'region', 'AGE',
           'I_am_working_in_field', 'spoken_languages_indicator', 'anglicky', 'nemecky',
           'rusky', 'francuzsky', 'spanielsky', 'taliansky', 'slovensky', 'japonsky']


def write_pokec(folder, stem='region_job', n=300, seed=0, edges=None, frame_edit=None):
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({c: rng.integers(0, 2, n) for c in COLUMNS})
    frame['user_id'] = rng.choice(10**9, n, replace=False)
    frame['AGE'] = rng.integers(16, 60, n)
    frame['completion_percentage'] = rng.integers(0, 100, n)
    frame['I_am_working_in_field'] = rng.choice([-1, 0, 1, 2, 3], n)  # -1 unlabelled, >1 -> 1
    frame['region'] = rng.choice([0, 1], n)
    if frame_edit is not None:
        frame = frame_edit(frame)
    frame.to_csv(folder / f'{stem}.csv', index=False)
    if edges is None:
        ids = frame['user_id'].to_numpy()
        pairs = rng.integers(0, n, (4 * n, 2))
        edges = np.stack([ids[pairs[:, 0]], ids[pairs[:, 1]]], 1)
    np.savetxt(folder / f'{stem}_relationship.txt', edges, fmt='%d', delimiter='\t')
    return frame, edges


@pytest.mark.parametrize('name,cls,stem', [('pokec_z', PokecZ, 'region_job'),
                                           ('pokec_n', PokecN, 'region_job_2')])
def test_end_to_end(tmp_path, name, cls, stem):
    frame, edges = write_pokec(tmp_path, stem)
    data = load_dataset(name, tmp_path)
    n = len(frame)
    assert data.num_nodes == n and data.num_features == len(COLUMNS) - 3  # id, label, region
    assert load_dataset(name, tmp_path, sens_in_features=True).num_features == len(COLUMNS) - 2
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
    split = load_dataset(name, tmp_path, split='stratified', train=0.6, val=0.2)
    assert abs(int(split.train_mask.sum()) - 0.6 * labelled) <= 4


def test_processed_cache_is_outside_root_and_refreshed(tmp_path, monkeypatch):
    root = tmp_path / 'raw'
    root.mkdir()
    write_pokec(root)
    root.chmod(0o555)  # read-only raw folder
    try:
        first = load_dataset('pokec_z', root)
    finally:
        root.chmod(0o755)
    assert sorted(p.name for p in root.iterdir()) == ['region_job.csv',
                                                      'region_job_relationship.txt']
    assert any((tmp_path / 'cache').rglob('data.pt'))
    write_pokec(root, n=200, seed=1)  # the raw files change: the cache must not be reused
    assert load_dataset('pokec_z', root).num_nodes == 200 != first.num_nodes


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
        data = load_dataset('pokec_z', tmp_path, drop_unknown_edges=True)
    assert data.num_nodes == len(frame)


@pytest.fixture
def file_server(tmp_path):
    served = tmp_path / 'served'
    served.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield served, f'http://127.0.0.1:{server.server_address[1]}'
    server.shutdown()


def test_download_from_local_server(tmp_path, file_server, monkeypatch):
    served, url = file_server
    frame, _ = write_pokec(served)
    monkeypatch.setattr(PokecZ, 'url', url)
    monkeypatch.setattr(PokecZ, 'checksums', {
        'region_job.csv': sha256(served / 'region_job.csv')})
    root = tmp_path / 'fresh'
    with pytest.raises(FileNotFoundError, match='pass download=True'):
        load_dataset('pokec_z', root)
    data = load_dataset('pokec_z', root, download=True)
    assert data.num_nodes == len(frame)
    assert (root / 'region_job.csv').read_bytes() == (served / 'region_job.csv').read_bytes()


def test_download_checksum_mismatch_is_not_kept(tmp_path, file_server, monkeypatch):
    served, url = file_server
    write_pokec(served)
    monkeypatch.setattr(PokecZ, 'url', url)
    monkeypatch.setattr(PokecZ, 'checksums', {'region_job.csv': '0' * 64})
    root = tmp_path / 'fresh'
    with pytest.raises(ValueError, match='not kept'):
        load_dataset('pokec_z', root, download=True)
    assert not (root / 'region_job.csv').exists()


def test_offline_download_fails_fast(tmp_path, monkeypatch):
    import socket
    with socket.socket() as probe:  # a port with nobody listening
        probe.bind(('127.0.0.1', 0))
        port = probe.getsockname()[1]
    monkeypatch.setattr(PokecZ, 'url', f'http://127.0.0.1:{port}')
    start = time.perf_counter()
    with pytest.raises(FileNotFoundError, match='could not download'):
        load_dataset('pokec_z', tmp_path / 'fresh', download=True)
    assert time.perf_counter() - start < 10
    assert not list((tmp_path / 'fresh').iterdir())


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
