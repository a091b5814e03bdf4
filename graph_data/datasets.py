"""The fair-graph benchmark datasets as PyG ``InMemoryDataset`` s, read from any folder.

Raw files stay where the user keeps them (``root``, which may be read-only); processed
tensors go to a cache outside it: ``$FAIRGNN_BILEVEL_CACHE`` or the user cache dir.
"""
from __future__ import annotations

import functools
import hashlib
import os
import tempfile
import os.path as osp
from pathlib import Path
from typing import Callable, Dict, List, Optional

import numpy as np
import torch
from torch_geometric.data import Data, InMemoryDataset
from torch_geometric.utils import coalesce, remove_self_loops, to_undirected

from .download import fetch, sha256
from .fairgnn_format import RawGraph, read_edges, read_fairgnn, read_nodes
from .nifty_format import read_nifty, read_nifty_nodes, read_row_pairs

__all__ = ['FairGNNDataset', 'PokecZ', 'PokecN', 'NBA', 'NiftyDataset', 'German', 'Bail',
           'Credit', 'cache_dir']

_CACHE_FORMAT = 'fairgnn_bilevel.graph/4'
_FAIRGNN = ('https://raw.githubusercontent.com/EnyanDai/FairGNN/'
            '13cdca7627d7779a2396299cdc8edd3a790db7cc/dataset')
_PYGDEBIAS = ('https://raw.githubusercontent.com/PyGDebias-Team/data/'
              '49bf889c1aa5879c7f9f98a3f1638f317b0fc669/2023-7-26')


def cache_dir() -> Path:
    """Where processed tensors are cached: ``$FAIRGNN_BILEVEL_CACHE`` or ``~/.cache/...``."""
    env = os.environ.get('FAIRGNN_BILEVEL_CACHE')
    if env:
        return Path(env)
    base = os.environ.get('XDG_CACHE_HOME') or osp.join(osp.expanduser('~'), '.cache')
    return Path(base) / 'fairgnn_bilevel'


