"""Typed experiment configuration: YAML (or a mapping) → pydantic models, one-line errors.

Every value is checked for type and range when the config is built, and keys that do not
apply to the data being trained (a graph or a table) are rejected before any training;
``None`` means "the dataset's own default" for the keys that only some data kinds use.
Choices (methods, rules, splits, encoders, fairness losses) come from their registries.
"""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Dict, Iterable, List, Literal, Optional, Union

import yaml
from graph_data.splits import SPLITS
from pydantic import (AllowInfNan, BaseModel, BeforeValidator, ConfigDict, Field, StrictBool,
                      StrictInt, StrictStr, ValidationError, field_validator,
                      model_validator)

from .losses import FAIRNESS_LOSSES
from .nn.encoders import ENCODERS
from .train.graph import FAIRNESS_ROWS
from .train.selection import SelectionRule
from .train.strategies import DEFAULTS, METHODS, STRATEGIES

__all__ = ['ConfigError', 'Config', 'DataConfig', 'ModelConfig', 'TrainConfig',
           'SelectionRule', 'load_config', 'from_dict', 'apply_overrides', 'set_key',
           'check_applies', 'minibatch', 'full_key', 'flat_keys', 'override_keys',
           'bound_settings']


class ConfigError(ValueError):
    """A configuration that cannot be used; the message names the key and the fix."""


def _number(value: Any) -> Any:
    if isinstance(value, bool):  # YAML's true is no learning rate
        raise ValueError('expected float')
    return value


Float = Annotated[float, BeforeValidator(_number), AllowInfNan(False)]  # inf trains into NaN
Int, Bool, Str = StrictInt, StrictBool, StrictStr


def _one_of(names: Iterable[str]) -> Any:
    return Literal.__getitem__(tuple(names))


class _Section(BaseModel):
    model_config = ConfigDict(extra='forbid')


class DataConfig(_Section):
    name: Str = 'synthetic'
    root: Optional[Str] = None
    split: Optional[_one_of(SPLITS)] = None       # FairGNN graphs: 'fairgnn'
    split_seed: Optional[Int] = Field(None, ge=0)  # FairGNN graphs: 20; tables: 0
    sens_in_features: Optional[Bool] = None       # FairGNN graphs: False
    sensitive: Optional[Str] = None               # tables: adult 'sex', health 'age'
    val_fraction: Optional[Float] = Field(None, gt=0, lt=1)  # tables: 0.2
    verify: Optional[Bool] = None                 # FairGNN graphs: True (sha256 of raw files)
    download: Optional[Bool] = None               # FairGNN graphs and adult: False
    raw_labels: Optional[Bool] = None             # FairGNN graphs: False (binarised labels)
    synthetic: Dict[str, Any] = {}


class ModelConfig(_Section):
    encoder: Optional[_one_of(ENCODERS)] = None   # graphs: 'gcn'
    hidden: Int = Field(64, ge=1)
    num_layers: Int = Field(2, ge=0)
    fairness_layers: Int = Field(1, ge=1)
    head_layers: Int = Field(1, ge=1)
    dropout: Float = Field(0.0, ge=0, lt=1)
    heads: Optional[Int] = Field(None, ge=1)      # the 'gat' encoder: 1
    fairness_act: Str = 'relu'

    @field_validator('fairness_act')
    @classmethod
    def _known_activation(cls, value: str) -> str:
        from torch_geometric.nn.resolver import activation_resolver
        try:
            activation_resolver(value)
        except ValueError:
            raise ValueError('is not an activation known to torch_geometric (e.g. relu, tanh, '
                             'sigmoid, elu)') from None
        return value


