"""The engine: a config and a dataset in, a trained, selected and evaluated model out.

``fit``, ``fit_tabular``, ``FairBiNNClassifier`` and the CLI all call :func:`train`.  The
config is resolved here into plain arguments for the training layer: the kind of data picks
the model and the task (:func:`build_model`, :func:`make_task`: where a new task type is
added), the config's method picks the strategy, and :func:`unread_keys` names the settings
a run would not read.
"""
from __future__ import annotations

import copy
import math
import os
import string
import sys
import time
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Dict, Iterable, List, Optional, Union

import torch
from torch.nn import Module
from graph_data.splits import DEFAULT_SENS_NUMBER, known_group_sample
from torch_geometric.data import Data

from .config import Config, ConfigError, check_applies, from_dict, minibatch, set_key
from .nn import FairBiNNGNN, FairBiNNMLP, follower_parameters
from .train.distributed import Shard, local_world_size
from .train.graph import (GraphTask, as_node_data, encodes_rows, graph_step_cost,
                          num_classes, validate_graph)
from .train.group_estimate import ESTIMATOR_HIDDEN, estimate_groups
from .train.loop import Diverged, Task, isolated_rng, run_epochs
from .train.selection import (BUDGETS, RULES, SelectionRule, SelectionWarning,
                              predicts_one_class, top_class_share)
from .train.strategies import (DEFAULTS, STRATEGIES, Decision, bounded, hyperparameters, make_strategy,
                               reads)
from .train.table import DEFAULT_BATCH_SIZE, TabularTask
from .train.threads import available_cores, choose_threads, torch_threads

if TYPE_CHECKING:
    from .tabular.datasets import TabularData

__all__ = ['FitResult', 'resolve_config', 'unread_keys', 'check_read', 'classes_of',
           'selection_rule', 'BOUNDED_METHODS',
           'build_model',
           'estimated_groups', 'make_task', 'memory_floor', 'available_memory', 'train',
           'show_progress', 'DEFAULT_GRAPH_BATCH_SIZE']

# Seed nodes per mini-batch step when only train.num_neighbors asks for mini-batches.
DEFAULT_GRAPH_BATCH_SIZE = 1024


@dataclass
class FitResult:
    """A trained model at its selected epoch, with validation and test metrics (fractions)."""

    model: Module
    selected_epoch: int
    val: Dict[str, float]
    test: Optional[Dict[str, float]]  # None for a graph without a test_mask
    seconds: float
    selection: str
    history: List[Dict[str, float]] = field(default_factory=list)
    warnings: List[str] = field(default_factory=list)
    threads: int = 1
    group_names: Optional[List[Any]] = None  # intersectional groups: each code's values
    # with a bound: its gap ('dp' or 'eo'), max_gap, margin, the selected epoch's val_gap,
    # whether that met the bound (held_on_val), and the best val ACC of any epoch
    # (best_val_acc: beside val['acc'], what the bound cost)
    bound: Optional[Dict[str, Any]] = None
    # post-processing (method threshold): what made the reported hard predictions from the
    # model's probabilities, decide(probabilities, groups) -> predictions; None: 0.5
    decide: Optional[Decision] = None


def resolve_config(config: Optional[Union[Config, Dict[str, Any]]] = None,
                   method: Optional[str] = None, **overrides: Any) -> Config:
    """A :class:`Config` from a Config, a mapping or defaults, with keyword overrides:
    bare names (``eta=100``) or ``section__key`` (``model__hidden=32``)."""
    values = copy.deepcopy(config.to_dict() if isinstance(config, Config) else dict(config or {}))
    for key, value in overrides.items():
        set_key(values, key.replace('__', '.'), value)
    if method is not None:
        set_key(values, 'train.method', method)
    return from_dict(values)


BOUNDED_METHODS = tuple(m for m in STRATEGIES if bounded(m))


def _rule_parameters(rule: str) -> List[str]:
    named = [name for _, name, _, _ in string.Formatter().parse(RULES[rule][1]) if name]
    return named + ['margin'] if rule in BUDGETS else named


