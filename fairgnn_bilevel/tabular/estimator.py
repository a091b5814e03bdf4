"""A scikit-learn estimator for FairBiNN on tables, to drop in beside fairlearn's."""
from __future__ import annotations

from typing import Any, Optional

import numpy as np
import pandas as pd
import torch
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.compose import ColumnTransformer
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.utils.validation import check_is_fitted

from ..api import resolve_config, train_task
from ..train.loop import seed_everything
from .datasets import TabularData
from .fit import build_mlp
from .task import TabularTask

__all__ = ['FairBiNNClassifier']


class FairBiNNClassifier(ClassifierMixin, BaseEstimator):
    """FairBiNN (an MLP with a fairness block, trained as a Stackelberg game) for tables.

    ``__init__`` only stores hyperparameters (scikit-learn convention).  ``fit`` takes the
    sensitive features as a keyword, like fairlearn's mitigators; DataFrames are encoded
    (one-hot for non-numeric columns, standardisation for numeric ones), and a category
    unseen in ``fit`` raises at predict time.

    Args:
        method: ``'bilevel'``, ``'lagrangian'``, ``'vanilla'`` or ``'reference'``.
        hidden, layers_before, fairness_layers, head_layers: the network (paper, Adult:
            2 layers before, 1 fairness layer, 1 after).
        epochs, batch_size, leader_lr, follower_lr, eta, lam, hypergradient,
        follower_steps, fairness: training, as in the ``train`` config section.
        val_fraction: part of the rows held out (stratified) to select the epoch with
            ``selection``; ``0`` trains on everything and keeps the last epoch.
        selection: selection rule (see :mod:`fairgnn_bilevel.train.selection`).
        random_state: seed of initialisation, shuffling and the validation split.
    """

    def __init__(self, method: str = 'bilevel', hidden: int = 64, layers_before: int = 2,
                 fairness_layers: int = 1, head_layers: int = 1, epochs: int = 50,
                 batch_size: int = 100, leader_lr: float = 1e-3, follower_lr: float = 1e-5,
                 eta: float = 100.0, lam: float = 1.0, hypergradient: str = 'first_order',
                 follower_steps: int = 1, fairness: str = 'dp', val_fraction: float = 0.2,
                 selection: str = 'tolerance', random_state: Optional[int] = None) -> None:
        self.method = method
        self.hidden = hidden
        self.layers_before = layers_before
        self.fairness_layers = fairness_layers
        self.head_layers = head_layers
        self.epochs = epochs
        self.batch_size = batch_size
        self.leader_lr = leader_lr
        self.follower_lr = follower_lr
        self.eta = eta
        self.lam = lam
        self.hypergradient = hypergradient
        self.follower_steps = follower_steps
        self.fairness = fairness
        self.val_fraction = val_fraction
        self.selection = selection
        self.random_state = random_state

    # -- input encoding -------------------------------------------------------------
    def _fit_encoder(self, X: Any) -> None:
        frame = X if isinstance(X, pd.DataFrame) else pd.DataFrame(np.asarray(X))
        self.feature_names_in_ = np.asarray([str(c) for c in frame.columns], dtype=object)
        self.n_features_in_ = frame.shape[1]
        categorical = [c for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])]
        numeric = [c for c in frame.columns if c not in categorical]
        self.encoder_ = ColumnTransformer([
            ('categorical', OneHotEncoder(handle_unknown='error', sparse_output=False),
             categorical),
            ('numeric', StandardScaler(), numeric)]).fit(frame)

    def _encode(self, X: Any) -> np.ndarray:
        frame = X if isinstance(X, pd.DataFrame) else pd.DataFrame(np.asarray(X))
        if frame.shape[1] != self.n_features_in_:
            raise ValueError(f'X has {frame.shape[1]} columns, but {type(self).__name__} was '
                             f'fitted with {self.n_features_in_}')
        if isinstance(X, pd.DataFrame):
            missing = [c for c in self.feature_names_in_ if c not in map(str, frame.columns)]
            if missing:
                raise ValueError(f'X lacks column(s) {", ".join(missing[:5])} seen in fit')
        nan_columns = [str(c) for c in frame.columns if frame[c].isna().any()]
        if nan_columns:
            raise ValueError(f'X has missing values in column(s) {", ".join(nan_columns[:5])}; '
                             'impute them first')
        onehot = self.encoder_.named_transformers_['categorical']
        for column, known in zip(self.encoder_.transformers_[0][2], onehot.categories_):
            unseen = sorted(set(frame[column]) - set(known), key=str)
            if unseen:
                raise ValueError(f'column {column!r} holds categories not seen in fit: '
                                 f'{unseen[:5]}; refit with data that covers them')
        return self.encoder_.transform(frame).astype(np.float32)

    # -- scikit-learn API -------------------------------------------------------------
    def fit(self, X: Any, y: Any, *, sensitive_features: Any) -> 'FairBiNNClassifier':
        y = np.asarray(y).reshape(-1)
        sens = np.asarray(sensitive_features).reshape(-1)
        if len(y) != len(sens) or len(y) != len(X):
            raise ValueError(f'X, y and sensitive_features must have the same rows, got '
                             f'{len(X)}, {len(y)} and {len(sens)}')
        if pd.isna(sens).any():
            raise ValueError('sensitive_features has missing values; assign a group to each row')
        self.classes_ = np.unique(y)
        if len(self.classes_) != 2:
            raise ValueError(f'FairBiNNClassifier is binary: y has {len(self.classes_)} '
                             f'class(es) {self.classes_.tolist()[:5]}')
        self.groups_, sens_codes = np.unique(sens, return_inverse=True)
        if len(self.groups_) < 2:
            raise ValueError('sensitive_features holds a single group; fairness needs two')
        self._fit_encoder(X)
        features = self._encode(X)
        labels = (y == self.classes_[1]).astype(np.int64)
        seed = 0 if self.random_state is None else int(self.random_state)
        rows = np.arange(len(y))
        if self.val_fraction > 0:
            strata = labels * len(self.groups_) + sens_codes
            counts = np.bincount(strata)
            stratify = strata if counts[counts > 0].min() >= 2 else None
            train, val = train_test_split(rows, test_size=self.val_fraction, random_state=seed,
                                          stratify=stratify)
        else:
            train = val = rows
        pick = lambda a: {'train': a[train], 'val': a[val], 'test': a[val]}  # noqa: E731
        data = TabularData(X=pick(features), y=pick(labels), sens=pick(sens_codes.astype(np.int64)),
                           feature_names=list(self.encoder_.get_feature_names_out()),
                           group_names=[str(g) for g in self.groups_])
        cfg = resolve_config(None, self.method, **{
            'model.hidden': self.hidden, 'model.num_layers': self.layers_before,
            'model.fairness_layers': self.fairness_layers, 'model.head_layers': self.head_layers,
            'train.epochs': self.epochs, 'train.batch_size': self.batch_size,
            'train.leader_lr': self.leader_lr, 'train.follower_lr': self.follower_lr,
            'train.eta': self.eta, 'train.lam': self.lam,
            'train.hypergradient': self.hypergradient,
            'train.follower_steps': self.follower_steps, 'train.fairness': self.fairness,
            'train.seed': seed,
            'selection.rule': self.selection if self.val_fraction > 0 else 'last'})
        seed_everything(seed)
        model = build_mlp(cfg, features.shape[1])
        result = train_task(TabularTask(model, data, batch_size=self.batch_size, seed=seed), cfg)
        self.model_, self.selected_epoch_ = result.model, result.selected_epoch
        self.history_ = result.history
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        check_is_fitted(self, 'model_')
        features = torch.as_tensor(self._encode(X))
        self.model_.eval()
        with torch.no_grad():
            positive = torch.sigmoid(self.model_(features)).numpy().astype(np.float64)
        return np.stack([1 - positive, positive], axis=1)

    def predict(self, X: Any) -> np.ndarray:
        positive = self.predict_proba(X)[:, 1] > 0.5
        return self.classes_[positive.astype(int)]
