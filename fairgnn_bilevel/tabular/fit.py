"""Train FairBiNN on a :class:`TabularData` with the same strategies, loop and selection."""
from __future__ import annotations

from typing import Any, Dict, Optional

from ..api import FitResult, _device, resolve_config, train_task
from ..config import Config, check_applies
from ..train.loop import seed_everything
from .datasets import TabularData
from .model import FairBiNNMLP
from .task import TabularTask

__all__ = ['fit_tabular', 'build_mlp', 'DEFAULT_BATCH_SIZE']

DEFAULT_BATCH_SIZE = 100  # the paper's tabular batch


def build_mlp(cfg: Config, in_features: int) -> FairBiNNMLP:
    """The MLP of ``cfg.model``: ``num_layers`` layers before the block, then the head."""
    m = cfg.model
    return FairBiNNMLP(in_features, m.hidden, layers_before=m.num_layers,
                       fairness_layers=m.fairness_layers, head_layers=m.head_layers,
                       dropout=m.dropout, fairness_act=m.fairness_act)


def fit_tabular(data: TabularData, *, method: Optional[str] = None,
                config: Optional[Config | Dict[str, Any]] = None,
                progress: Optional[bool] = None, **overrides: Any) -> FitResult:
    """Like :func:`fairgnn_bilevel.fit`, for tables: mini-batches of ``train.batch_size``
    (default 100)."""
    cfg = resolve_config(config, method, **overrides)
    check_applies(cfg, 'table')
    data.validate()
    device = _device(cfg.train.device)
    seed_everything(cfg.train.seed)
    model = build_mlp(cfg, data.num_features).to(device)
    task = TabularTask(model, data, batch_size=cfg.train.batch_size or DEFAULT_BATCH_SIZE,
                       seed=cfg.train.seed, device=device)
    return train_task(task, cfg, progress=progress)
