"""Data-parallel training: N gloo processes with shards of a batch == 1 process with all of it."""
import os
import subprocess
import sys
import warnings
import json

import pytest
import torch

from tests.conftest import ROOT, spawn
from tests.train.test_minibatch import (METHODS, MULTICLASS_METHODS, assert_same_parameters,
                                        graph, model_for, needs_sampler, train_steps)

# Tiny fits (a few epochs, a few dozen nodes) select models that predict one class or rank
# at chance: the library's SelectionWarning about it is expected here and is not what these
# tests check (tests/test_api.py asserts it where it is).
pytestmark = pytest.mark.filterwarnings('ignore::fairgnn_bilevel.train.selection.SelectionWarning')


BATCH = 24  # seed nodes per step over all processes: several steps per epoch


def _steps(method, world_size, classes=2):
    from fairgnn_bilevel.train.minibatch import MiniBatchGraphTask
    data = graph(classes)
    task = MiniBatchGraphTask(model_for(data), data, batch_size=BATCH, num_neighbors=[-1, -1],
                              seed=5)
    assert task.shard.world_size == world_size
    return train_steps(task, method, steps=4)  # 4 epochs of 3 steps: 12 steps


def _fit():
    import fairgnn_bilevel as fb
    return fb.fit(graph(), epochs=3, batch_size=BATCH, num_neighbors=[-1, -1], eta=50.0,
                  model__hidden=12, progress=False)


def _steps_bounded(method, world_size):
    # the multiplier moves on the union's counts: with each rank's own, the ranks' weights
    # (and so the averaged gradients) would differ from one process's
    from fairgnn_bilevel.train.minibatch import MiniBatchGraphTask
    data = graph()
    task = MiniBatchGraphTask(model_for(data), data, batch_size=BATCH, num_neighbors=[-1, -1],
                              seed=5)
    assert task.shard.world_size == world_size
    return train_steps(task, method, steps=4, max_gap=0.01, dual_lr=1.0)


def _rank(rank, world_size, out):
    from fairgnn_bilevel.train.selection import SelectionWarning
    warnings.filterwarnings('ignore', category=SelectionWarning)  # as pytestmark, above
    results = {method: _steps(method, world_size) for method in METHODS}
    results.update({f'{method}, 3 classes': _steps(method, world_size, classes=3)
                    for method in MULTICLASS_METHODS})
    import fairgnn_bilevel as fb
    fitted = _fit()  # the Python API, inside the process group
    results['fit'], results['threads'] = fitted.model.state_dict(), fitted.threads
    for method in ('bilevel', 'lagrangian'):
        results[f'bounded {method}'] = _steps_bounded(method, world_size)
    try:  # full-graph training cannot be shared: one line, on every rank
        fb.fit(graph(), epochs=1, progress=False)
    except ValueError as error:
        results['full_graph_error'] = str(error)
    if rank == 0:
        torch.save(results, out)


@needs_sampler
def test_two_processes_equal_one_process_with_the_whole_batch(tmp_path):
    out = tmp_path / 'params.pt'
    spawn(_rank, args=(2, str(out)), nprocs=2, init_file=str(tmp_path / 'init'))
    two = torch.load(out, weights_only=True)
    assert int(graph().train_mask.sum()) > 2 * BATCH  # several steps per epoch
    for method in METHODS:
        assert_same_parameters(two[method], _steps(method, 1))
    for method in MULTICLASS_METHODS:
        assert_same_parameters(two[f'{method}, 3 classes'], _steps(method, 1, classes=3))
    assert 'set train.batch_size' in two['full_graph_error']
    assert_same_parameters(two['fit'], _fit().model.state_dict())
    for method in ('bilevel', 'lagrangian'):
        assert_same_parameters(two[f'bounded {method}'], _steps_bounded(method, 1))
    from fairgnn_bilevel.train.threads import available_cores
    assert two['threads'] == max(1, available_cores() // 2)  # the ranks share the cores


@needs_sampler
def test_torchrun_trains_and_rank_zero_writes_the_results(tmp_path):
    out = tmp_path / 'run'
    command = [sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node', '2',
               '--master_port', '29533', '-m', 'fairgnn_bilevel', 'train',
               '--config', str(ROOT / 'configs' / 'synthetic.yaml'), '--out', str(out),
               '--seeds', '1', '--no-progress', '--set', 'train.epochs=2',
               '--set', 'train.batch_size=128', '--set', 'train.num_neighbors=[5, 5]',
               '--set', 'data.synthetic.num_nodes=400']
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=tmp_path,
                          env={**os.environ, 'OMP_NUM_THREADS': '1'})
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count('test metrics') == 1  # rank 0 alone reports
    runs = json.loads((out / 'results.json').read_text())
    assert len(runs) == 1 and 0 <= runs[0]['test']['acc'] <= 1
