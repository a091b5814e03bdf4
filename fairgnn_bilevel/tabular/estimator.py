"""A scikit-learn estimator for FairBiNN on tables, to drop in beside fairlearn's."""
from __future__ import annotations

import copy
import inspect
import warnings
from typing import Any, Optional

import numpy as np
import pandas as pd
import torch
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.model_selection import train_test_split
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_array, check_is_fitted, column_or_1d

from ..config import ConfigError, bound_settings
from ..losses import FAIRNESS_LOSSES, FairnessLoss
from ..metrics import check_split, intersections
from ..nn.classifier import predict_proba
from .. import engine
from ..train.strategies import DEFAULTS, STRATEGIES, reads
from ..train.table import DEFAULT_BATCH_SIZE
from .datasets import TabularData, column_encoder

__all__ = ['FairBiNNClassifier']


def _intersections(groups: pd.DataFrame):
    """The distinct groups of a frame of sensitive columns, sorted, and each row's code: a
    value per group for one column, a tuple of values for several
    (:func:`~fairgnn_bilevel.metrics.intersections`)."""
    if groups.shape[1] == 1:
        return np.unique(groups.iloc[:, 0].to_numpy(), return_inverse=True)
    codes, names = intersections(groups.to_numpy(dtype=object))  # each column's own types
    values = np.empty(len(names), dtype=object)
    values[:] = names
    return values, codes


def _fairness_name(fairness: Any) -> Any:
    """The runner's name of a fairness criterion given as a loss object (or a name)."""
    if not isinstance(fairness, FairnessLoss):
        return fairness  # a name: the config checks it
    names = [name for name, cls in FAIRNESS_LOSSES.items() if type(fairness) is cls]
    if not names or fairness.reduce is not None:
        raise ValueError(f'fairness: FairBiNNClassifier trains with DemographicParityLoss() or '
                         f'EqualOpportunityLoss() (aliases {", ".join(map(repr, FAIRNESS_LOSSES))}'
                         f'), got {fairness!r}; for another loss, use it in your own loop '
                         '(docs/own_loop.md)')
    return names[0]


def _same(value: Any, default: Any) -> bool:
    """Whether a parameter still holds its default (a loss object equals its alias)."""
    if isinstance(value, FairnessLoss):
        return _fairness_name(value) == default
    return value is default or (not isinstance(value, torch.nn.Module) and value == default)


def _aligned(sensitive_features: Any, X: Any) -> pd.DataFrame:
    """The sensitive features as a frame in ``X``'s row order: a pandas Series or
    DataFrame is matched to a DataFrame ``X`` by index (as pandas aligns), and refused when
    its index holds other labels; anything else is taken by position."""
    groups = pd.DataFrame(sensitive_features)
    if isinstance(sensitive_features, (pd.Series, pd.DataFrame)) and \
            isinstance(X, pd.DataFrame) and not groups.index.equals(X.index):
        if len(groups) != len(X) or groups.index.has_duplicates or \
                not groups.index.sort_values().equals(X.index.sort_values()):
            raise ValueError("sensitive_features' index does not match X's (the same labels "
                             'are needed to align rows); reset both indexes or pass '
                             'sensitive_features.to_numpy() to match by position')
        groups = groups.loc[X.index]
    return groups