class FairGNNDataset(InMemoryDataset):
    r"""Base class of datasets in the FairGNN raw format (see :mod:`graph_data.fairgnn_format`).

    ``process`` builds a ``Data`` with ``x`` (every column but ``user_id`` and the label,
    the sensitive column included at index ``sens_column``), ``edge_index`` (symmetric, no
    duplicates, no self-loops: GCN normalisation adds them), ``y`` (labels > 1 become 1,
    −1 = unlabelled), ``raw_y`` (the label column as in the file) and ``sens`` (values > 0
    become 1, −1 = unknown).

    Args:
        root: folder holding the raw files (read only; nothing is written there).
        download: fetch missing raw files from :attr:`url` (checked against
            :attr:`sha256` where known) into ``root``.
        verify: check found files against the known sha256 too.
        drop_unknown_edges: drop edges naming unknown user ids instead of raising.
        force_reload: rebuild the processed cache.
    """

    url: str
    nodes_file: str
    edges_file: str
    label: str
    sens_attr: str
    checksums: Dict[str, str] = {}
    node_rows: Optional[int] = None  # rows of the canonical node file, checked on download
    label_number: int = 500
    sens_number: int = 200
    test_idx: bool = False
    minmax: bool = False
    scale_sens: bool = True  # with minmax: the sensitive column is scaled too
    protocol: str = 'fairgnn'  # the split the literature uses on this graph

    def __init__(self, root: str | Path, transform: Optional[Callable] = None,
                 pre_transform: Optional[Callable] = None, *, download: bool = False,
                 verify: bool = True, drop_unknown_edges: bool = False,
                 force_reload: bool = False) -> None:
        self.source = Path(root).expanduser().resolve()
        self.allow_download, self.verify = download, verify
        self.drop_unknown_edges = drop_unknown_edges
        self._check_raw_files()
        self.digests = {name: sha256(self.source / name) for name in self.raw_file_names}
        self._verify(self.digests)
        self._tensors: Dict[str, torch.Tensor] = {}
        super().__init__(str(self.source), transform, pre_transform, force_reload=force_reload,
                         log=False)  # runs _process, which fills _tensors
        self.data, self.slices = Data(**self._tensors), None

    # The cache is data, never code: PyG's own loader falls back to an unrestricted
    # ``torch.load`` (and reads ``pre_transform.pt`` with one), so a file planted in the
    # cache folder could run code.  This one reads tensors, text and numbers only
    # (``weights_only``), and rebuilds unless the file names the raw files' digests and the
    # ``pre_transform`` it was built with.
    def _download(self) -> None:
        pass  # done before the digests are taken (_check_raw_files)

    def _process(self) -> None:
        path = Path(self.processed_paths[0])
        stored = None if self.force_reload else self._read_cache(path)
        if stored is None:
            stored = self._build()
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, suffix='.tmp')
            os.close(fd)
            try:  # a run sharing the cache never reads a half-written file
                torch.save(stored, tmp)
                os.replace(tmp, path)
            finally:
                Path(tmp).unlink(missing_ok=True)
        self._tensors = stored['tensors']

    def _read_cache(self, path: Path) -> Optional[dict]:
        """The cached tensors, or ``None`` when the file is absent, not loadable as plain
        data, of another format, or built from other raw files or another pre_transform."""
        if not path.is_file():
            return None
        try:
            stored = torch.load(path, map_location='cpu', weights_only=True)
        except Exception:  # pickle that asks for code, a truncated or foreign file
            return None
        if not (isinstance(stored, dict) and stored.get('format') == _CACHE_FORMAT
                and stored.get('raw_sha256') == self.digests
                and stored.get('pre_transform') == repr(self.pre_transform)
                and isinstance(stored.get('tensors'), dict)
                and all(isinstance(v, torch.Tensor) for v in stored['tensors'].values())):
            return None
        return stored

    @property
    def raw_dir(self) -> str:
        return str(self.source)

    @property
    def processed_dir(self) -> str:
        key = hashlib.sha256(str(self.source).encode()).hexdigest()[:12]
        options = 'drop' if self.drop_unknown_edges else 'strict'
        # the format tag changes whenever process() stores something new
        return str(cache_dir() / self.__class__.__name__.lower() / f'{key}-{options}-v4')

    @property
    def raw_file_names(self) -> List[str]:
        return [self.nodes_file, self.edges_file]

    @property
    def processed_file_names(self) -> str:
        return 'data.pt'

    def _missing(self) -> List[str]:
        return [name for name in self.raw_file_names if not (self.source / name).is_file()]

    def _check_raw_files(self) -> None:
        missing = self._missing()
        if missing and self.allow_download:
            self.download()
            missing = self._missing()
        if missing:
            urls = ', '.join(f'{self.url}/{name}' for name in missing)
            raise FileNotFoundError(
                f'{self.__class__.__name__}: raw file(s) {", ".join(missing)} not found in '
                f'{self.source}; put them there (canonical: {urls}) or pass download=True')

    def _read(self) -> RawGraph:
        return read_fairgnn(self.source / self.nodes_file, self.source / self.edges_file,
                            label=self.label, sens=self.sens_attr,
                            drop_unknown_edges=self.drop_unknown_edges)

    def _verify(self, digests: Dict[str, str]) -> None:
        changed = [name for name, digest in digests.items()
                   if self.verify and self.checksums.get(name) not in (None, digest)]
        if not changed:
            return
        self._read()  # a file that does not parse is reported as what is wrong with it
        name = changed[0]
        raise ValueError(
            f'{self.source / name}: the file parses but differs from the canonical '
            f'{self.__class__.__name__} file (sha256 {digests[name][:16]}…, expected '
            f'{self.checksums[name][:16]}…), so results would not match published ones; '
            'to use it anyway pass verify=False (CLI: --set data.verify=false), or delete it '
            'and pass download=True (CLI: --set data.download=true) for the canonical file')

    def download(self) -> None:
        self.source.mkdir(parents=True, exist_ok=True)
        for name in self._missing():
            fetch(f'{self.url}/{name}', self.source, expected_sha256=self.checksums.get(name),
                  check=functools.partial(self._check_content, name),
                  owner=self.__class__.__name__)

    def _check_content(self, name: str, path: Path) -> None:
        """What a downloaded raw file must hold where no digest is known: the node table
        the label and group columns and, where known, the canonical number of rows; the
        edge list integer pairs."""
        if name == self.nodes_file:
            frame = read_nodes(path, self.label, self.sens_attr)
            if self.node_rows is not None and len(frame) != self.node_rows:
                raise ValueError(f'{len(frame)} node rows, the canonical file has '
                                 f'{self.node_rows}')
        elif name == self.edges_file and len(read_edges(path)) == 0:
            raise ValueError('no edge rows')

    def process(self) -> None:
        raise NotImplementedError  # _process builds and caches (see _build)

    def _build(self) -> dict:
        """Parse the raw files into the cached record (tensors, digests, pre_transform)."""
        raw = self._read()
        x = torch.from_numpy(raw.features)
        column = raw.feature_names.index(self.sens_attr)
        if self.minmax:  # FairGNN's feature_norm: each column to [-1, 1]
            low, high = x.min(0).values, x.max(0).values
            scaled = 2 * (x - low) / (high - low).clamp_min(1e-12) - 1
            if not self.scale_sens:  # NIFTY puts the raw group column back
                scaled[:, column] = x[:, column]
            x = scaled
        n = len(raw.labels)
        edge_index = torch.from_numpy(raw.edges)
        edge_index, _ = remove_self_loops(edge_index)
        edge_index = coalesce(to_undirected(edge_index, num_nodes=n), num_nodes=n)
        labels = torch.from_numpy(np.where(raw.labels > 1, 1, raw.labels))
        sens = torch.from_numpy(np.where(raw.sens > 0, 1, raw.sens))
        # How many rows the FairGNN protocol binarised, reported at every load.
        binarised = torch.tensor([int((raw.labels > 1).sum()), int((raw.sens > 1).sum())])
        data = Data(x=x, edge_index=edge_index, y=labels, raw_y=torch.tensor(raw.labels),
                    sens=sens, binarised=binarised,
                    sens_column=torch.tensor([column]))
        if self.pre_transform is not None:
            data = self.pre_transform(data)
        return {'format': _CACHE_FORMAT, 'raw_sha256': self.digests,
                'pre_transform': repr(self.pre_transform),
                'tensors': {key: value for key, value in data.items()
                            if isinstance(value, torch.Tensor)}}

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}({self.source})'


