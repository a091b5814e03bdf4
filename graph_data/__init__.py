"""Graph datasets for fair node classification: loaders, split protocols, synthetic graphs."""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import Dict, Type

import torch
from torch_geometric.data import Data

from .datasets import (NBA, Bail, Credit, FairGNNDataset, German, NiftyDataset, PokecN, PokecZ,
                       cache_dir)
from .splits import SPLITS, fairgnn_split, masks_from_indices, nifty_split, stratified_split
from .synthetic import fair_sbm

DATASETS: Dict[str, Type[FairGNNDataset]] = {'pokec_z': PokecZ, 'pokec_n': PokecN, 'nba': NBA,
                                             'german': German, 'bail': Bail, 'credit': Credit}

__all__ = ['load_dataset', 'DATASETS', 'SPLITS', 'PokecZ', 'PokecN', 'NBA', 'German', 'Bail',
           'Credit', 'FairGNNDataset', 'NiftyDataset', 'fair_sbm', 'fairgnn_split',
           'nifty_split', 'stratified_split', 'masks_from_indices', 'cache_dir']


def load_dataset(name: str, root: str | Path, *, split: str | None = None, seed: int = 20,
                 sens_in_features: bool = False, train: float = 0.5, val: float = 0.25,
                 download: bool = False, verify: bool = True,
                 drop_unknown_edges: bool = False, raw_labels: bool = False) -> Data:
    """Load ``name`` (``pokec_z``, ``pokec_n``, ``nba``; ``german``, ``bail``, ``credit``)
    from the raw files in ``root``.

    Args:
        split: ``'fairgnn'`` — the FairGNN protocol, index for index (on NBA val = test,
            flagged by ``data.val_is_test``); ``'nifty'`` — the NIFTY protocol (balanced,
            capped training labels; :func:`~graph_data.splits.nifty_split`); or
            ``'stratified'`` — disjoint train/val/test stratified by label and sensitive
            group, fractions ``train``/``val``.  Default: the protocol the literature uses
            on the graph (``fairgnn`` on Pokec and NBA, ``nifty`` on German, Bail, Credit).
        seed: split seed (FairGNN and NIFTY use 20).
        sens_in_features: keep the sensitive column inside ``x`` (FairGNN's loader removes it;
            NIFTY's and the official FairBiNN loader keep it, so the literature's German,
            Bail and Credit rows were trained with it).
        download, verify, drop_unknown_edges: see :class:`FairGNNDataset`.
        raw_labels: keep every value of the label column (a multi-class task) instead of
            FairGNN's binarisation (values above 1 set to 1): the distinct non-negative
            values, in order, become the classes ``0 .. C-1`` (``data.label_values`` holds
            the value of each class), and ``-1`` still marks unlabelled nodes.

    Returns:
        ``Data`` with ``x``, ``edge_index``, ``y``, ``sens``, the three masks, the plain
        attributes ``split``, ``split_seed``, ``sens_in_features`` and ``val_is_test``
        recording the choices, and ``sens_number`` (how many nodes of known group
        FairGNN's estimator sees on this dataset).
    """
    key = name.lower().replace('-', '_')
    if key not in DATASETS:
        raise ValueError(f'unknown dataset {name!r}; use one of {", ".join(DATASETS)}')
    cls = DATASETS[key]
    split = cls.protocol if split is None else split
    if split not in SPLITS:
        raise ValueError(f'unknown split {split!r}; use one of {", ".join(SPLITS)}')
    data = cls(root, download=download, verify=verify,
               drop_unknown_edges=drop_unknown_edges)[0].clone()
    column = int(data.sens_column)
    labels_changed, groups_changed = data.binarised.tolist()
    if raw_labels:
        labelled = data.raw_y >= 0
        values, classes = torch.unique(data.raw_y[labelled], return_inverse=True)
        data.y = torch.full_like(data.raw_y, -1).masked_scatter(labelled, classes)
        data.label_values, labels_changed = values, 0
    del data.sens_column, data.binarised, data.raw_y
    for count, column_name in ((labels_changed, cls.label), (groups_changed, cls.sens_attr)):
        if count:
            warnings.warn(f'{cls.__name__}: {count} node(s) have {column_name} above 1 set to 1 '
                          '(the FairGNN protocol binarises it)', stacklevel=2)
    if not sens_in_features:
        keep = [i for i in range(data.num_features) if i != column]
        data.x = data.x[:, keep]
    if split == 'fairgnn':
        data.train_mask, data.val_mask, data.test_mask = fairgnn_split(
            data.y, data.sens, seed=seed, label_number=cls.label_number, test_idx=cls.test_idx)
    elif split == 'nifty':
        data.train_mask, data.val_mask, data.test_mask = nifty_split(
            data.y, seed=seed, label_number=cls.label_number)
    elif split == 'stratified':
        data.train_mask, data.val_mask, data.test_mask = stratified_split(
            data.y, data.sens, train=train, val=val, seed=seed)
    data.split, data.sens_in_features, data.split_seed = split, sens_in_features, seed
    data.sens_number = cls.sens_number  # FairGNN's count of nodes of known group
    data.val_is_test = bool(split == 'fairgnn' and cls.test_idx)
    return data