def _bound_name(config: Config) -> Optional[str]:
    t = config.train
    return 'max_dp' if t.max_dp is not None else 'max_eo' if t.max_eo is not None else None


def selection_rule(config: Config) -> SelectionRule:
    """The rule a run selects with: ``config.selection``, or with a bound
    (``train.max_dp`` / ``train.max_eo``) that the method trains toward, the budget rule at
    that bound (most accurate validation epoch within it, less ``selection.margin``)."""
    name = _bound_name(config)
    if name is None or not bounded(config.train.method):
        return config.selection
    rule = next(r for r, gap in BUDGETS.items() if f'max_{gap}' == name)
    chosen = config.selection.rule
    if chosen not in ('tolerance', rule):  # tolerance: the default, replaced by the bound
        raise ConfigError(f'selection.rule={chosen} with the bound train.{name}: a bounded run '
                          f'selects the most accurate epoch within the bound ({rule}); remove '
                          'selection.rule')
    return SelectionRule(rule, margin=config.selection.margin,
                         **{name: getattr(config.train, name)})


def unread_keys(config: Config, keys: Iterable[str], *, own_model: bool = False
                ) -> Dict[str, str]:
    """Which of ``keys`` (``section.key``) the run that ``config`` describes does not read,
    each with the reason in words: a hyperparameter of another method, a ``model`` key when
    the model is the caller's, a selection parameter of another rule."""
    method, bound, rule = config.train.method, _bound_name(config), selection_rule(config).rule
    unread = {}
    for key in keys:
        section, name = key.split('.', 1)
        if section == 'train' and name in ('max_dp', 'max_eo') and not bounded(method):
            why = (' (its follower steps with Adam, which ignores the scale of η, so a '
                   'multiplier on η cannot move it)' if method == 'bilevel_first_order' else '')
            unread[key] = (f'read by methods {" / ".join(BOUNDED_METHODS)} (which train toward '
                           f'a bound), and this run trains {method}{why}')
        elif section == 'train' and name == 'dual_lr' and bound is None and \
                name in hyperparameters(method):
            unread[key] = 'read with a bound (train.max_dp or train.max_eo), and this run has none'
        elif section == 'selection' and bound is not None and name in ('max_dp', 'max_eo'):
            unread[key] = f'the bound train.{bound} is the budget of a bounded run'
        elif section == 'train' and name in DEFAULTS and name not in hyperparameters(method):
            unread[key] = f'read by method {" / ".join(reads(name))}, and this run trains {method}'
        elif section == 'train' and name == 'sens_number' and method != 'fairgnn':
            unread[key] = f'read by method fairgnn, and this run trains {method}'
        elif section == 'train' and name in ('fairness_rows', 'fairness_warmup') and \
                method == 'vanilla':
            unread[key] = 'read by methods with a fairness term, and this run trains vanilla'
        elif section == 'model' and own_model:
            unread[key] = 'builds the library\'s model, and this run trains your model'
        elif section == 'selection' and name != 'rule' and name not in _rule_parameters(rule):
            owners = [r for r in RULES if name in _rule_parameters(r)]
            unread[key] = f'read by selection rule {" / ".join(owners)}, and this run uses {rule}'
    return unread


def check_read(config: Config, keys: Iterable[str], *, own_model: bool = False) -> None:
    """Raise :class:`ConfigError` naming the first of ``keys`` (settings the caller gave
    explicitly) that the run would not read."""
    for key, why in unread_keys(config, keys, own_model=own_model).items():
        raise ConfigError(f'{key} is not read by this run ({why}); remove it')


def classes_of(data: Union[Data, 'TabularData']) -> int:
    """The number of classes of a graph's or a table's labels (two for binary)."""
    return num_classes(data) if isinstance(data, Data) else data.num_classes


