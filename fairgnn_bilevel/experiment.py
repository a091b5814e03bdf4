"""Experiments: a config's dataset, trained over seeds, recorded run by run."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import List, Optional, Union

from torch_geometric.data import Data
from tqdm.auto import tqdm

from .api import fit
from .config import Config, ConfigError
from .report import read_runs, write_json
from .tabular.fit import fit_tabular

__all__ = ['load_data', 'run_seeds', 'config_hash']


def load_data(config: Config) -> Union[Data, 'TabularData']:
    """The dataset that ``config.data`` names: a graph, or a table (``adult``, ``health``)."""
    import graph_data
    from .tabular.datasets import TABULAR_DATASETS, load_adult, load_health
    data = config.data
    if data.name in TABULAR_DATASETS:
        if not data.root:
            raise ConfigError(f'data.root is not set: point it (or --root) at the {data.name} '
                              'files')
        if data.name == 'adult':
            return load_adult(data.root, sensitive=data.sensitive or 'sex',
                              val_fraction=data.val_fraction, seed=data.split_seed)
        return load_health(data.root, sensitive=data.sensitive or 'age',
                           val_fraction=data.val_fraction, seed=data.split_seed)
    if data.name == 'synthetic':
        try:
            return graph_data.fair_sbm(**data.synthetic)
        except TypeError as error:
            raise ConfigError(f'data.synthetic: {error}') from None
    if data.name not in graph_data.DATASETS:
        raise ConfigError(f'data.name: unknown dataset {data.name!r}; use synthetic, '
                          f'{", ".join(graph_data.DATASETS)} or {", ".join(TABULAR_DATASETS)}')
    if not data.root:
        raise ConfigError(f'data.root is not set: point it (or --root) at the folder with the '
                          f'{data.name} raw files')
    return graph_data.load_dataset(data.name, data.root, split=data.split, seed=data.split_seed,
                                   sens_in_features=data.sens_in_features)


def config_hash(config: Config) -> str:
    """A short digest of everything but the seed, to recognise runs of the same setup."""
    values = config.to_dict()
    values['train'] = {k: v for k, v in values['train'].items() if k != 'seed'}
    return hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()[:12]


def run_seeds(config: Config, seeds: int, out: Optional[Path], *, progress: bool = True,
              data: Optional[Data] = None) -> List[dict]:
    """Train ``seeds`` runs (seeds ``train.seed``, ``+1``, …) and return their records.

    Records are appended to ``out/results.json`` after every run; runs of the same config
    and seed already there are reused, so an interrupted job resumes where it stopped.
    """
    data = load_data(config) if data is None else data
    train = fit if isinstance(data, Data) else fit_tabular
    digest = config_hash(config)
    path = out / 'results.json' if out is not None else None
    existing = read_runs(path) if path is not None else []
    runs: List[dict] = []
    for offset in tqdm(range(seeds), desc=f'{config.train.method} seeds', disable=not progress):
        seed = config.train.seed + offset
        done = [r for r in existing if r.get('config_hash') == digest and r['seed'] == seed]
        if done:
            runs.append(done[0])
            continue
        result = train(data, config=config, progress=progress, seed=seed)
        runs.append({
            'dataset': config.data.name, 'method': config.train.method, 'seed': seed,
            'selected_epoch': result.selected_epoch, 'test': result.test, 'val': result.val,
            'seconds': round(result.seconds, 3), 'selection': result.selection,
            'split': getattr(data, 'split', 'stratified'),
            'sens_in_features': bool(getattr(data, 'sens_in_features', False)),
            'val_is_test': bool(getattr(data, 'val_is_test', False)), 'config_hash': digest,
            'config': config.to_dict(),
        })
        if path is not None:
            kept = [r for r in existing if not (r.get('config_hash') == digest
                                                and r['seed'] in {x['seed'] for x in runs})]
            write_json(path, kept + runs)
    return runs
