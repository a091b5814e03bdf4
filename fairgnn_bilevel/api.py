"""The Python API: ``fit`` a fair node classifier on a PyG graph (or ``fit_tabular`` on a
table) and ``evaluate`` a model on any rows."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, Optional, Union

import torch
from torch import Tensor
from torch.nn import Module
from torch_geometric.data import Data

from .config import Config, ConfigError, bound_settings, full_key
from .engine import FitResult, check_read, resolve_config, train
from .losses import probabilities
from .metrics import fairness_report
from .train.graph import as_node_data, check_model

if TYPE_CHECKING:
    from .tabular.datasets import TabularData

__all__ = ['FitResult', 'fit', 'fit_tabular', 'evaluate']


def _resolve(config: Optional[Union[Config, Dict[str, Any]]], method: Optional[str],
             overrides: Dict[str, Any], own_model: bool) -> Config:
    resolved = resolve_config(config, method, **overrides)
    keys = [full_key(k.replace('__', '.')) for k in overrides]
    for key in keys:  # the data arrives loaded: how to load it can no longer apply
        if key.startswith('data.'):
            raise ConfigError(f'{key} is not read by fit, which trains the data it is given; '
                              'load the data with that setting instead (graph_data.load_dataset'
                              ', tabular.load_adult, ...) and remove it')
    # what the caller names explicitly must be read by the run
    check_read(resolved, keys, own_model=own_model)
    return resolved


def with_bound(overrides: Dict[str, Any], max_dp: Optional[float],
               max_eo: Optional[float]) -> Dict[str, Any]:
    """``overrides`` with the bound ``train.max_dp`` or ``train.max_eo`` and the fairness
    loss that trains toward it (unless the caller names one)."""
    named = any(k in overrides for k in ('fairness', 'train__fairness', 'train.fairness'))
    return {**overrides, **bound_settings(max_dp, max_eo, fairness_named=named)}


def fit(data: Data, *, method: Optional[str] = None,
        config: Optional[Union[Config, Dict[str, Any]]] = None, model: Optional[Module] = None,
        max_dp: Optional[float] = None, max_eo: Optional[float] = None,
        progress: Optional[bool] = None, **overrides: Any) -> FitResult:
    """Train a FairBiNN node classifier on ``data`` and evaluate it at the selected epoch.

    Args:
        data: PyG ``Data`` with ``x``, ``edge_index``, ``y`` (classes ``0 .. C-1``; two:
            0/1), ``sens`` (integer groups, or ``[N, k]`` attributes: intersectional groups)
            and disjoint, non-empty ``train_mask`` and ``val_mask``; with a
            ``test_mask`` the result holds test metrics (else ``test`` is ``None``).
        method: a name of :data:`~fairgnn_bilevel.train.strategies.METHODS` (default:
            ``config.train.method``, which defaults to ``'bilevel'``).
        config: a :class:`Config` or mapping; ``overrides`` are ``key=value`` on top of it
            (bare names such as ``eta=100``, or ``section__key`` such as
            ``model__hidden=32``).  An override the run would not read (``eta`` with
            ``method='lagrangian'``, a ``model`` key with ``model=``) is refused.
        model: optional module of your own containing a ``FairnessBlock``, called as
            ``model(x, edge_index)`` and returning logits ``[N]`` or ``[N, 1]`` (two
            classes) or ``[N, C]``; by default a
            :class:`~fairgnn_bilevel.nn.FairBiNNGNN` built from ``config.model``.
        max_dp, max_eo: a bound on the hard ΔDP (or ΔEO), a fraction: the run trains
            toward it (the fairness weight, η or λ, becomes a Lagrange multiplier that
            rises while the training gap exceeds the bound — η never above its configured
            value — and falls while it holds; methods ``bilevel`` and ``lagrangian``) and
            returns the most accurate
            validation epoch within it.  When no epoch meets it, the result says so
            (a :class:`SelectionWarning` naming the bound and the closest gap) and holds
            the closest epoch.  ``result.bound`` tells whether it held on validation.
        progress: show a progress bar (default: when stderr is a terminal).

    Returns:
        :class:`FitResult`; ``val`` and ``test`` hold ``acc``, ``auc``, ``dp``, ``eo``,
        ``f1``, ``positive_rate`` and, for two classes, ``fpr_by_group`` (each group's
        false-positive rate).  The caller's random generators and thread count are left as
        they were.
    """
    overrides = with_bound(overrides, max_dp, max_eo)
    return train(data, _resolve(config, method, overrides, model is not None), model=model,
                 progress=progress)


def fit_tabular(data: 'TabularData', *, method: Optional[str] = None,
                config: Optional[Union[Config, Dict[str, Any]]] = None,
                max_dp: Optional[float] = None, max_eo: Optional[float] = None,
                progress: Optional[bool] = None, **overrides: Any) -> FitResult:
    """Like :func:`fit`, for a :class:`~fairgnn_bilevel.tabular.TabularData`: an MLP with
    the fairness block, trained on mini-batches of ``train.batch_size`` (default 100)."""
    overrides = with_bound(overrides, max_dp, max_eo)
    return train(data, _resolve(config, method, overrides, False), progress=progress)


def evaluate(model: Module, data: Data, rows: Optional[Tensor] = None) -> Dict[str, Any]:
    """ACC, AUC, ΔDP, ΔEO, F1, the positive rate and (two classes) each group's
    false-positive rate of ``model(x, edge_index)`` on ``rows``
    of ``data`` (a boolean mask or node indices; default: every node), in eval mode
    (:func:`~fairgnn_bilevel.metrics.fairness_report`).

    Shapes:
        ``data.x`` ``[N, F]``, ``data.y`` ``[N]`` and ``data.sens`` ``[N]`` (or ``[N, k]``:
        intersectional groups); the model returns ``[N]`` or ``[N, 1]`` logits, or
        ``[N, C]`` for ``C`` classes.
    """
    data = as_node_data(data)
    if rows is None:
        rows = torch.arange(data.num_nodes, device=data.y.device)
    elif rows.dtype == torch.bool:
        rows = rows.nonzero().view(-1)
    probs = probabilities(check_model(model, data, classes=None)[rows])
    return fairness_report(data.y[rows], probs, sensitive_features=data.sens[rows])