def build_model(config: Config, data: Union[Data, 'TabularData']) -> Module:
    """The network of ``config.model`` for ``data``: a GNN for a graph, an MLP for a table,
    with one logit for two classes and one per class for more."""
    m = config.model
    if isinstance(data, Data):
        return FairBiNNGNN(data.num_features, m.hidden, num_layers=m.num_layers,
                           encoder=m.encoder or 'gcn', fairness_layers=m.fairness_layers,
                           head_layers=m.head_layers, dropout=m.dropout, heads=m.heads or 1,
                           fairness_act=m.fairness_act, num_classes=classes_of(data))
    return FairBiNNMLP(data.num_features, m.hidden, layers_before=m.num_layers,
                       fairness_layers=m.fairness_layers, head_layers=m.head_layers,
                       dropout=m.dropout, fairness_act=m.fairness_act,
                       num_classes=classes_of(data))


def _check_fits_data(config: Config, model: Optional[Module], classes: int,
                     groups: Optional[int]) -> None:
    """Refuse a model of the caller's built for other classes, and FairGNN beyond two
    classes or groups (tables never get here with FairGNN: ``check_applies``)."""
    own = getattr(model, 'num_classes', None)
    if own is not None and own != classes:
        raise ValueError(f'{type(model).__name__} has num_classes={own} but the labels have '
                         f'{classes} classes; build it with num_classes={classes}')
    if config.train.method == 'fairgnn' and (classes > 2 or groups > 2):
        raise ConfigError(f'train.method=fairgnn takes two classes and two groups (its '
                          f'estimator, covariance and adversary are binary), and this data has '
                          f'{classes} classes and {groups} groups; use bilevel or lagrangian')


def available_memory(device: torch.device) -> Optional[int]:
    """Bytes free for a new allocation on ``device`` (``None`` where it cannot be read)."""
    if device.type == 'cuda':
        return torch.cuda.mem_get_info(device)[0]
    try:
        with open('/proc/meminfo') as handle:
            fields = dict(line.split(':', 1) for line in handle)
        return int(fields['MemAvailable'].split()[0]) * 1024
    except (OSError, KeyError, ValueError):
        return None


def memory_floor(config: Config, data: Union[Data, 'TabularData'],
                 model: Optional[Module]) -> Dict[str, int]:
    """A lower bound of the bytes a run allocates, by the setting that drives each part:
    ``model.hidden`` (parameters with their gradient and two Adam moments, and one
    activation per layer and row) and, for the unrolled follower, ``train.follower_steps``
    (each step keeps the block's new parameters and activations for the leader's
    backward).  Only a bound that even the smallest use exceeds refuses a run."""
    m, t = config.model, config.train
    itemsize = (data.x.element_size() if isinstance(data, Data) else 4)
    features, classes = data.num_features, classes_of(data)
    width = m.hidden * (m.heads or 1)
    block = m.fairness_layers * m.hidden * m.hidden
    if model is None:
        parameters = (features * width + (m.num_layers - 1) * width * m.hidden + block
                      + (m.head_layers - 1) * m.hidden * m.hidden + m.hidden * classes)
        layers = m.num_layers + m.fairness_layers + m.head_layers
    else:
        parameters = layers = 0  # already allocated, of a size the caller chose
    if isinstance(data, Data):
        rows = data.num_nodes if not minibatch(config) else min(
            data.num_nodes, t.batch_size or DEFAULT_GRAPH_BATCH_SIZE)
        fair_rows = int(data.train_mask.sum())
    else:
        rows = fair_rows = min(len(data.y['train']), t.batch_size or DEFAULT_BATCH_SIZE)
    floor = {'model.hidden': itemsize * (4 * parameters + rows * m.hidden * layers)}
    if t.method == 'bilevel':
        if model is not None:  # the follower's parameters (refused here without a block)
            block = sum(p.numel() for p in follower_parameters(model))
        floor['train.follower_steps'] = itemsize * t.follower_steps * (
            block + fair_rows * m.hidden * m.fairness_layers)
    return floor


def _check_memory(config: Config, data: Union[Data, 'TabularData'], model: Optional[Module],
                  device: torch.device) -> None:
    free = available_memory(device)
    floor = memory_floor(config, data, model)
    if free is None or sum(floor.values()) <= free:
        return
    key = max(floor, key=floor.get)
    section, name = key.split('.')
    value = getattr(getattr(config, section), name)
    raise ConfigError(f'{key}={value} needs at least {sum(floor.values()) / 2**30:.1f} GiB '
                      f'of memory to train, more than the {free / 2**30:.1f} GiB free on '
                      f'{device.type}; lower {key}')


