"""Tabular datasets of the FairBiNN paper: UCI Adult and Heritage Health.

Both give a :class:`TabularData`: float features (one-hot categoricals, standardised
numerics, fitted on the training rows only), binary labels and integer sensitive groups,
for train / validation / test.  The sensitive attribute is left out of the features.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from ..metrics import check_split

__all__ = ['TabularData', 'column_encoder', 'load_adult', 'load_health', 'ADULT_COLUMNS', 'HEALTH_AGE_GROUPS',
           'TABULAR_DATASETS']

ADULT_COLUMNS = ['age', 'workclass', 'fnlwgt', 'education', 'education-num', 'marital-status',
                 'occupation', 'relationship', 'race', 'sex', 'capital-gain', 'capital-loss',
                 'hours-per-week', 'native-country', 'income']
ADULT_URL = 'https://archive.ics.uci.edu/ml/machine-learning-databases/adult'
# Records of the UCI originals, which have no published digest: a download is checked
# against them (and against the columns and labels _read_adult_file checks) before use.
ADULT_ROWS = {'adult.data': 32561, 'adult.test': 16281}
HEALTH_AGE_GROUPS = ['0-9', '10-19', '20-29', '30-39', '40-49', '50-59', '60-69', '70-79', '80+']
TABULAR_DATASETS = ('adult', 'health')


@dataclass
class TabularData:
    """Features, labels and sensitive groups of each split, ready for training."""

    X: Dict[str, np.ndarray]        # split -> [n, f] float32 ('test' optional)
    y: Dict[str, np.ndarray]        # split -> [n] int64 classes 0 .. C-1 ({0, 1}: binary)
    sens: Dict[str, np.ndarray]     # split -> [n] int64 group ids
    feature_names: List[str]
    group_names: List[str]
    split: str = 'random'

    @property
    def num_features(self) -> int:
        return self.X['train'].shape[1]

    @property
    def num_classes(self) -> int:
        """``C``: the labels are ``0 .. C-1`` (at least two)."""
        return max(2, 1 + max(int(np.max(y)) for y in self.y.values() if len(y)))

    def validate(self) -> None:
        """Raise ``ValueError`` naming the split and the problem if this cannot be trained on:
        missing splits, mismatched rows or columns, non-finite features, labels other than
        the classes 0 .. C-1, negative groups, or a split without two labels and two groups
        (validation and test: without every class in every group, for C >= 3).  The test
        split is optional (no test metrics without it)."""
        for split in ('train', 'val', 'test'):
            if split == 'test' and not any(split in part for part in (self.X, self.y,
                                                                     self.sens)):
                continue
            if split not in self.X or split not in self.y or split not in self.sens:
                raise ValueError(f'TabularData has no {split!r} split; it needs train and val '
                                 '(and test for test metrics) in X, y and sens')
            X, y, sens = (np.asarray(a) for a in (self.X[split], self.y[split],
                                                  self.sens[split]))
            if X.ndim != 2 or X.shape[1] != self.num_features:
                raise ValueError(f'{split}: X must be [rows, {self.num_features}], got shape '
                                 f'{X.shape}')
            if not (len(X) == len(y) == len(sens)):
                raise ValueError(f'{split}: X, y and sens have {len(X)}, {len(y)} and '
                                 f'{len(sens)} rows')
            if not np.issubdtype(X.dtype, np.number) or not np.isfinite(X).all():
                raise ValueError(f'{split}: X must be finite numbers (NaN, inf or text found); '
                                 'impute or encode them first')
            if (not np.issubdtype(y.dtype, np.number) or (y < 0).any()
                    or (y != np.round(y)).any()):
                raise ValueError(f'{split}: y must hold integer classes 0 .. C-1, found '
                                 f'{np.unique(y)[:5].tolist()}')
            if not np.issubdtype(sens.dtype, np.integer) or (sens < 0).any():
                raise ValueError(f'{split}: sens must hold integer group ids >= 0')
            check_split(split, y, sensitive_features=sens, evaluated=split != 'train',
                        group_names=self.group_names, num_classes=self.num_classes)


def _read_adult_file(path: Path) -> pd.DataFrame:
    with path.open() as handle:
        first = handle.readline()
    header = 0 if first.lower().startswith('age') else None
    skip = 1 if first.startswith('|') else 0  # the UCI adult.test starts with a comment line
    frame = pd.read_csv(path, header=header, skiprows=skip, skipinitialspace=True,
                        na_values='?', keep_default_na=False)
    if frame.shape[1] != len(ADULT_COLUMNS):
        raise ValueError(f'{path}: expected {len(ADULT_COLUMNS)} columns '
                         f'({", ".join(ADULT_COLUMNS)}), found {frame.shape[1]}')
    frame.columns = ADULT_COLUMNS
    frame['income'] = frame['income'].astype(str).str.rstrip('.').str.strip()
    bad = sorted(set(frame['income']) - {'>50K', '<=50K'})
    if bad:
        raise ValueError(f'{path}: unexpected income label(s) {bad[:3]}; expected >50K or <=50K')
    return frame


def _check_adult_rows(path: Path, rows: int) -> None:
    found = len(_read_adult_file(path))
    if found != rows:
        raise ValueError(f'{found} records, the UCI file has {rows}')


def column_encoder(frame: pd.DataFrame, *, handle_unknown: str = 'ignore') -> ColumnTransformer:
    """One-hot for the non-numeric columns and standardisation for the numeric ones,
    fitted on ``frame``."""
    categorical = [c for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])]
    numeric = [c for c in frame.columns if c not in categorical]
    parts = [('categorical', OneHotEncoder(handle_unknown=handle_unknown, sparse_output=False),
              categorical)] if categorical else []
    parts += [('numeric', StandardScaler(), numeric)] if numeric else []
    return ColumnTransformer(parts).fit(frame)


def _encode(frames: Dict[str, pd.DataFrame], label: str, sensitive: str) -> tuple:
    features = [c for c in frames['train'].columns if c not in (label, sensitive)]
    transformer = column_encoder(frames['train'][features])
    X = {split: transformer.transform(frame[features]).astype(np.float32)
         for split, frame in frames.items()}
    return X, list(transformer.get_feature_names_out())


def load_adult(root: str | Path, *, sensitive: str = 'sex', val_fraction: float = 0.2,
               seed: int = 0, download: bool = False) -> TabularData:
    """UCI Adult: the official train/test files, plus a validation split from train.

    Accepts the header-carrying copies (``age, workclass, ..., Y``) and the original UCI
    files (no header; ``adult.test`` starting with a ``|1x3 Cross validator`` line; labels
    ending in ``.``).  Rows with a missing value (``?``) are dropped.  Label: income >50K.

    Args:
        root: folder with ``adult.data`` and ``adult.test``.
        sensitive: ``'sex'`` (Male = 0, Female = 1) or ``'race'`` (White = 0, others by
            sorted name from 1).
        val_fraction: part of the training file held out for validation (stratified by
            label and group).
        download: fetch missing files from the UCI repository.
    """
    root = Path(root)
    missing = [n for n in ('adult.data', 'adult.test') if not (root / n).is_file()]
    if missing and download:
        from graph_data.download import fetch
        root.mkdir(parents=True, exist_ok=True)
        for name in missing:  # the UCI originals: no reference sha256 is known for them
            fetch(f'{ADULT_URL}/{name}', root, owner='Adult',
                  check=lambda path, name=name: _check_adult_rows(path, ADULT_ROWS[name]))
        missing = [n for n in ('adult.data', 'adult.test') if not (root / n).is_file()]
    if missing:
        raise FileNotFoundError(f'Adult: {", ".join(missing)} not found in {root}; put them '
                                f'there (canonical: {ADULT_URL}/) or pass download=True')
    if sensitive not in ('sex', 'race'):
        raise ValueError(f"Adult: sensitive must be 'sex' or 'race', got {sensitive!r}")
    train_file, test = (_read_adult_file(root / n) for n in ('adult.data', 'adult.test'))
    train_file, test = train_file.dropna(), test.dropna()
    if sensitive == 'sex':
        names = ['Male', 'Female']
    else:
        names = ['White'] + sorted(set(train_file['race']) - {'White'})
    codes = {name: i for i, name in enumerate(names)}
    for frame in (train_file, test):
        unknown = set(frame[sensitive]) - set(codes)
        if unknown:
            raise ValueError(f'Adult: unknown {sensitive} value(s) {sorted(unknown)[:3]}')
    strata = train_file['income'] + '|' + train_file[sensitive]
    train, val = train_test_split(train_file, test_size=val_fraction,
                                  random_state=seed, stratify=strata)
    frames = {'train': train, 'val': val, 'test': test}
    X, feature_names = _encode(frames, 'income', sensitive)
    return TabularData(
        X=X, feature_names=feature_names, group_names=names, split='uci-official+val',
        y={s: (f['income'] == '>50K').to_numpy(np.int64) for s, f in frames.items()},
        sens={s: f[sensitive].map(codes).to_numpy(np.int64) for s, f in frames.items()})


def load_health(path: str | Path, *, sensitive: str = 'age', test_fraction: float = 0.2,
                val_fraction: float = 0.2, seed: int = 0) -> TabularData:
    """Heritage Health (the preprocessed ``health.csv`` of the fair-representation papers).

    Columns: label ``max_CharlsonIndex`` (> 0 → 1), ``AgeAtFirstClaim`` (one of
    :data:`HEALTH_AGE_GROUPS`), ``Sex``; ``MemberID`` and ``Year`` are dropped if present;
    every other column is a numeric feature.  Rows with an unknown age group or sex are
    dropped (with a warning).

    Args:
        path: ``health.csv`` or a folder containing it.
        sensitive: ``'age'`` (9 groups, multi-group ΔDP) or ``'sex'``.
        test_fraction, val_fraction: random test split, then validation from the rest.
    """
    path = Path(path)
    path = path / 'health.csv' if path.is_dir() else path
    if not path.is_file():
        raise FileNotFoundError(f'Heritage Health: {path} not found; it is not downloadable '
                                '(competition data): pass the preprocessed health.csv')
    frame = pd.read_csv(path)
    required = ['max_CharlsonIndex', 'AgeAtFirstClaim', 'Sex']
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise ValueError(f'{path}: missing column(s) {", ".join(missing)}')
    if sensitive not in ('age', 'sex'):
        raise ValueError(f"Heritage Health: sensitive must be 'age' or 'sex', got {sensitive!r}")
    frame = frame.drop(columns=[c for c in ('MemberID', 'Year') if c in frame.columns])
    known = frame['AgeAtFirstClaim'].isin(HEALTH_AGE_GROUPS) & frame['Sex'].isin(['M', 'F'])
    if not known.all():
        warnings.warn(f'{path}: dropped {int((~known).sum())} rows with an unknown '
                      'AgeAtFirstClaim or Sex', stacklevel=2)
        frame = frame[known]
    features = [c for c in frame.columns if c not in required]
    non_numeric = [c for c in features if not pd.api.types.is_numeric_dtype(frame[c])]
    if non_numeric:
        raise ValueError(f'{path}: non-numeric feature column(s) {", ".join(non_numeric[:5])}')
    nan_columns = [c for c in features + ['max_CharlsonIndex'] if frame[c].isna().any()]
    if nan_columns:
        raise ValueError(f'{path}: column(s) {", ".join(nan_columns[:5])} have empty values; '
                         'impute them first')
    column = 'AgeAtFirstClaim' if sensitive == 'age' else 'Sex'
    names = HEALTH_AGE_GROUPS if sensitive == 'age' else ['M', 'F']
    codes = {name: i for i, name in enumerate(names)}
    strata = frame[column].astype(str) + '|' + (frame['max_CharlsonIndex'] > 0).astype(str)
    rest, test = train_test_split(frame, test_size=test_fraction, random_state=seed,
                                  stratify=strata)
    train, val = train_test_split(rest, test_size=val_fraction, random_state=seed,
                                  stratify=strata.loc[rest.index])
    frames = {'train': train, 'val': val, 'test': test}
    X, feature_names = _encode(frames, 'max_CharlsonIndex', column)
    return TabularData(
        X=X, feature_names=feature_names, group_names=list(names),
        y={s: (f['max_CharlsonIndex'] > 0).to_numpy(np.int64) for s, f in frames.items()},
        sens={s: f[column].map(codes).to_numpy(np.int64) for s, f in frames.items()})
