"""Experiments: a config's dataset, trained over seeds, recorded run by run."""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Callable, List, Optional, Set, Tuple, Union

from filelock import FileLock
from torch_geometric.data import Data
from tqdm.auto import tqdm

from .config import Config, ConfigError, check_applies
from .report import read_runs, write_json
from .engine import resolve_config, show_progress, train
from .train.selection import SelectionWarning

if TYPE_CHECKING:
    from .tabular.datasets import TabularData

__all__ = ['load_data', 'run_seeds', 'config_hash', 'default_seeds', 'check_writable',
           'SMALL_GRAPH']

# Graphs with fewer nodes have test sets of a few dozen nodes, where five seeds cannot tell
# methods apart: tables on them default to more seeds.
SMALL_GRAPH = 5000


# What each kind of dataset reads: config key -> its loader's argument.  A key left unset
# takes the loader's default; a key that the dataset does not read is an error.
_READS = {
    'synthetic': {'synthetic': None},
    'fairgnn': {'root': None, 'split': 'split', 'split_seed': 'seed',
                'sens_in_features': 'sens_in_features', 'verify': 'verify',
                'download': 'download', 'raw_labels': 'raw_labels'},
    'adult': {'root': None, 'sensitive': 'sensitive', 'val_fraction': 'val_fraction',
              'split_seed': 'seed', 'download': 'download'},
    'health': {'root': None, 'sensitive': 'sensitive', 'val_fraction': 'val_fraction',
               'split_seed': 'seed'},
}


def load_data(config: Config) -> Union[Data, 'TabularData']:
    """The dataset that ``config.data`` names: a graph, or a table (``adult``, ``health``).

    Keys that the dataset does not read are rejected, so that no result records a setting
    that did not take effect.
    """
    import graph_data
    from .tabular.datasets import TABULAR_DATASETS, load_adult, load_health
    data = config.data
    kind = 'fairgnn' if data.name in graph_data.DATASETS else data.name
    if kind not in _READS:
        raise ConfigError(f'data.name: unknown dataset {data.name!r}; use synthetic, '
                          f'{", ".join(graph_data.DATASETS)} or {", ".join(TABULAR_DATASETS)}')
    reads = _READS[kind]
    for key, value in data.model_dump().items():
        if key != 'name' and key not in reads and value not in (None, {}):
            raise ConfigError(f'data.{key} does not apply to dataset {data.name!r} (it reads '
                              f'{", ".join(f"data.{k}" for k in reads)}); remove it')
    check_applies(config, 'table' if kind in TABULAR_DATASETS else 'graph')
    if kind == 'synthetic':
        try:
            return graph_data.fair_sbm(**data.synthetic)
        except (TypeError, ValueError) as error:
            raise ConfigError(f'data.synthetic: {error}') from None
    if not data.root:
        raise ConfigError(f'data.root is not set: point it (or --root) at the folder with the '
                          f'{data.name} raw files')
    options = {argument: getattr(data, key) for key, argument in reads.items()
               if argument and getattr(data, key) is not None}
    if kind == 'fairgnn':
        return graph_data.load_dataset(data.name, data.root, **options)
    return {'adult': load_adult, 'health': load_health}[kind](data.root, **options)


def default_seeds(data: Union[Data, 'TabularData']) -> int:
    """Seeds per table row when none are asked for: 10 on a graph under
    :data:`SMALL_GRAPH` nodes, else 5."""
    return 10 if isinstance(data, Data) and data.num_nodes < SMALL_GRAPH else 5


# Keys added after runs were first written: at their defaults they leave a config's hash as
# it was, so the results.json files of earlier versions still resume.
_ADDED_KEYS = ('train.max_dp', 'train.max_eo', 'train.dual_lr', 'selection.max_eo',
               'selection.margin', 'train.adversary_weight', 'train.mask_ratio', 'train.clip',
               'train.delta', 'train.mean_risk_weight', 'train.environments',
               'train.partitions', 'train.reference_epochs', 'train.partition_steps',
               'train.neutralizer_steps')


def config_hash(config: Config) -> str:
    """A short digest of everything but the seed, to recognise runs of the same setup."""
    values = config.to_dict()
    values['train'] = {k: v for k, v in values['train'].items() if k != 'seed'}
    defaults = Config().to_dict()
    for key in _ADDED_KEYS:
        section, name = key.split('.')
        if values[section].get(name) == defaults[section][name]:
            del values[section][name]
    return hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()[:12]


