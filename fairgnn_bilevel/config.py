"""Typed experiment configuration: YAML (or dict) → dataclasses, with one-line errors."""
from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterable, Optional

import yaml

from .train.selection import SelectionRule as SelectionConfig  # one definition of the rules

__all__ = ['ConfigError', 'Config', 'DataConfig', 'ModelConfig', 'TrainConfig',
           'SelectionConfig', 'load_config', 'from_dict', 'apply_overrides']


class ConfigError(ValueError):
    """A configuration that cannot be used; the message names the key and the fix."""


@dataclass
class DataConfig:
    name: str = 'synthetic'
    root: Optional[str] = None
    split: str = 'fairgnn'
    split_seed: int = 20
    sens_in_features: bool = False
    sensitive: Optional[str] = None
    val_fraction: float = 0.2
    synthetic: Dict[str, Any] = field(default_factory=dict)


@dataclass
class ModelConfig:
    encoder: str = 'gcn'
    hidden: int = 64
    num_layers: int = 2
    fairness_layers: int = 1
    head_layers: int = 1
    dropout: float = 0.0
    heads: int = 1
    fairness_act: str = 'relu'


@dataclass
class TrainConfig:
    method: str = 'bilevel'
    epochs: int = 200
    leader_lr: float = 1e-2
    follower_lr: float = 1e-2
    eta: float = 100.0
    lam: float = 1.0
    follower_steps: int = 1
    hypergradient: str = 'unrolled'
    fairness: str = 'dp'
    weight_decay: float = 1e-5
    eval_every: int = 1
    fairness_warmup: int = 0
    batch_size: int = 100
    seed: int = 0
    device: str = 'cpu'


@dataclass
class Config:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    selection: SelectionConfig = field(default_factory=SelectionConfig)

    def to_dict(self) -> Dict[str, Any]:
        return dataclasses.asdict(self)


_CHOICES = {
    'data.split': ('fairgnn', 'stratified'),
    'model.encoder': ('gcn', 'gat'),
    'train.method': ('vanilla', 'lagrangian', 'bilevel', 'reference'),
    'train.hypergradient': ('first_order', 'unrolled'),
    'train.fairness': ('dp', 'eo'),
    'selection.rule': ('tolerance', 'fairgnn', 'dp_budget', 'pareto', 'best_acc', 'last'),
}


def _check_type(path: str, value: Any, annotation: Any) -> Any:
    origin = typing.get_origin(annotation)
    if origin is typing.Union:  # Optional[X]
        if value is None:
            return None
        annotation = next(a for a in typing.get_args(annotation) if a is not type(None))
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


def _set_dotted(values: Dict[str, Any], key: str, value: Any) -> None:
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
        _set_dotted(values, key.strip(), yaml.safe_load(raw))
    return values


def read_yaml(path: str | Path) -> Dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f'config file not found: {path}')
    try:
        values = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as error:
        raise ConfigError(f'{path}: not valid YAML ({str(error).splitlines()[0]})') from None
    if not isinstance(values, dict):
        raise ConfigError(f'{path}: the top level must be a mapping of sections')
    return values


def load_config(path: str | Path, overrides: Iterable[str] = ()) -> Config:
    """Read a YAML config, apply ``key=value`` overrides, validate."""
    return from_dict(apply_overrides(read_yaml(path), overrides))