class FairBiNNClassifier(ClassifierMixin, BaseEstimator):
    """FairBiNN (an MLP with a fairness block, trained as a Stackelberg game) for tables.

    ``__init__`` only stores hyperparameters (scikit-learn convention).  ``fit`` takes the
    sensitive features as a keyword, like fairlearn's mitigators; numeric columns are
    standardised and the others one-hot encoded, and a category unseen in ``fit`` raises
    at predict time.  The training hyperparameters default to the library's
    (:data:`~fairgnn_bilevel.train.strategies.DEFAULTS`), as in the config's ``train``
    section.

    Parameters
    ----------
    method : str, default='bilevel'
        A name of :data:`~fairgnn_bilevel.train.strategies.STRATEGIES`: ``'bilevel'``
        (unrolled hypergradient), ``'bilevel_first_order'`` (the paper's Algorithm 1),
        ``'lagrangian'``, ``'vanilla'`` or ``'reference'`` (the graph baselines and
        post-processing are refused: with this estimator, wrap ``'vanilla'`` in fairlearn's
        ``ThresholdOptimizer``).
    hidden : int, default=64
        Width of every hidden layer.
    layers_before : int, default=2
        Linear + ReLU layers before the fairness block (the paper's Adult network: 2).
    fairness_layers : int, default=1
        Layers in the fairness block (the follower).
    head_layers : int, default=1
        Linear layers after the block, the output layer included.
    epochs : int, default=50
        Passes over the training rows (the paper's tabular setting).
    batch_size : int, default=100
        Rows per step (the paper's tabular batch).
    leader_lr : float, default=1e-2
        Adam learning rate of the leader (every layer but the block).
    follower_lr : float, default=1e-2
        Adam learning rate of the follower, for ``'bilevel_first_order'`` and
        ``'reference'``.
    follower_step_size : float, default=1e-2
        Size of the follower's unrolled gradient steps, for ``'bilevel'``.
    eta : float, default=100.0
        Weight η of the fairness loss in the follower's objective.
    lam : float, default=1.0
        Weight λ of the fairness loss for ``'lagrangian'``.
    follower_steps : int, default=1
        Follower steps per leader step (bilevel methods).
    fairness : FairnessLoss or str, default='dp'
        The fairness criterion, as a loss object like fairlearn's constraint objects:
        ``fb.DemographicParityLoss()`` or ``fb.EqualOpportunityLoss()``; ``'dp'`` and
        ``'eo'`` are their aliases.  With ``max_eo`` the default becomes ``'eo'``.
    max_dp, max_eo : float or None, default=None
        A bound on the hard ΔDP (or ΔEO) of the held-out rows, like fairlearn's
        ``DemographicParity(difference_bound=...)``: the fairness weight becomes a Lagrange
        multiplier that rises while the training gap exceeds the bound (η never above
        ``eta``) and falls while it holds, and the most
        accurate held-out epoch within it is kept (``bound_`` says whether one was; a
        :class:`~fairgnn_bilevel.SelectionWarning` names the closest gap when none was).
        Methods ``'bilevel'`` and ``'lagrangian'``.
    dual_lr : float, default=0.2
        The multiplier's step per unit of relative violation, with a bound.
    val_fraction : float, default=0.2
        Part of the rows held out (stratified by label and group) to select the epoch
        with ``selection``; ``0`` trains on every row and keeps the last epoch.
    selection : str, default='tolerance'
        Selection rule, a name of :data:`~fairgnn_bilevel.train.selection.RULES`.
    random_state : int or None, default=None
        Seed of initialisation, shuffling and the validation split (``None``: 0).
    module : torch Module, callable or None, default=None
        Your own network instead of the built MLP: a module mapping the encoded features
        ``[n, n_encoded]`` to logits (``[n]`` or ``[n, 1]`` for two classes, ``[n, C]`` for
        more) with a ``fb.FairnessBlock`` inside (the follower's), copied at each ``fit``;
        or a callable ``module(n_encoded, n_classes)`` returning one (``n_encoded``: the
        columns after one-hot encoding, which ``fit`` learns).  The ``hidden`` and layer
        parameters then do not apply.

    A hyperparameter set to other than its default that the chosen ``method`` or
    ``selection`` does not read (``eta`` with ``method='lagrangian'``) raises in ``fit``.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The labels, as given, sorted; with two, ``classes_[1]`` is the positive class (one
        logit, binary cross-entropy), with more the network has one logit per class
        (cross-entropy) and the fairness terms cover every class.
    groups_ : ndarray
        The sensitive groups seen in ``fit`` (tuples of values for several columns).
    n_features_in_ : int
        Columns of ``X`` in ``fit``.
    feature_names_in_ : ndarray of str
        Column names, when ``X`` was a DataFrame with string column names.
    model_ : FairBiNNMLP
        The network at the selected epoch.
    selected_epoch_ : int
        That epoch.
    bound_ : dict or None
        With ``max_dp`` or ``max_eo``: the gap bounded (``'dp'`` or ``'eo'``), ``max_gap``,
        the selected epoch's held-out gap ``val_gap`` and ``held_on_val``.
    """

    def __init__(self, *, method: str = 'bilevel', hidden: int = 64, layers_before: int = 2,
                 fairness_layers: int = 1, head_layers: int = 1, epochs: int = 50,
                 batch_size: int = DEFAULT_BATCH_SIZE,
                 leader_lr: float = DEFAULTS['leader_lr'],
                 follower_lr: float = DEFAULTS['follower_lr'],
                 follower_step_size: float = DEFAULTS['follower_step_size'],
                 eta: float = DEFAULTS['eta'], lam: float = DEFAULTS['lam'],
                 follower_steps: int = DEFAULTS['follower_steps'],
                 fairness: str = DEFAULTS['fairness'], max_dp: Optional[float] = None,
                 max_eo: Optional[float] = None, dual_lr: float = DEFAULTS['dual_lr'],
                 val_fraction: float = 0.2,
                 selection: str = 'tolerance', random_state: Optional[int] = None,
                 module: Any = None) -> None:
        self.method = method
        self.hidden = hidden
        self.layers_before = layers_before
        self.fairness_layers = fairness_layers
        self.head_layers = head_layers
        self.epochs = epochs
        self.batch_size = batch_size
        self.leader_lr = leader_lr
        self.follower_lr = follower_lr
        self.follower_step_size = follower_step_size
        self.eta = eta
        self.lam = lam
        self.follower_steps = follower_steps
        self.fairness = fairness
        self.max_dp = max_dp
        self.max_eo = max_eo
        self.dual_lr = dual_lr
        self.val_fraction = val_fraction
        self.selection = selection
        self.random_state = random_state
        self.module = module

    # Each hyperparameter's config key: the config's checks name the parameter on error.
    # (The hyperparameters of methods that train on graphs only are left out.)
    _CONFIG_KEYS = {**{name: f'train.{name}' for name in DEFAULTS
                       if name != 'weight_decay' and any(
                           not (STRATEGIES[m].needs_graph or STRATEGIES[m].needs_group_scores)
                           for m in reads(name))},
                    'max_dp': 'train.max_dp', 'max_eo': 'train.max_eo',
                    'method': 'train.method', 'epochs': 'train.epochs',
                    'batch_size': 'train.batch_size', 'selection': 'selection.rule',
                    'hidden': 'model.hidden', 'layers_before': 'model.num_layers',
                    'fairness_layers': 'model.fairness_layers', 'head_layers': 'model.head_layers'}

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = True  # one logit per class beyond two
        tags.input_tags.string = True             # categorical columns are one-hot encoded
        tags.input_tags.categorical = True
        return tags

    # -- input encoding -------------------------------------------------------------
    def _frame(self, X: Any) -> pd.DataFrame:
        """``X`` as a DataFrame: a DataFrame as given, anything else through ``check_array``;
        object columns holding numbers become numeric, the others stay categorical."""
        if isinstance(X, pd.DataFrame):
            if X.shape[0] == 0 or X.shape[1] == 0:
                raise ValueError(f'X has shape {X.shape}; it needs at least one row and column')
            return X.infer_objects()
        array = check_array(X, dtype=None, ensure_all_finite=False)
        if array.dtype.kind in 'biuf':
            return pd.DataFrame(array.astype(np.float64))
        return pd.DataFrame(array).infer_objects()

    def _check_values(self, frame: pd.DataFrame) -> None:
        for column in frame.columns:
            values = frame[column]
            if values.isna().any():
                raise ValueError(f'X has missing values (NaN) in column {column!r}; impute '
                                 'them first')
            if pd.api.types.is_numeric_dtype(values) and not np.isfinite(
                    values.to_numpy(dtype=np.float64)).all():
                raise ValueError(f'X has infinite values (inf) in column {column!r}; clip or '
                                 'drop them first')

    def _fit_encoder(self, X: Any) -> pd.DataFrame:
        frame = self._frame(X)
        names = [str(c) for c in frame.columns]
        if isinstance(X, pd.DataFrame) and all(isinstance(c, str) for c in frame.columns):
            self.feature_names_in_ = np.asarray(names, dtype=object)
        elif hasattr(self, 'feature_names_in_'):
            del self.feature_names_in_
        self.n_features_in_ = frame.shape[1]
        self._check_values(frame)
        self.encoder_ = column_encoder(frame, handle_unknown='error')
        return frame

    def _encode(self, X: Any) -> np.ndarray:
        frame = self._frame(X)
        fitted_names = getattr(self, 'feature_names_in_', None)
        if fitted_names is not None and isinstance(X, pd.DataFrame):
            given = [str(c) for c in frame.columns]
            missing = [c for c in fitted_names if c not in given]
            if missing:
                raise ValueError(f'X lacks column(s) {", ".join(map(repr, missing[:5]))} seen '
                                 'in fit')
            extra = [c for c in given if c not in set(fitted_names)]
            if extra:
                raise ValueError(f'X has column(s) {", ".join(map(repr, extra[:5]))} not seen '
                                 'in fit')
            frame = frame[list(fitted_names)]
        elif frame.shape[1] != self.n_features_in_:
            raise ValueError(f'X has {frame.shape[1]} features, but {type(self).__name__} is '
                             f'expecting {self.n_features_in_} features as input')
        elif fitted_names is not None:  # scikit-learn's convention: warn, match by position
            warnings.warn(f'X does not have valid feature names, but {type(self).__name__} '
                          'was fitted with feature names', UserWarning, stacklevel=3)
            frame.columns = list(fitted_names)
            frame = frame.infer_objects()
        self._check_values(frame)
        for name, transformer, columns in self.encoder_.transformers_:
            if name != 'categorical':
                continue
            for column, known in zip(columns, transformer.categories_):
                unseen = sorted(set(frame[column]) - set(known), key=str)
                if unseen:
                    raise ValueError(f'column {column!r} holds categories not seen in fit: '
                                     f'{unseen[:5]}; refit with data that covers them')
        return self.encoder_.transform(frame).astype(np.float32)

    def _config(self, seed: int):
        if not (isinstance(self.val_fraction, (int, float)) and 0 <= self.val_fraction < 1):
            raise ValueError(f'val_fraction must be in [0, 1), got {self.val_fraction!r}')
        values = {key: getattr(self, name) for name, key in self._CONFIG_KEYS.items()}
        values['train.fairness'] = _fairness_name(self.fairness)
        # the default fairness follows the bound's criterion (max_eo: 'eo')
        values.update(bound_settings(self.max_dp, self.max_eo, fairness_named=not _same(
            self.fairness, DEFAULTS['fairness'])))
        if self.val_fraction == 0 and (self.max_dp is not None or self.max_eo is not None):
            raise ValueError('max_dp and max_eo select the most accurate epoch within the bound '
                             'on held-out rows; set val_fraction > 0')
        if self.val_fraction == 0:
            values['selection.rule'] = 'last'  # nothing held out to select on
        if self.method == 'threshold':  # predict_proba and predict would not be what it reports
            raise ValueError("method='threshold' post-processes a vanilla model's scores; fit "
                             "method='vanilla' and wrap it in fairlearn's ThresholdOptimizer")
        defaults = {name: p.default for name, p in
                    inspect.signature(type(self).__init__).parameters.items()}
        explicit = [key for name, key in self._CONFIG_KEYS.items()
                    if not _same(getattr(self, name), defaults[name])]
        try:
            config = engine.resolve_config(None, **values, **{'train.seed': seed})
            engine.check_read(config, explicit, own_model=self.module is not None)
            return config
        except ConfigError as error:
            message = str(error)
            for name, key in self._CONFIG_KEYS.items():
                if message.startswith(key):
                    raise ValueError(name + message[len(key):]) from None
            raise ValueError(message) from None

    # -- scikit-learn API -------------------------------------------------------------
    def fit(self, X: Any, y: Any, *, sensitive_features: Any) -> 'FairBiNNClassifier':
        """Train on ``X``, ``y`` with the groups ``sensitive_features`` (one per row).

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
            Numeric columns are standardised, other columns one-hot encoded.
        y : array-like of shape (n_samples,)
            Two or more classes of any type; of two, ``classes_[1]`` is the positive one.
        sensitive_features : array-like of shape (n_samples,) or (n_samples, n_attributes)
            Group of each row; several columns (a DataFrame or a 2-D array) form
            intersectional groups, each named by its tuple of values (``groups_``), as
            fairlearn's ``MetricFrame`` forms them.  At least two groups.
        """
        seed = 0 if self.random_state is None else int(self.random_state)
        cfg = self._config(seed)
        if y is None:
            raise ValueError(f'{type(self).__name__} requires y to be passed, but the target '
                             'y is None')
        frame = self._fit_encoder(X)
        y = column_or_1d(np.asarray(y), warn=True)
        if y.dtype.kind in 'fc' and not np.isfinite(y).all():
            raise ValueError('y contains NaN or infinity; give every row a class label')
        check_classification_targets(y)
        groups = _aligned(sensitive_features, X)  # one column per sensitive attribute
        if groups.ndim != 2 or groups.shape[1] == 0:
            raise ValueError('sensitive_features must be one value per row, or one column per '
                             f'sensitive attribute; got shape {np.shape(sensitive_features)}')
        if len(y) != len(groups) or len(y) != len(frame):
            raise ValueError(f'X, y and sensitive_features must have the same rows, got '
                             f'{len(frame)}, {len(y)} and {len(groups)}')
        if groups.isna().to_numpy().any():
            raise ValueError('sensitive_features has missing values; assign a group to each row')
        self.classes_ = np.unique(y)
        if len(self.classes_) < 2:
            raise ValueError(f'y holds one class ({self.classes_.tolist()}); a classifier '
                             'needs at least two')
        # several attributes form intersectional groups, each named by its values (fairlearn)
        self.groups_, sens_codes = _intersections(groups)
        if len(self.groups_) < 2:
            raise ValueError(f'sensitive_features holds a single group ({self.groups_[0]!r}); '
                             'fairness needs two')
        features = self.encoder_.transform(frame).astype(np.float32)
        labels = np.searchsorted(self.classes_, y).astype(np.int64)  # 0 .. C-1
        rows = np.arange(len(y))
        if self.val_fraction > 0:
            strata = labels * len(self.groups_) + sens_codes
            counts = np.bincount(strata)
            kinds = int((counts > 0).sum())
            held_out = int(np.ceil(self.val_fraction * len(rows)))
            if held_out < kinds or len(rows) - held_out < kinds:
                raise ValueError(f'val_fraction={self.val_fraction:g} of {len(rows)} rows leaves '
                                 f'{held_out} for validation and {len(rows) - held_out} for '
                                 f'training, fewer than the {kinds} label × group combinations '
                                 'each needs; pass more rows or val_fraction=0')
            stratify = strata if counts[counts > 0].min() >= 2 else None
            train, val = train_test_split(rows, test_size=self.val_fraction, random_state=seed,
                                          stratify=stratify)
        else:
            train = val = rows
        pick = lambda a: {'train': a[train], 'val': a[val]}  # noqa: E731
        data = TabularData(X=pick(features), y=pick(labels),
                           sens=pick(sens_codes.astype(np.int64)),
                           feature_names=list(self.encoder_.get_feature_names_out()),
                           group_names=[str(g) for g in self.groups_])
        # without a validation split the training rows are the ones evaluated
        classes = len(self.classes_)
        check_split('the training rows', labels[train], sensitive_features=sens_codes[train],
                    evaluated=self.val_fraction == 0, group_names=self.groups_,
                    num_classes=classes)
        if self.val_fraction > 0:
            check_split(f'the validation rows (val_fraction={self.val_fraction:g})',
                        labels[val], sensitive_features=sens_codes[val], evaluated=True,
                        group_names=self.groups_, num_classes=classes)
        result = engine.train(data, cfg, model=self._network(features), progress=False)
        self.model_, self.selected_epoch_ = result.model, result.selected_epoch
        self.history_ = result.history
        self.bound_ = result.bound
        return self

    def _network(self, features: np.ndarray) -> Optional[torch.nn.Module]:
        """A fresh copy of the ``module`` parameter (or the module its factory builds),
        checked on two encoded rows; ``None`` builds the library's MLP."""
        if self.module is None:
            return None
        classes = len(self.classes_)
        if isinstance(self.module, torch.nn.Module):
            network = copy.deepcopy(self.module)  # fit never changes a parameter
        elif callable(self.module):
            network = self.module(features.shape[1], classes)
        else:
            raise ValueError(f'module must be a torch Module or a callable (n_encoded, '
                             f'n_classes) -> Module, got {type(self.module).__name__}')
        try:
            with torch.no_grad():
                out = network(torch.as_tensor(features[:2]))
        except (RuntimeError, TypeError, ValueError) as error:
            raise ValueError(f'module {type(network).__name__} cannot take the '
                             f'{features.shape[1]} encoded feature columns '
                             f'({str(error).splitlines()[0]}); build it for that input width '
                             '(a callable module receives it)') from None
        # two classes: one logit per row (or a column of them), or one per class
        allowed = ((2,), (2, 1), (2, 2)) if classes == 2 else ((2, classes),)
        if tuple(out.shape) not in allowed:
            raise ValueError(f'module {type(network).__name__} returns shape '
                             f'{tuple(out.shape)} for 2 rows; {classes} classes need '
                             f'{"[n] or [n, 1]" if classes == 2 else f"[n, {classes}]"}')
        return network

    def predict_proba(self, X: Any) -> np.ndarray:
        """Probability of each class of ``classes_``, shape (n_samples, n_classes)."""
        check_is_fitted(self, 'model_')
        features = torch.as_tensor(self._encode(X))
        probs = predict_proba(self.model_, lambda: self.model_(features))
        probs = probs.numpy().astype(np.float64)
        return probs if probs.ndim == 2 else np.stack([1 - probs, probs], axis=1)

    def predict(self, X: Any) -> np.ndarray:
        """The most probable class of each row, from ``classes_`` (of two: the positive
        one when its probability exceeds 0.5)."""
        probs = self.predict_proba(X)
        if len(self.classes_) == 2:
            return self.classes_[(probs[:, 1] > 0.5).astype(int)]
        return self.classes_[probs.argmax(1)]