class PokecZ(FairGNNDataset):
    r"""Pokec-z: users of the Slovak social network Pokec (one region pair), from
    `FairGNN (Dai and Wang, WSDM 2021) <https://arxiv.org/abs/2009.01454>`_.
    Label ``I_am_working_in_field``, sensitive attribute ``region``.

    **STATS:** (nodes and edges as reported by FairGNN)

    .. list-table::
        :header-rows: 1

        * - #nodes
          - #edges (undirected)
          - #features
          - #classes
        * - 67,797
          - 617,958
          - CSV columns but user_id and the label
          - 2
    """

    url = f'{_FAIRGNN}/pokec'
    nodes_file, edges_file = 'region_job.csv', 'region_job_relationship.txt'
    label, sens_attr = 'I_am_working_in_field', 'region'
    label_number, sens_number = 500, 200
    node_rows = 67797


class PokecN(PokecZ):
    r"""Pokec-n: the second Pokec region pair of FairGNN; same columns as :class:`PokecZ`.

    **STATS:** (nodes and edges as reported by FairGNN)

    .. list-table::
        :header-rows: 1

        * - #nodes
          - #edges (undirected)
          - #features
          - #classes
        * - 66,569
          - 583,616
          - CSV columns but user_id and the label
          - 2
    """

    nodes_file, edges_file = 'region_job_2.csv', 'region_job_2_relationship.txt'
    node_rows = 66569


class NBA(FairGNNDataset):
    r"""NBA players (2016–17 season) linked by Twitter following, from FairGNN.
    Label ``SALARY`` (above median), sensitive attribute ``country`` (U.S. or not);
    features min-max scaled to [−1, 1] as in FairGNN.

    **STATS:**

    .. list-table::
        :header-rows: 1

        * - #nodes
          - #edges (undirected)
          - #features
          - #classes
        * - 403
          - 10,621
          - 95 (+ country)
          - 2
    """

    url = f'{_FAIRGNN}/NBA'
    nodes_file, edges_file = 'nba.csv', 'nba_relationship.txt'
    label, sens_attr = 'SALARY', 'country'
    checksums = {
        'nba.csv': 'fe295195cff01f20b785fe9de1e24062123cb146bdae080ce8b3ea8315d45b80',
        'nba_relationship.txt': '14c73245e5d6b6457cce7504e2bb0ded6b81155e25bf0e7d23793df7c01b4873',
    }
    label_number, sens_number, test_idx, minmax = 100, 50, True, True
    node_rows = 403