class TrainConfig(_Section):
    method: _one_of(METHODS) = 'bilevel'
    epochs: Int = Field(200, ge=1)
    # each strategy takes the ones it uses (train.strategies.hyperparameters)
    leader_lr: Float = Field(DEFAULTS['leader_lr'], gt=0)
    follower_lr: Float = Field(DEFAULTS['follower_lr'], gt=0)      # Adam: first order, reference
    follower_step_size: Float = Field(DEFAULTS['follower_step_size'], gt=0)  # bilevel (unrolled)
    eta: Float = Field(DEFAULTS['eta'], ge=0)
    lam: Float = Field(DEFAULTS['lam'], ge=0)
    follower_steps: Int = Field(DEFAULTS['follower_steps'], ge=1)
    fairness: _one_of(FAIRNESS_LOSSES) = DEFAULTS['fairness']
    weight_decay: Float = Field(DEFAULTS['weight_decay'], ge=0)
    # a bound on the hard gap to train toward and select under (one of them; fractions):
    # ΔDP with the dp fairness loss, ΔEO with eo; dual_lr: the multiplier's step
    max_dp: Optional[Float] = Field(None, ge=0, le=1)
    max_eo: Optional[Float] = Field(None, ge=0, le=1)
    dual_lr: Float = Field(DEFAULTS['dual_lr'], gt=0)
    alpha: Float = Field(DEFAULTS['alpha'], ge=0)  # fairgnn: covariance weight
    beta: Float = Field(DEFAULTS['beta'], ge=0)    # fairgnn: adversary weight
    # fairvgnn: the generator's adversarial weight, its keep-channels weight, the clamp
    adversary_weight: Float = Field(DEFAULTS['adversary_weight'], ge=0)
    mask_ratio: Float = Field(DEFAULTS['mask_ratio'], ge=0)
    clip: Float = Field(DEFAULTS['clip'], ge=0)
    delta: Float = Field(DEFAULTS['delta'], ge=0)  # fairsin: weight of the neutralisation
    # fairsin: steps of the neutraliser's fit before training
    neutralizer_steps: Int = Field(DEFAULTS['neutralizer_steps'], ge=1)
    # fairinv: α of Var(R) + α·mean(R), environments per partition, partitions
    mean_risk_weight: Float = Field(DEFAULTS['mean_risk_weight'], ge=0)
    environments: Int = Field(DEFAULTS['environments'], ge=2)
    partitions: Int = Field(DEFAULTS['partitions'], ge=1)
    # fairinv: epochs of each reference model, steps of each partition's fit
    reference_epochs: Int = Field(DEFAULTS['reference_epochs'], ge=1)
    partition_steps: Int = Field(DEFAULTS['partition_steps'], ge=1)
    # graphs: 'train' (the fairness terms see the labelled training nodes) or 'known'
    # (every node of known group, labelled or not: a transductive use of groups)
    fairness_rows: Optional[_one_of(FAIRNESS_ROWS)] = None
    sens_number: Optional[Int] = Field(None, ge=1)  # fairgnn: the dataset's, else 200
    eval_every: Int = Field(1, ge=1)
    fairness_warmup: Int = Field(0, ge=0)
    # tables: 100; graphs train on the full graph unless batch_size or num_neighbors is set
    batch_size: Optional[Int] = Field(None, ge=1)
    # graphs: neighbours sampled per layer for mini-batches (-1: all); default all
    num_neighbors: Optional[List[Int]] = None
    seed: Int = Field(0, ge=0)
    device: Str = 'cpu'
    # torch intra-op threads (train/threads.py); None leaves the caller's count (the
    # library's default), the CLI's default is 'auto'
    threads: Optional[Union[Int, Str]] = None

    @model_validator(mode='after')
    def _one_bound(self) -> 'TrainConfig':
        if self.max_dp is not None and self.max_eo is not None:
            raise ValueError('max_dp and max_eo: give one bound, not both')
        wanted = 'dp' if self.max_dp is not None else 'eo' if self.max_eo is not None else None
        if wanted is not None and self.fairness != wanted:
            raise ValueError(f'max_{wanted} bounds the {wanted} gap, which the {wanted} '
                             f'fairness loss trains toward, but fairness={self.fairness}; '
                             f'set fairness={wanted}')
        return self

    def bound(self) -> Optional[float]:
        """The bound on the fairness gap (``max_dp`` or ``max_eo``), or ``None``."""
        return self.max_dp if self.max_dp is not None else self.max_eo

    @field_validator('num_neighbors')
    @classmethod
    def _counts(cls, value: Optional[List[int]]) -> Optional[List[int]]:
        if value is not None and (not value or any(k == 0 or k < -1 for k in value)):
            raise ValueError('must be a list with one count per GNN layer, each >= 1 or -1 '
                             '(every neighbour)')
        return value

    @field_validator('device')
    @classmethod
    def _known_device(cls, value: str) -> str:
        kind = value.split(':', 1)[0]
        if kind not in ('cpu', 'cuda', 'mps', 'xpu'):
            raise ValueError("must be 'cpu', 'cuda', 'cuda:N', 'mps' or 'xpu'")
        try:
            import torch
            torch.device(value)
        except RuntimeError:
            raise ValueError("is not a device torch knows; write e.g. 'cpu' or 'cuda:0'") \
                from None
        return value

    @field_validator('threads')
    @classmethod
    def _auto_or_count(cls, value: Union[int, str, None]) -> Union[int, str, None]:
        if value is not None and value != 'auto' and not (isinstance(value, int) and value >= 1):
            raise ValueError("must be 'auto' or a whole number >= 1")
        return value