def estimated_groups(data: Data, config: Config) -> torch.Tensor:
    """FairGNN's estimate of every node's group, from ``sens_number`` nodes of known group
    (``train.sens_number``, else the dataset's ``data.sens_number``, else
    :data:`~graph_data.splits.DEFAULT_SENS_NUMBER`) drawn as FairGNN draws them, with the
    dataset's split seed (``data.split_seed``, else ``train.seed``)."""
    number = config.train.sens_number or data.get('sens_number') or DEFAULT_SENS_NUMBER
    test_mask = data.get('test_mask')
    if test_mask is None:
        test_mask = torch.zeros_like(data.val_mask)
    available = int(((data.sens >= 0) & ~data.val_mask & ~test_mask).sum())
    if config.train.sens_number is not None and number > available:
        raise ConfigError(f'train.sens_number={number} is more than the {available} nodes of '
                          'known group outside validation and test; lower it')
    known = known_group_sample(data.sens, data.val_mask, test_mask, number=int(number),
                               seed=int(data.get('split_seed', config.train.seed)))
    # the estimator's 800 epochs run under the same thread rule as training
    step_cost = graph_step_cost(data, ESTIMATOR_HIDDEN)
    with torch_threads(choose_threads(config.train.threads, step_cost)):
        return estimate_groups(data, known.to(data.x.device))


def make_task(model: Module, data: Union[Data, 'TabularData'], config: Config,
              device: torch.device, shard: Optional[Shard] = None,
              progress: bool = False) -> Task:
    """The task that trains ``model`` on ``data``: full-graph steps, sampled subgraphs of a
    graph (:func:`~fairgnn_bilevel.config.minibatch`; ``progress``: a bar over each
    epoch's steps), or table mini-batches."""
    if isinstance(data, Data):
        data = data.to(device)
        if STRATEGIES[config.train.method].uses_representation and not encodes_rows(model):
            raise ValueError(f'train.method={config.train.method} reads the encoder\'s '
                             f'representation, and {type(model).__name__} does not expose one; '
                             'use a BilevelModel (e.g. FairBiNNGNN) with a graph encoder')
        if minibatch(config):
            from .train.minibatch import MiniBatchGraphTask
            t = config.train
            return MiniBatchGraphTask(
                model, data, batch_size=t.batch_size or DEFAULT_GRAPH_BATCH_SIZE,
                num_neighbors=t.num_neighbors or [-1] * config.model.num_layers,
                seed=t.seed, shard=shard, progress=progress)
        return GraphTask(model, data, fairness_rows=config.train.fairness_rows or 'train')
    return TabularTask(model, data, batch_size=config.train.batch_size or DEFAULT_BATCH_SIZE,
                       seed=config.train.seed, device=device)


def _device(name: str, shard: Shard) -> torch.device:
    device = torch.device(name)
    backend = {'cuda': torch.cuda, 'mps': torch.backends.mps,
               'xpu': getattr(torch, 'xpu', None)}.get(device.type)
    if backend is not None and not backend.is_available():
        raise ConfigError(f'train.device={name!r} but {device.type} is not available on this '
                          'machine; use train.device=cpu')
    if device.type == 'cuda' and device.index is not None and \
            device.index >= torch.cuda.device_count():
        raise ConfigError(f'train.device={name!r} but this machine has '
                          f'{torch.cuda.device_count()} CUDA device(s); use cuda:0')
    if shard.distributed and device.type == 'cuda' and device.index is None:
        device = torch.device('cuda', int(os.environ.get('LOCAL_RANK', shard.rank)))
    return device


def _check_distributed(config: Config, graph: bool, shard: Shard) -> None:
    if not shard.distributed:
        return
    if graph and STRATEGIES[config.train.method].needs_graph:
        raise ConfigError(f'train.method={config.train.method} trains on the full graph, which '
                          f'{shard.world_size} processes cannot share; run one process')
    if not (graph and minibatch(config)):
        raise ConfigError(f'training in {shard.world_size} processes shares the seed nodes '
                          'of graph mini-batches; set train.batch_size (and '
                          'train.num_neighbors), or run one process')