def _existing_runs(out: Path, digest: str, overwrite: bool) -> Tuple[List[dict], Set[str]]:
    """Records already in ``out/results.json`` for the config ``digest``, and the hashes of
    the other configs there (which ``overwrite`` replaces); refuses an ``out`` that is a
    file, a corrupt results file, and one written by another config."""
    if out.exists() and not out.is_dir():
        raise ConfigError(f'output folder {out} is a file; pass a folder to --out')
    path = out / 'results.json'
    runs = read_runs(path)
    foreign = [r for r in runs if r.get('config_hash') != digest]
    if foreign and not overwrite:
        theirs = foreign[0]
        raise ConfigError(
            f'{path} holds runs of another config ({theirs.get("dataset")} '
            f'{theirs.get("method")}, config hash {theirs.get("config_hash")}; this one is '
            f'{digest}); use another --out, or --overwrite to replace them')
    return ([r for r in runs if r.get('config_hash') == digest],
            {r.get('config_hash') for r in foreign})


def check_writable(out: Path) -> None:
    """Raise :class:`ConfigError` in one line unless files can be written in ``out``
    (created if missing), before anything trains."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out):
            pass
    except OSError as error:
        raise ConfigError(f'output folder {out} cannot be written ({error.strerror or error}); '
                          'pass a writable --out') from None
    results = out / 'results.json'
    if results.exists() and not (results.is_file() and os.access(results, os.W_OK)):
        raise ConfigError(f'{results} exists and cannot be rewritten (read-only, or not a '
                          'file); make it writable or pass another --out')


def _save(out: Path, runs: List[dict], replaced: set) -> None:
    """Merge ``runs`` into ``out/results.json`` under a lock held across processes, so
    that commands sharing the folder keep each other's records; records of configs in
    ``replaced`` (an ``--overwrite``) are dropped."""
    path = out / 'results.json'
    with FileLock(str(out / '.results.json.lock')):
        ours = {(r['config_hash'], r['seed']) for r in runs}
        existing = read_runs(path)
        kept = [r for r in existing if (r.get('config_hash'), r.get('seed')) not in ours
                and r.get('config_hash') not in replaced]
        try:
            write_json(path, sorted(kept + runs, key=lambda r: (str(r.get('config_hash')),
                                                                r.get('seed', 0))))
        except OSError as error:
            raise ConfigError(
                f'could not write {path} ({error.strerror or error}); it still holds the '
                f'{len(existing)} run(s) written before, and seed {runs[-1]["seed"]} was not '
                'saved: free space or make it writable, then run the same command again to '
                'resume') from None


def check_seeds(seeds: int) -> None:
    if seeds < 1:
        raise ConfigError(f'--seeds must be >= 1, got {seeds}')


def run_seeds(config: Config, seeds: int, out: Optional[Path], *,
              progress: Optional[bool] = True, data: Optional[Data] = None,
              overwrite: bool = False, log: Callable[[str], None] = print,
              write: bool = True) -> List[dict]:
    """Train ``seeds`` runs (seeds ``train.seed``, ``+1``, …) and return their records.

    Records are written to ``out/results.json`` after every run (unless ``write`` is false:
    the other ranks of a multi-process run read the file, rank 0 writes it); runs of the same config
    and seed already there are reused (and ``log`` says which), so an interrupted job
    resumes where it stopped.  A results file of another config is refused unless
    ``overwrite``; every check runs before any training.
    """
    check_seeds(seeds)
    digest = config_hash(config)
    existing, replaced = ([], set()) if out is None else _existing_runs(out, digest, overwrite)
    if out is not None and write:
        check_writable(out)
    wanted = [config.train.seed + offset for offset in range(seeds)]
    done = {r['seed']: r for r in existing if r['seed'] in wanted}
    if done:
        log(f'{out / "results.json"}: seed(s) {", ".join(map(str, sorted(done)))} already '
            'done with this config; skipping them')
    if len(done) < len(wanted) and data is None:
        data = load_data(config)
    runs: List[dict] = []
    for seed in tqdm(wanted, desc=f'{config.train.method} seeds',
                     disable=not show_progress(progress)):
        if seed in done:
            runs.append(done[seed])
            continue
        with warnings.catch_warnings():  # kept in the record; the CLI prints them as notes
            warnings.simplefilter('ignore', SelectionWarning)
            result = train(data, resolve_config(config, seed=seed), progress=progress)
        runs.append({
            'dataset': config.data.name, 'method': config.train.method, 'seed': seed,
            'selected_epoch': result.selected_epoch, 'test': result.test, 'val': result.val,
            'seconds': round(result.seconds, 3), 'threads': result.threads,
            'selection': result.selection, 'warnings': result.warnings,
            **({} if result.bound is None else {'bound': result.bound}),
            'split': getattr(data, 'split', 'stratified'),
            'sens_in_features': bool(getattr(data, 'sens_in_features', False)),
            'val_is_test': bool(getattr(data, 'val_is_test', False)),
            'fairness_rows': config.train.fairness_rows or 'train', 'config_hash': digest,
            'config': config.to_dict(),
            **({} if result.group_names is None else {'groups': result.group_names}),
        })
        if out is not None and write:
            _save(out, [r for r in runs if r['seed'] not in done], replaced)
    return runs
