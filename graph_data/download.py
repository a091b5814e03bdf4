"""Checksummed downloads that fail fast offline, shared by the graph and tabular loaders."""
from __future__ import annotations

import hashlib
import os
import socket
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Optional

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
          check: Optional[Callable[[Path], None]] = None, owner: str = 'download') -> Path:
    """Download ``url`` into ``folder`` with PyG's ``download_url``, failing fast offline.

    The file arrives under a temporary name and takes its own name only after its checks
    pass: the sha256 against ``expected_sha256`` where one is known, and ``check`` (which
    raises ``ValueError`` naming what is wrong: row counts, columns, label values) on the
    content.  A failed transfer or a failed check leaves nothing behind, so a later
    attempt never mistakes a partial or wrong file for the real one.
    """
    name = url.rpartition('/')[2]
    path, part = folder / name, folder / f'.{name}.{os.getpid()}.part'
    try:
        try:
            with _socket_timeout(30):
                download_url(url, str(folder), log=False, filename=part.name)
        except OSError as error:
            raise FileNotFoundError(f'{owner}: could not download {url} ({error}); are you '
                                    f'offline? Put the file in {folder} by hand') from None
        if expected_sha256 is not None:
            got = sha256(part)
            if got != expected_sha256:
                raise ValueError(f'{url}: downloaded file has sha256 {got[:16]}…, expected '
                                 f'{expected_sha256[:16]}…; the file was not kept')
        if check is not None:
            try:
                check(part)
            except ValueError as error:
                raise ValueError(f'{url}: the downloaded file failed its content check '
                                 f'({str(error).replace(str(part), name)}); the file was not '
                                 'kept') from None
        os.replace(part, path)
    finally:
        part.unlink(missing_ok=True)
    return path