class Config(_Section):
    data: DataConfig = DataConfig()
    model: ModelConfig = ModelConfig()
    train: TrainConfig = TrainConfig()
    selection: SelectionRule = SelectionRule()

    def to_dict(self) -> Dict[str, Any]:
        return self.model_dump()


# Keys that only one kind of data uses; set for the other kind, they are an error.
GRAPH_ONLY = ('data.split', 'data.sens_in_features', 'model.encoder', 'model.heads',
              'train.fairness_rows', 'train.sens_number', 'train.num_neighbors')
TABLE_ONLY = ('data.sensitive', 'data.val_fraction')


def check_applies(config: Config, kind: str) -> None:
    """Raise :class:`ConfigError` for a key set in ``config`` that ``kind`` of data ignores.

    Args:
        kind: ``'graph'`` or ``'table'``.
    """
    for path in TABLE_ONLY if kind == 'graph' else GRAPH_ONLY:
        section, key = path.split('.')
        if getattr(getattr(config, section), key) is not None:
            raise ConfigError(f'{path} applies to {"tables" if kind == "graph" else "graphs"} '
                              f'only, and this is a {kind}; remove it')
    method = config.train.method
    if kind == 'table' and STRATEGIES[method].needs_group_scores:
        raise ConfigError(f'train.method={method} trains a graph estimator of the sensitive '
                          'groups and applies to graphs only; use bilevel or lagrangian')
    if kind == 'table' and STRATEGIES[method].needs_graph:
        raise ConfigError(f'train.method={method} fits pieces of its own on a graph and '
                          'applies to graphs only; use bilevel, lagrangian or threshold')
    if kind == 'graph' and minibatch(config) and STRATEGIES[method].needs_graph:
        raise ConfigError(f'train.method={method} trains on the full graph; remove '
                          'train.batch_size and train.num_neighbors')
    if config.train.fairness_rows == 'known' and \
            FAIRNESS_LOSSES[config.train.fairness].needs_labels:
        raise ConfigError(f'train.fairness_rows=known includes unlabelled nodes, which the '
                          f'{config.train.fairness!r} fairness loss cannot use; set '
                          'train.fairness=dp or train.fairness_rows=train')
    if kind == 'graph' and config.model.num_layers < 1:
        raise ConfigError(f'model.num_layers: a graph needs at least one GNN layer, got '
                          f'{config.model.num_layers}')
    if config.model.heads is not None and (config.model.encoder or 'gcn') != 'gat':
        raise ConfigError("model.heads applies to model.encoder=gat only; remove it")
    if kind == 'graph' and minibatch(config):
        t = config.train
        if t.num_neighbors is not None and len(t.num_neighbors) != config.model.num_layers:
            raise ConfigError(f'train.num_neighbors has {len(t.num_neighbors)} entries for '
                              f'{config.model.num_layers} GNN layers; give one count per layer')
        if t.fairness_rows == 'known':
            raise ConfigError('train.fairness_rows=known needs full-graph training; '
                              'remove train.batch_size and train.num_neighbors, or use train')


def minibatch(config: Config) -> bool:
    """Whether a graph trains on sampled mini-batches rather than the full graph."""
    return config.train.batch_size is not None or config.train.num_neighbors is not None


_SECTIONS = {name: field.annotation for name, field in Config.model_fields.items()}