def _threads(setting: Union[int, str, None], step_cost: float, shard: Shard) -> int:
    # the processes on one machine share its cores
    if shard.distributed and setting == 'auto':
        return max(1, available_cores() // local_world_size())
    return choose_threads(setting, step_cost)


def show_progress(progress: Optional[bool]) -> bool:
    """``progress``, or when ``None`` whether a person watches (stderr is a terminal)."""
    return sys.stderr.isatty() if progress is None else progress


def _group_scores(data: Data, config: Config, shard: Shard) -> torch.Tensor:
    scores = estimated_groups(data, config)
    shard.broadcast(scores)  # every rank's fairness terms see rank 0's estimate
    return scores


def train(data: Union[Data, 'TabularData'], config: Config, *, model: Optional[Module] = None,
          progress: Optional[bool] = None) -> FitResult:
    """Check everything, train ``config.train.method`` on ``data`` (a PyG ``Data`` or a
    ``TabularData``) with ``model`` (default: built from ``config.model``), select on
    validation and evaluate on test (a graph without ``test_mask``: no test metrics).
    Every check runs before the first epoch; training runs with ``train.threads`` and
    warns when the selected model predicts one class for almost every validation row.
    The caller's random generators and thread count are left as they were.
    ``progress``: a bar (default: when stderr is a terminal).
    """
    graph = isinstance(data, Data)
    if graph:
        data = as_node_data(data)
    check_applies(config, 'graph' if graph else 'table')
    shard = Shard()
    _check_distributed(config, graph, shard)
    validate_graph(data) if graph else data.validate()
    device = _device(config.train.device, shard)
    with isolated_rng(config.train.seed):
        result = _train(data, config, model, progress, graph, shard, device)
    for note in result.warnings:
        warnings.warn(note, SelectionWarning, stacklevel=3)
    return result


def auc_at_chance(auc: float, labels: torch.Tensor) -> bool:
    """Whether ``auc`` on rows with these 0/1 ``labels`` is within 1.96 standard errors of
    0.5, the standard error a classifier that ranks at random has (Hanley & McNeil: the
    Mann-Whitney statistic's under no separation)."""
    positives = int((labels == 1).sum())
    negatives = len(labels) - positives
    se = math.sqrt((positives + negatives + 1) / (12 * positives * negatives))
    return abs(auc - 0.5) < 1.96 * se


def _diverged(error: Diverged, config: Config) -> ValueError:
    t = config.train
    scales = [f'train.{k}={getattr(t, k):g}' for k in
              ('leader_lr', 'follower_lr', 'follower_step_size', 'eta', 'lam', 'alpha', 'beta')
              if k in hyperparameters(t.method)]
    return ValueError(f'{error} ({t.method}, seed {t.seed}); the settings that scale it: '
                      f'{", ".join(scales)}: lower them')


def _train(data: Union[Data, 'TabularData'], config: Config, model: Optional[Module],
           progress: Optional[bool], graph: bool, shard: Shard, device: torch.device
           ) -> FitResult:
    # the network computes in the features' precision (float32 for tables)
    dtype = data.x.dtype if graph else torch.float32
    classes = classes_of(data)
    num_groups = int(data.sens.max()) + 1 if graph else None
    _check_fits_data(config, model, classes, num_groups)
    _check_memory(config, data, model, device)
    model = build_model(config, data).to(dtype) if model is None else model
    if graph:  # e.g. a learned input layer in front of the encoder, before a task reads it
        model = STRATEGIES[config.train.method].adapt(model, data)
    wrong = {p.dtype for p in model.parameters()} - {dtype}
    if wrong:
        raise ValueError(f'the model has {", ".join(map(str, sorted(wrong, key=str)))} '
                         f'parameters but the features are {dtype}; convert one to the other '
                         '(model.to(dtype) or data.x.to(dtype))')
    model = model.to(device)
    shard.broadcast(model)  # every rank starts from rank 0's parameters
    progress = show_progress(progress) and shard.rank == 0
    task = make_task(model, data, config, device, shard, progress)
    t = config.train
    options = {k: getattr(t, k) for k in DEFAULTS}
    max_gap = t.bound() if bounded(t.method) else None
    rule = selection_rule(config)
    # the run's thread count holds for what a method fits before its first step (FairSIN's
    # neutraliser, FairINV's reference models) too: at torch's default beside a pinned
    # worker, that set-up oversubscribed the cores (several times slower in reproduce)
    with torch_threads(_threads(t.threads, task.step_cost, shard)) as threads:
        if STRATEGIES[t.method].needs_group_scores:
            options['scores'] = _group_scores(task.data, config, shard)  # task's device
        strategy = make_strategy(t.method, task.model, shard=shard, num_groups=num_groups,
                                 max_gap=max_gap, data=task.data if graph else None, **options)
    start = time.perf_counter()
    try:
        with torch_threads(threads):
            loop = run_epochs(task, strategy, epochs=t.epochs, rule=rule,
                              eval_every=t.eval_every, fairness_warmup=t.fairness_warmup,
                              progress=progress, desc=f'{t.method} seed {t.seed}')
            decide = strategy.decision(task.scores)  # post-processing, else None
            if decide is not None:
                loop.val = task.evaluate('val', decide)
            test = task.evaluate('test', decide) if task.has_split('test') else None
    except Diverged as error:
        raise _diverged(error, config) from None
    finally:  # a follower takes its block out of autograd while it plays
        strategy.release()
    notes = []
    if rule.rule in BUDGETS and rule.falls_back(loop.history):
        gap = BUDGETS[rule.rule]
        notes.append(f'no epoch met the bound Δ{gap.upper()} ≤ {getattr(rule, "max_" + gap):g}'
                     f'{f" − margin {rule.margin:g}" if rule.margin else ""} on validation; '
                     f'the model returned is the closest (epoch {loop.selected_epoch}, val '
                     f'Δ{gap.upper()} {loop.val[gap]:.4f}): loosen the bound or train longer')
    elif rule.falls_back(loop.history):
        notes.append(f'no epoch passed the thresholds of selection rule '
                     f'{rule.describe()}; it fell back to the best val ACC (epoch '
                     f'{loop.selected_epoch})')
    if predicts_one_class(loop.val):
        share = top_class_share(loop.val)
        notes.append(f'the selected model (epoch {loop.selected_epoch}) predicts one class for '
                     f'{100 * share:.1f} % of validation rows: its ΔDP and ΔEO say little about '
                     'fairness; look at AUC, train longer or try another selection rule')
    val_labels = data.y[data.val_mask] if graph else torch.as_tensor(data.y['val'])
    if classes == 2 and auc_at_chance(loop.val['auc'], val_labels):
        notes.append(f'the selected model (epoch {loop.selected_epoch}) ranks validation rows '
                     f'no better than chance (val AUC {loop.val["auc"]:.3f}): its ΔDP and ΔEO '
                     'say little about fairness; lower the learning rate or the fairness weight')
    bound = None
    if max_gap is not None:
        gap = BUDGETS[rule.rule]
        bound = {'gap': gap, 'max_gap': max_gap, 'margin': rule.margin,
                 'val_gap': loop.val[gap], 'held_on_val': not rule.falls_back(loop.history),
                 # what the bound costs: the best val ACC of any epoch, within it or not
                 'best_val_acc': max(r['acc'] for r in loop.history)}
    return FitResult(model=task.model, selected_epoch=loop.selected_epoch, val=loop.val,
                     test=test, seconds=time.perf_counter() - start,
                     selection=rule.describe(), history=loop.history,
                     warnings=notes, threads=threads,
                     group_names=_group_names(data) if graph else data.group_names,
                     bound=bound, decide=decide)


def _group_names(data: Data) -> Optional[List[Any]]:
    names = data.get('group_names')  # intersections; PyG's storage turns tuples into lists
    return None if names is None else [tuple(name) for name in names]
