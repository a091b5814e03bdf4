"""The Python API: ``fit`` a fair node classifier on a PyG graph, or ``fit_tabular`` on a table."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, Optional, Union

from torch.nn import Module
from torch_geometric.data import Data

from .config import Config
from .train.engine import FitResult, resolve_config, train

if TYPE_CHECKING:
    from .tabular.datasets import TabularData

__all__ = ['FitResult', 'fit', 'fit_tabular']


def fit(data: Data, *, method: Optional[str] = None,
        config: Optional[Union[Config, Dict[str, Any]]] = None, model: Optional[Module] = None,
        progress: Optional[bool] = None, **overrides: Any) -> FitResult:
    """Train a FairBiNN node classifier on ``data`` and evaluate it at the selected epoch.

    Args:
        data: PyG ``Data`` with ``x``, ``edge_index``, ``y`` (0/1), ``sens`` (integer groups)
            and disjoint, non-empty boolean ``train_mask``, ``val_mask``, ``test_mask``.
        method: a name of :data:`~fairgnn_bilevel.train.strategies.METHODS` (default:
            ``config.train.method``, which defaults to ``'bilevel'``).
        config: a :class:`Config` or mapping; ``overrides`` are ``key=value`` on top of it
            (bare names such as ``eta=100``, or ``section__key`` such as ``model__hidden=32``).
        model: optional module of your own containing a ``FairnessBlock``; by default a
            :class:`~fairgnn_bilevel.nn.FairBiNNGNN` built from ``config.model``.
        progress: show a progress bar (default: when stderr is a terminal).

    Returns:
        :class:`FitResult`; ``val`` and ``test`` hold ``acc``, ``auc``, ``dp``, ``eo`` and
        ``positive_rate``.
    """
    return train(data, resolve_config(config, method, **overrides), model=model,
                 progress=progress)


def fit_tabular(data: 'TabularData', *, method: Optional[str] = None,
                config: Optional[Union[Config, Dict[str, Any]]] = None,
                progress: Optional[bool] = None, **overrides: Any) -> FitResult:
    """Like :func:`fit`, for a :class:`~fairgnn_bilevel.tabular.TabularData`: an MLP with
    the fairness block, trained on mini-batches of ``train.batch_size`` (default 100)."""
    return train(data, resolve_config(config, method, **overrides), progress=progress)
