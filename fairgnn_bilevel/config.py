"""Typed experiment configuration: YAML (or dict) → dataclasses, with one-line errors.

Every value is checked for type and range when the config is built, and keys that do not
apply to the data being trained (a graph or a table) are rejected before any training;
``None`` means "the dataset's own default" for the keys that only some data kinds use.
"""
from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, Optional, Union

import yaml
from graph_data.splits import SPLITS

from .losses import FAIRNESS_LOSSES
from .nn.encoders import ENCODERS
from .train.selection import RULES
from .train.selection import SelectionRule as SelectionConfig  # one definition of the rules
from .train.strategies import DEFAULTS, METHODS

__all__ = ['ConfigError', 'Config', 'DataConfig', 'ModelConfig', 'TrainConfig',
           'SelectionConfig', 'load_config', 'from_dict', 'apply_overrides', 'set_key',
           'check_applies']


class ConfigError(ValueError):
    """A configuration that cannot be used; the message names the key and the fix."""


@dataclass
class DataConfig:
    name: str = 'synthetic'
    root: Optional[str] = None
    split: Optional[str] = None             # FairGNN graphs: 'fairgnn' (default) or 'stratified'
    split_seed: Optional[int] = None        # FairGNN graphs: 20; tables: 0
    sens_in_features: Optional[bool] = None  # FairGNN graphs: False
    sensitive: Optional[str] = None         # tables: adult 'sex', health 'age'
    val_fraction: Optional[float] = None    # tables: 0.2
    verify: Optional[bool] = None           # FairGNN graphs: True (sha256 of raw files)
    download: Optional[bool] = None         # FairGNN graphs and adult: False
    synthetic: Dict[str, Any] = field(default_factory=dict)


@dataclass
class ModelConfig:
    encoder: Optional[str] = None           # graphs: 'gcn' (default) or 'gat'
    hidden: int = 64
    num_layers: int = 2
    fairness_layers: int = 1
    head_layers: int = 1
    dropout: float = 0.0
    heads: Optional[int] = None             # the 'gat' encoder: 1
    fairness_act: str = 'relu'


@dataclass
class TrainConfig:
    method: str = 'bilevel'
    epochs: int = 200
    # each strategy takes the ones it uses (train.strategies.hyperparameters)
    leader_lr: float = DEFAULTS['leader_lr']
    follower_lr: float = DEFAULTS['follower_lr']      # Adam's rate: bilevel_first_order, reference
    follower_step: float = DEFAULTS['follower_step']  # gradient step size: bilevel (unrolled)
    eta: float = DEFAULTS['eta']
    lam: float = DEFAULTS['lam']
    follower_steps: int = DEFAULTS['follower_steps']
    fairness: str = DEFAULTS['fairness']
    weight_decay: float = DEFAULTS['weight_decay']
    eval_every: int = 1
    fairness_warmup: int = 0
    batch_size: Optional[int] = None        # tables: 100 (graphs train on the full graph)
    seed: int = 0
    device: str = 'cpu'
    threads: Union[int, str] = 'auto'       # torch intra-op threads; see train.threads


@dataclass
class Config:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    selection: SelectionConfig = field(default_factory=SelectionConfig)

    def to_dict(self) -> Dict[str, Any]:
        return dataclasses.asdict(self)


_CHOICES = {  # each read from the registry that defines it
    'data.split': SPLITS,
    'model.encoder': tuple(ENCODERS),
    'train.method': METHODS,
    'train.fairness': tuple(FAIRNESS_LOSSES),
    'selection.rule': tuple(RULES),
}


def _range(low: Optional[float] = None, high: Optional[float] = None, *,
           low_open: bool = False, high_open: bool = False) -> Callable[[Any], Optional[str]]:
    def check(value: Any) -> Optional[str]:
        if low is not None and (value <= low if low_open else value < low):
            return f'must be {">" if low_open else ">="} {low:g}'
        if high is not None and (value >= high if high_open else value > high):
            return f'must be {"<" if high_open else "<="} {high:g}'
        return None
    return check


def _activation(value: str) -> Optional[str]:
    from torch_geometric.nn.resolver import activation_resolver
    try:
        activation_resolver(value)
    except ValueError:
        return 'is not an activation known to torch_geometric (e.g. relu, tanh, sigmoid, elu)'
    return None


def _threads(value: Union[int, str]) -> Optional[str]:
    if value == 'auto' or (isinstance(value, int) and value >= 1):
        return None
    return "must be 'auto' or a whole number >= 1"


# Range checks: each returns what is wrong with a (well-typed) value, or None.
_CHECKS: Dict[str, Callable[[Any], Optional[str]]] = {
    'data.split_seed': _range(0),
    'data.val_fraction': _range(0, 1, low_open=True, high_open=True),
    'model.hidden': _range(1),
    'model.num_layers': _range(0),
    'model.fairness_layers': _range(1),
    'model.head_layers': _range(1),
    'model.dropout': _range(0, 1, high_open=True),
    'model.heads': _range(1),
    'model.fairness_act': _activation,
    'train.epochs': _range(1),
    'train.leader_lr': _range(0, low_open=True),
    'train.follower_lr': _range(0, low_open=True),
    'train.follower_step': _range(0, low_open=True),
    'train.eta': _range(0),
    'train.lam': _range(0),
    'train.follower_steps': _range(1),
    'train.weight_decay': _range(0),
    'train.eval_every': _range(1),
    'train.fairness_warmup': _range(0),
    'train.batch_size': _range(1),
    'train.seed': _range(0),
    'train.threads': _threads,
    'selection.acc_tolerance': _range(0),
    'selection.auc_tolerance': _range(0),
    'selection.min_acc': _range(0, 1),
    'selection.min_auc': _range(0, 1),
    'selection.max_dp': _range(0, 1),
}

