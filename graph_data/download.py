"""Checksummed downloads that fail fast offline, shared by the graph and tabular loaders."""
from __future__ import annotations

import hashlib
import socket
from contextlib import contextmanager
from pathlib import Path
from typing import Optional

from torch_geometric.data import download_url

__all__ = ['sha256', 'fetch']


def sha256(path: str | Path) -> str:
    """The hex sha256 digest of the file at ``path``."""
    digest = hashlib.sha256()
    with open(path, 'rb') as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b''):
            digest.update(chunk)
    return digest.hexdigest()


@contextmanager
def _socket_timeout(seconds: float):
    # PyG's download_url opens the URL without a timeout; offline it must fail, not hang.
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(previous)


def fetch(url: str, folder: Path, *, expected_sha256: Optional[str] = None,
          owner: str = 'download') -> Path:
    """Download ``url`` into ``folder`` with PyG's ``download_url``, failing fast offline.

    A failed transfer or a file whose sha256 differs from ``expected_sha256`` is deleted,
    so a later attempt never mistakes a partial or wrong file for the real one.
    """
    path = folder / url.rpartition('/')[2]
    try:
        with _socket_timeout(30):
            download_url(url, str(folder), log=False)
    except OSError as error:
        path.unlink(missing_ok=True)
        raise FileNotFoundError(f'{owner}: could not download {url} ({error}); are you '
                                f'offline? Put the file in {folder} by hand') from None
    if expected_sha256 is not None:
        got = sha256(path)
        if got != expected_sha256:
            path.unlink()
            raise ValueError(f'{url}: downloaded file has sha256 {got[:16]}…, expected '
                             f'{expected_sha256[:16]}…; the file was not kept')
    return path