def _one_line(error: ValidationError) -> str:
    """pydantic's first error as ``key: what is wrong, got value``."""
    first = error.errors()[0]
    loc = [str(p) for p in first['loc'] if str(p) in _SECTIONS or '[' not in str(p)]
    loc = [p for p in loc if p not in ('int', 'str', 'float', 'bool')]  # union branches
    path, kind, ctx = '.'.join(loc), first['type'], first.get('ctx', {})
    if kind == 'extra_forbidden':
        known = _SECTIONS[loc[0]].model_fields if len(loc) > 1 else _SECTIONS
        prefix = f'{loc[0]}.' if len(loc) > 1 else ''
        return f'unknown key {path}; known keys: {", ".join(prefix + k for k in known)}'
    bounds = {'greater_than_equal': '>= {ge}', 'greater_than': '> {gt}',
              'less_than': '< {lt}', 'less_than_equal': '<= {le}'}
    if kind in bounds:
        problem = 'must be ' + bounds[kind].format(**{k: f'{v:g}' for k, v in ctx.items()})
    elif kind == 'literal_error':
        problem = f'{first["input"]!r} is not one of {ctx["expected"]}'
        return f'{path}: {problem}'
    elif kind in ('model_type', 'dict_type'):
        problem = 'expected a mapping'
    elif kind == 'finite_number':
        problem = 'must be a finite number'
    elif kind == 'value_error':
        problem = str(ctx.get('error', first['msg']))
    else:  # int_type, float_parsing, bool_type, string_type, ...
        problem = f'expected {kind.split("_")[0].replace("string", "str")}'
    return f'{path}: {problem}, got {first["input"]!r}'


def from_dict(values: Dict[str, Any]) -> Config:
    """Build a :class:`Config`; unknown keys, wrong types and values out of range raise
    :class:`ConfigError` with one line naming the key."""
    try:
        return Config.model_validate(values or {})
    except ValidationError as error:
        raise ConfigError(_one_line(error)) from None


def bound_settings(max_dp: Optional[float] = None, max_eo: Optional[float] = None, *,
                   fairness_named: bool = False) -> Dict[str, Any]:
    """The ``section.key`` settings of a bound on ΔDP (``max_dp``) or ΔEO (``max_eo``): the
    bound, and the fairness loss that trains toward it unless the caller named one
    (``fairness_named``; a contradicting one is then refused by the config's check)."""
    settings: Dict[str, Any] = {}
    for gap, value in (('dp', max_dp), ('eo', max_eo)):
        if value is not None:
            settings[f'train.max_{gap}'] = value
            if not fairness_named:
                settings['train.fairness'] = gap
    return settings


def full_key(key: str) -> str:
    """``section.key`` for a bare key that one section has (``eta`` → ``train.eta``)."""
    if '.' in key:
        return key
    owners = [name for name, section in _SECTIONS.items() if key in section.model_fields]
    if len(owners) != 1:
        raise ConfigError(f'unknown key {key!r}; write it as section.key '
                          f'(sections: data, model, train, selection)')
    return f'{owners[0]}.{key}'


def flat_keys(values: Dict[str, Any]) -> List[str]:
    """The ``section.key`` names set in a raw config mapping."""
    return [f'{section}.{key}' for section, keys in values.items() if isinstance(keys, dict)
            for key in keys]


def set_key(values: Dict[str, Any], key: str, value: Any) -> None:
    """Set ``key`` (``section.key``, or a bare key that one section has) in a raw mapping."""
    parts = full_key(key).split('.')
    node = values
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f'{key}: {part} is not a section')
    node[parts[-1]] = value


def _split_override(item: str) -> List[str]:
    if '=' not in item:
        raise ConfigError(f'--set expects key=value, got {item!r}')
    key, raw = item.split('=', 1)
    return [key.strip(), raw]


def apply_overrides(values: Dict[str, Any], overrides: Iterable[str]) -> Dict[str, Any]:
    """Apply ``key=value`` strings (values parsed as YAML) to a raw config mapping."""
    for item in overrides:
        key, raw = _split_override(item)
        try:
            value = yaml.safe_load(raw)
        except yaml.YAMLError as error:
            detail = str(error).splitlines()[0]
            raise ConfigError(f'--set {key}: the value {raw!r} is not valid YAML ({detail}); '
                              'quote text, write lists as [a, b]') from None
        set_key(values, key, value)
    return values


def override_keys(overrides: Iterable[str]) -> List[str]:
    """The ``section.key`` that each ``key=value`` string sets."""
    return [full_key(_split_override(item)[0]) for item in overrides]


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


def load_config(path: str | Path, overrides: Iterable[str] = (), *,
                command_line: bool = False) -> Config:
    """Read a YAML config, apply ``key=value`` overrides, validate.  ``command_line``: a
    command owns its process, so an unset ``train.threads`` becomes ``'auto'`` (a library
    call leaves the caller's thread count alone)."""
    values = apply_overrides(read_yaml(path), overrides)
    if command_line and (values.get('train') or {}).get('threads') is None:
        set_key(values, 'train.threads', 'auto')
    return from_dict(values)