class NiftyDataset(FairGNNDataset):
    r"""Base class of the NIFTY graphs (`Agarwal et al., UAI 2021
    <https://arxiv.org/abs/2102.13186>`_), read as NIFTY's loaders read them and cached like
    :class:`FairGNNDataset` (same ``x``, ``edge_index``, ``y``, ``sens`` layout).

    The raw format (:mod:`graph_data.nifty_format`): row ``i`` of the CSV is node ``i``;
    :attr:`dropped` columns are left out of ``x`` (the label always is); :attr:`values` maps
    text (and German's ``-1`` label) to numbers; with :attr:`minmax` every column but the
    sensitive one is scaled to [−1, 1] (NIFTY's ``feature_norm`` with the group column put
    back).  The literature's split is :func:`graph_data.splits.nifty_split` with
    :attr:`label_number` training labels.
    """

    dropped: tuple = ()
    values: Dict[str, Dict[str, int]] = {}
    edge_rows: Optional[int] = None  # rows of the canonical edge file, checked on download
    scale_sens, protocol = False, 'nifty'

    def _read(self) -> RawGraph:
        return read_nifty(self.source / self.nodes_file, self.source / self.edges_file,
                          label=self.label, sens=self.sens_attr, drop=self.dropped,
                          values=self.values)

    def _check_content(self, name: str, path: Path) -> None:
        if name == self.nodes_file:
            frame = read_nifty_nodes(path, label=self.label, sens=self.sens_attr,
                                     values=self.values)
            rows, expected = len(frame), self.node_rows
        else:
            rows, expected = len(read_row_pairs(path, self.node_rows)), self.edge_rows
        if expected is not None and rows != expected:
            raise ValueError(f'{rows} rows, the canonical file has {expected}')


class German(NiftyDataset):
    r"""German credit: bank clients linked by similar accounts, from NIFTY.  Label
    ``GoodCustomer`` (``-1`` = bad credit → 0), sensitive attribute ``Gender`` (``Female``
    → 1, ``Male`` → 0); ``PurposeOfLoan`` (text) and ``OtherLoansAtStore`` (constant) are
    dropped, as NIFTY drops them; features are not scaled (NIFTY does not scale German).

    **STATS:**

    .. list-table::
        :header-rows: 1

        * - #nodes
          - #edges (undirected)
          - #features
          - #classes
        * - 1,000
          - 21,742
          - 26 (+ Gender)
          - 2
    """

    url = f'{_PYGDEBIAS}/german'
    nodes_file, edges_file = 'german.csv', 'german_edges.txt'
    label, sens_attr = 'GoodCustomer', 'Gender'
    dropped = ('PurposeOfLoan', 'OtherLoansAtStore')
    values = {'GoodCustomer': {'1': 1, '-1': 0}, 'Gender': {'Female': 1, 'Male': 0}}
    checksums = {
        'german.csv': '49cc549b1ca3f1650e3bdcd8cfce62313c763abfbcbf785d32b07fb76ae078ca',
        'german_edges.txt': '404d107384e05a14ce9befe04a710d7df0a7492095569dc35ffb5d47742ee300',
    }
    label_number, node_rows, edge_rows = 100, 1000, 24970


class Bail(NiftyDataset):
    r"""Bail (recidivism): defendants released on bail, linked by similar past records,
    from NIFTY.  Label ``RECID`` (re-offended), sensitive attribute ``WHITE``; every other
    column is a feature, scaled to [−1, 1].

    **STATS:**

    .. list-table::
        :header-rows: 1

        * - #nodes
          - #edges (undirected)
          - #features
          - #classes
        * - 18,876
          - 311,870
          - 17 (+ WHITE)
          - 2
    """

    url = f'{_PYGDEBIAS}/bail'
    nodes_file, edges_file = 'bail.csv', 'bail_edges.txt'
    label, sens_attr = 'RECID', 'WHITE'
    checksums = {
        'bail.csv': '11a7c62be2b7aed7cb069624789755d5f57acc8b69580564e2401b084e2d5faf',
        'bail_edges.txt': 'c43049fb5d9a0a994fcf4931fb34838716e4bf40e4ae30b9e504d9f4362ca0fe',
    }
    label_number, node_rows, edge_rows, minmax = 100, 18876, 403977, True


class Credit(NiftyDataset):
    r"""Credit (default): credit-card clients linked by similar spending and payment, from
    NIFTY.  Label ``NoDefaultNextMonth``, sensitive attribute ``Age`` (already binary);
    ``Single`` is dropped, as NIFTY drops it; features scaled to [−1, 1].  No digest of the
    canonical edge file is known, so any edge file with valid row pairs is accepted (a
    download is checked for the canonical 200,526 rows).

    **STATS:**

    .. list-table::
        :header-rows: 1

        * - #nodes
          - #edges (undirected)
          - #features
          - #classes
        * - 30,000
          - 137,377
          - 12 (+ Age)
          - 2
    """

    url = f'{_PYGDEBIAS}/credit'
    nodes_file, edges_file = 'credit.csv', 'credit_edges.txt'
    label, sens_attr = 'NoDefaultNextMonth', 'Age'
    dropped = ('Single',)
    checksums = {
        'credit.csv': '5d7a93f25a09dd1648c78b5e0c6a883ca832ee88259d89dfe1062e8c848bfe5d',
    }
    label_number, node_rows, edge_rows, minmax = 6000, 30000, 200526, True
