"""Downloads through PyG's download_url from a local server: checksums, failures, offline."""
import time

import pytest

from graph_data import PokecZ, load_dataset
from graph_data.download import sha256
from tests.conftest import write_pokec


def test_download_from_local_server(tmp_path, file_server, monkeypatch):
    served, url = file_server
    frame, _ = write_pokec(served)
    monkeypatch.setattr(PokecZ, 'url', url)
    monkeypatch.setattr(PokecZ, 'checksums', {
        'region_job.csv': sha256(served / 'region_job.csv')})
    monkeypatch.setattr(PokecZ, 'node_rows', len(frame))
    root = tmp_path / 'fresh'
    with pytest.raises(FileNotFoundError, match='pass download=True'):
        load_dataset('pokec_z', root)
    with pytest.warns(UserWarning, match='above 1 set to 1'):  # the generated labels
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
