"""The Python API: ``fit`` a fair node classifier on a PyG graph."""
from __future__ import annotations

import sys
import time
import warnings
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

import torch
from torch.nn import Module
from torch_geometric.data import Data

from .config import Config, ConfigError, apply_overrides, check_applies, from_dict
from .nn.classifier import FairBiNNGNN
from .train.graph import GraphTask, validate_graph
from .train.loop import Task, run_epochs, seed_everything
from .train.selection import predicts_one_class
from .train.strategies import make_strategy
from .train.threads import choose_threads, torch_threads

__all__ = ['FitResult', 'fit', 'train_task', 'build_model', 'resolve_config', 'show_progress']


@dataclass
class FitResult:
    """A trained model at its selected epoch, with validation and test metrics (fractions)."""

    model: Module
    selected_epoch: int
    val: Dict[str, float]
    test: Dict[str, float]
    seconds: float
    selection: str
    history: List[Dict[str, float]] = field(default_factory=list)
    warnings: List[str] = field(default_factory=list)
    threads: int = 1


def resolve_config(config: Optional[Config | Dict[str, Any]] = None, method: Optional[str] = None,
                   **overrides: Any) -> Config:
    """A :class:`Config` from a Config, a mapping or defaults, with ``key=value`` overrides."""
    values = config.to_dict() if isinstance(config, Config) else dict(config or {})
    # ``model__hidden=32`` is how a keyword argument spells the dotted key ``model.hidden``
    items = [f'{key.replace("__", ".")}={_yaml(value)}' for key, value in overrides.items()]
    if method is not None:
        items.append(f'train.method={method}')
    return from_dict(apply_overrides(values, items))


def _yaml(value: Any) -> str:
    import yaml
    return yaml.safe_dump(value, default_flow_style=True).strip().removesuffix('...').strip()


def build_model(config: Config, in_channels: int) -> FairBiNNGNN:
    m = config.model
    return FairBiNNGNN(in_channels, m.hidden, num_layers=m.num_layers,
                       encoder=m.encoder or 'gcn', fairness_layers=m.fairness_layers,
                       head_layers=m.head_layers, dropout=m.dropout, heads=m.heads or 1,
                       fairness_act=m.fairness_act)


def _device(name: str) -> torch.device:
    if name.startswith('cuda') and not torch.cuda.is_available():
        raise ConfigError(f'train.device={name!r} but CUDA is not available; use device=cpu')
    return torch.device(name)


def show_progress(progress: Optional[bool]) -> bool:
    """``progress``, or when ``None`` whether a person watches (stderr is a terminal)."""
    return sys.stderr.isatty() if progress is None else progress


def train_task(task: Task, cfg: Config, *, progress: Optional[bool] = None) -> FitResult:
    """Train ``task.model`` with ``cfg.train``'s strategy, select, and evaluate on test.

    The one training entry point shared by graphs (:class:`GraphTask`) and tables
    (:class:`~fairgnn_bilevel.tabular.task.TabularTask`).  Runs with the torch thread
    count of ``train.threads`` (see :mod:`fairgnn_bilevel.train.threads`) and warns when
    the selected model predicts one class for almost every validation row.
    """
    t = cfg.train
    strategy = make_strategy(t.method, task.model, leader_lr=t.leader_lr,
                             follower_lr=t.follower_lr, eta=t.eta, lam=t.lam,
                             follower_steps=t.follower_steps, hypergradient=t.hypergradient,
                             fairness=t.fairness, weight_decay=t.weight_decay)
    rule = cfg.selection
    start = time.perf_counter()
    with torch_threads(choose_threads(t.threads, task.step_size)) as threads:
        loop = run_epochs(task, strategy, epochs=t.epochs, rule=rule,
                          eval_every=t.eval_every, fairness_warmup=t.fairness_warmup,
                          progress=show_progress(progress), desc=f'{t.method} seed {t.seed}')
        test = task.evaluate('test')
    notes = []
    if predicts_one_class(loop.val):
        share = max(loop.val['positive_rate'], 1 - loop.val['positive_rate'])
        notes.append(f'the selected model (epoch {loop.selected_epoch}) predicts one class for '
                     f'{100 * share:.1f} % of validation rows: its ΔDP and ΔEO say little about '
                     'fairness; look at AUC, train longer or try another selection rule')
        warnings.warn(notes[-1], stacklevel=3)
    return FitResult(model=task.model, selected_epoch=loop.selected_epoch, val=loop.val,
                     test=test, seconds=time.perf_counter() - start, selection=rule.describe(),
                     history=loop.history, warnings=notes, threads=threads)


def fit(data: Data, *, method: Optional[str] = None,
        config: Optional[Config | Dict[str, Any]] = None, model: Optional[Module] = None,
        progress: Optional[bool] = None, **overrides: Any) -> FitResult:
    """Train a FairBiNN node classifier on ``data`` and evaluate it at the selected epoch.

    Args:
        data: PyG ``Data`` with ``x``, ``edge_index``, ``y`` (0/1), ``sens`` (integer groups)
            and disjoint, non-empty boolean ``train_mask``, ``val_mask``, ``test_mask``.
        method: ``'vanilla'``, ``'lagrangian'``, ``'bilevel'`` or ``'reference'``
            (default: ``config.train.method``, which defaults to ``'bilevel'``).
        config: a :class:`Config` or mapping; ``overrides`` are ``key=value`` on top of it
            (bare names such as ``eta=100``, or ``section__key`` such as ``model__hidden=32``).
        model: optional module of your own containing a ``FairnessBlock``; by default a
            :class:`~fairgnn_bilevel.nn.FairBiNNGNN` built from ``config.model``.
        progress: show a progress bar (default: when stderr is a terminal).

    Returns:
        :class:`FitResult`; ``val`` and ``test`` hold ``acc``, ``auc``, ``dp``, ``eo``.
    """
    cfg = resolve_config(config, method, **overrides)
    check_applies(cfg, 'graph')
    validate_graph(data)
    device = _device(cfg.train.device)
    seed_everything(cfg.train.seed)
    model = build_model(cfg, data.num_features) if model is None else model
    task = GraphTask(model.to(device), data.to(device))
    return train_task(task, cfg, progress=progress)