# Keys that only one kind of data uses; set for the other kind, they are an error.
GRAPH_ONLY = ('data.split', 'data.sens_in_features', 'model.encoder', 'model.heads')
TABLE_ONLY = ('data.sensitive', 'data.val_fraction', 'train.batch_size')


def _get(config: 'Config', path: str) -> Any:
    section, key = path.split('.')
    return getattr(getattr(config, section), key)


def check_applies(config: 'Config', kind: str) -> None:
    """Raise :class:`ConfigError` for a key set in ``config`` that ``kind`` of data ignores.

    Args:
        kind: ``'graph'`` or ``'table'``.
    """
    foreign = TABLE_ONLY if kind == 'graph' else GRAPH_ONLY
    for path in foreign:
        if _get(config, path) is not None:
            raise ConfigError(f'{path} applies to {"tables" if kind == "graph" else "graphs"} '
                              f'only, and this is a {kind}; remove it')
    if kind == 'graph' and config.model.num_layers < 1:
        raise ConfigError(f'model.num_layers: a graph needs at least one GNN layer, got '
                          f'{config.model.num_layers}')
    if config.model.heads is not None and (config.model.encoder or 'gcn') != 'gat':
        raise ConfigError("model.heads applies to model.encoder=gat only; remove it")


def _check_type(path: str, value: Any, annotation: Any) -> Any:
    value = _check_kind(path, value, annotation)
    problem = _CHECKS[path](value) if path in _CHECKS and value is not None else None
    if problem:
        raise ConfigError(f'{path}: {problem}, got {value!r}')
    return value


def _check_kind(path: str, value: Any, annotation: Any) -> Any:
    origin = typing.get_origin(annotation)
    if origin is typing.Union:
        options = [a for a in typing.get_args(annotation) if a is not type(None)]
        if value is None and len(options) < len(typing.get_args(annotation)):
            return None  # Optional[X]
        if len(options) > 1:  # Union[int, str]: the first option the value is
            if any(isinstance(value, a) and not isinstance(value, bool) for a in options):
                return value
            raise ConfigError(f'{path}: expected {" or ".join(a.__name__ for a in options)}, '
                              f'got {value!r}')
        annotation = options[0]
        origin = typing.get_origin(annotation)
    if origin is dict or annotation is dict:
        if not isinstance(value, dict):
            raise ConfigError(f'{path}: expected a mapping, got {value!r}')
        return dict(value)
    if annotation is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if annotation is float and isinstance(value, str):
        try:  # YAML reads "1e-3" (no dot) as a string
            return float(value)
        except ValueError:
            pass
    if not isinstance(value, annotation) or (annotation is not bool and isinstance(value, bool)):
        raise ConfigError(f'{path}: expected {annotation.__name__}, got {value!r}')
    if path in _CHOICES and value not in _CHOICES[path]:
        raise ConfigError(f'{path}: {value!r} is not one of {", ".join(_CHOICES[path])}')
    return value


def _build(cls: type, values: Dict[str, Any], prefix: str) -> Any:
    if not isinstance(values, dict):
        raise ConfigError(f'{prefix or "config"}: expected a mapping, got {values!r}')
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(f'unknown key {prefix}{unknown[0]!s}; known keys: '
                          f'{", ".join(prefix + k for k in sorted(known))}')
    kwargs = {}
    for name, value in values.items():
        annotation = hints[name]
        if dataclasses.is_dataclass(annotation):
            kwargs[name] = _build(annotation, value or {}, f'{prefix}{name}.')
        else:
            kwargs[name] = _check_type(f'{prefix}{name}', value, annotation)
    return cls(**kwargs)


def from_dict(values: Dict[str, Any]) -> Config:
    """Build a :class:`Config`; unknown keys and wrong types raise :class:`ConfigError`."""
    return _build(Config, values or {}, '')


def set_key(values: Dict[str, Any], key: str, value: Any) -> None:
    """Set ``key`` (``section.key``, or a bare key that one section has) in a raw mapping."""
    parts = key.split('.')
    if len(parts) == 1:  # a bare key: find the one section that has it
        owners = [f.name for f in dataclasses.fields(Config)
                  if key in {g.name for g in dataclasses.fields(typing.get_type_hints(Config)[f.name])}]
        if len(owners) != 1:
            raise ConfigError(f'unknown key {key!r}; write it as section.key '
                              f'(sections: data, model, train, selection)')
        parts = [owners[0], key]
    node = values
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f'{key}: {part} is not a section')
    node[parts[-1]] = value


def apply_overrides(values: Dict[str, Any], overrides: Iterable[str]) -> Dict[str, Any]:
    """Apply ``key=value`` strings (values parsed as YAML) to a raw config mapping."""
    for item in overrides:
        if '=' not in item:
            raise ConfigError(f'--set expects key=value, got {item!r}')
        key, raw = item.split('=', 1)
        set_key(values, key.strip(), yaml.safe_load(raw))
    return values


def read_yaml(path: str | Path) -> Dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f'config file not found: {path}')
    try:
        values = yaml.safe_load(path.read_text())
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        raise ConfigError(f'{path}: not valid YAML ({str(error).splitlines()[0]})') from None
    if values is None:
        raise ConfigError(f'{path}: the file is empty; write at least data.name (see '
                          'configs/synthetic.yaml)')
    if not isinstance(values, dict):
        raise ConfigError(f'{path}: the top level must be a mapping of sections')
    return values


def load_config(path: str | Path, overrides: Iterable[str] = ()) -> Config:
    """Read a YAML config, apply ``key=value`` overrides, validate."""
    return from_dict(apply_overrides(read_yaml(path), overrides))
