"""The benchmark scripts still run (tiny sizes; this checks that they work, not how fast)."""
import json
import os
import subprocess
import sys

from tests.conftest import shared_dataset
from tests.conftest import ROOT
from tests.train.test_minibatch import needs_sampler


def test_epoch_time_benchmark_runs(tmp_path):
    out = tmp_path / 'bench.json'
    subprocess.run([sys.executable, str(ROOT / 'benchmarks/epoch_time.py'), '--nodes', '150',
                    '--features', '8', '--degree', '4', '--train', '20', '--hidden', '8',
                    '--epochs', '2', '--warmup', '1', '--reference-epochs', '1',
                    '--json', str(out)], check=True, capture_output=True, text=True)
    figures = json.loads(out.read_text())
    assert figures['graph']['nodes'] == 150 and figures['graph']['train_nodes'] == 20
    assert set(figures['ms_per_epoch']) == {'vanilla', 'lagrangian', 'bilevel_first_order',
                                           'bilevel_unrolled', 'reference'}
    assert all(v > 0 for v in figures['peak_rss_mb'].values())


def test_tabular_benchmark_runs(tmp_path):
    root = shared_dataset('adult')
    proc = subprocess.run([sys.executable, str(ROOT / 'benchmarks/tabular_epoch_time.py'),
                           '--root', str(root), '--epochs', '1', '--warmup', '0',
                           '--batch-size', '5000'], check=True, capture_output=True, text=True)
    assert 'bilevel_first_order / lagrangian:' in proc.stdout


def test_busy_machine_benchmark_runs(tmp_path):
    out = tmp_path / 'busy.json'
    proc = subprocess.run([sys.executable, str(ROOT / 'benchmarks/busy_machine.py'), '--seeds', '1',
                           '--epochs', '2', '--nodes', '200', '--adult', str(tmp_path / 'none'),
                           '--json', str(out)], check=True, capture_output=True, text=True)
    figures = json.loads(out.read_text())['figures']['quick start']
    assert 'auto' in figures and all(v['idle_s'] > 0 and v['busy_s'] > 0
                                     for v in figures.values())
    assert 'busy/idle' in proc.stdout and 'Adult run is left out' in proc.stdout


@needs_sampler
def test_scale_benchmark_runs(tmp_path):
    out = tmp_path / 'scale.json'
    proc = subprocess.run([sys.executable, str(ROOT / 'benchmarks/scale.py'), '--nodes', '1500',
                           '--features', '12', '--degree', '6', '--epochs', '2', '--hidden', '8',
                           '--batch-size', '32', '--num-neighbors', '4', '3', '--train', '0.2',
                           '--json', str(out)], check=True, capture_output=True, text=True,
                          timeout=600)
    graph = json.loads(out.read_text())['graphs'][0]
    assert graph['nodes'] == 1500 and graph['train_nodes'] == 300
    assert set(graph['runs']) == {'full_bilevel', 'minibatch_bilevel', 'minibatch_vanilla',
                                  'minibatch_bilevel_2proc'}
    for run in graph['runs'].values():
        assert 'error' not in run, run
        assert run['seconds_per_epoch'] > 0 and run['peak_rss_mb'] > 100
        assert run['seed_nodes_per_second'] == 300 / run['seconds_per_epoch']
    assert 'seed nodes/s, 2 processes / 1 process' in proc.stdout


def test_own_loop_step_benchmark_runs(tmp_path):
    out = tmp_path / 'own.json'
    proc = subprocess.run([sys.executable, str(ROOT / 'benchmarks/own_loop_step.py'),
                           '--nodes', '150', '--features', '8', '--degree', '4', '--train', '20',
                           '--hidden', '8', '--steps', '2', '--warmup', '1', '--json', str(out)],
                          check=True, capture_output=True, text=True)
    figures = json.loads(out.read_text())
    assert figures['nodes'] == 150 and set(figures['ms_per_step']) == {'vanilla', 'unrolled'}
    assert 'unrolled / vanilla step:' in proc.stdout


def test_tune_on_validation_reads_validation_only(tmp_path):
    """The tuning script runs, prints validation figures only and names its choice."""
    root = shared_dataset('german')
    command = [sys.executable, str(ROOT / 'benchmarks/tune_on_validation.py'), '--dataset',
               'german', '--root', str(root), '--seeds', '1', '--eta', '1', '--rate', '0.001',
               '--set', 'train.epochs=3']
    env = {**os.environ, 'FAIRGNN_BILEVEL_CACHE': str(tmp_path / 'cache')}
    proc = subprocess.run(command, capture_output=True, text=True, check=True, env=env)
    lines = proc.stdout.splitlines()
    assert lines[0].startswith('vanilla: val ACC') and len(lines) == 5
    assert lines[2].startswith('chosen for unrolled: ') and 'test' not in proc.stdout.lower()


def test_tune_on_validation_tunes_any_method_on_a_grid():
    command = [sys.executable, str(ROOT / 'benchmarks/tune_on_validation.py'), '--dataset',
               'synthetic', '--method', 'fairsin', '--grid', 'delta=0.5,2', '--seeds', '1',
               '--set', 'train.epochs=3', '--set', 'data.synthetic.num_nodes=300']
    lines = subprocess.run(command, capture_output=True, text=True,
                           check=True).stdout.splitlines()
    assert [line.split(':')[0] for line in lines] == [
        'vanilla', 'fairsin delta=0.5', 'fairsin delta=2', 'chosen for fairsin']
    assert lines[3] in ('chosen for fairsin: delta=0.5', 'chosen for fairsin: delta=2') or \
        'none keeps' in lines[3]
    bad = subprocess.run(command[:6] + ['--grid', 'delta=big'], capture_output=True, text=True)
    assert bad.returncode != 0 and "--grid 'delta=big'" in bad.stderr


def test_bound_benchmarks_run():
    small = ['--set', 'data.synthetic.num_nodes=300', '--set', 'train.epochs=3']
    proc = subprocess.run([sys.executable, str(ROOT / 'benchmarks/bound_evidence.py'),
                           '--config', str(ROOT / 'configs/synthetic.yaml'), '--seeds', '2',
                           '--epsilons', '0.05', *small], check=True, capture_output=True,
                          text=True)
    for row in ('vanilla', 'FairBiNN at the bound', 'Lagrangian at the bound',
                'best sweep point', 'ThresholdOptimizer'):
        assert f'| {row} | 2 |' in proc.stdout
    assert 'FairBiNN at the bound − best sweep point ACC: ' in proc.stdout
    assert 'test false-positive rate by group' in proc.stdout
    proc = subprocess.run([sys.executable, str(ROOT / 'benchmarks/bound_cost.py'),
                           '--config', str(ROOT / 'configs/synthetic.yaml'), '--repeats', '1',
                           *small], check=True, capture_output=True, text=True)
    assert proc.stdout.count('ratio') == 2


def test_evaluation_cost_benchmark_runs_and_both_aucs_select_alike():
    proc = subprocess.run([sys.executable, str(ROOT / 'benchmarks/evaluation_cost.py'),
                           '--config', str(ROOT / 'configs/synthetic.yaml'), '--repeats', '2',
                           '--set', 'data.synthetic.num_nodes=300', '--set', 'train.epochs=20'],
                          check=True, capture_output=True, text=True, timeout=600)
    assert 'same selected epoch and figures): ratio ' in proc.stdout


def test_baselines_benchmark_runs():
    proc = subprocess.run([sys.executable, str(ROOT / 'benchmarks/baselines.py'),
                           '--config', str(ROOT / 'configs/synthetic.yaml'), '--seeds', '2',
                           '--set', 'data.synthetic.num_nodes=300', '--set', 'train.epochs=3',
                           '--methods', 'vanilla', 'bilevel', 'fairsin', 'threshold'],
                          check=True, capture_output=True, text=True, timeout=900)
    for row in ('vanilla', 'FairBiNN', 'fairsin', 'threshold'):
        assert f'| {row} | 2 |' in proc.stdout
    assert 'threshold − FairBiNN ΔDP: ' in proc.stdout
    assert proc.stdout.count('×') >= 8  # a cost ratio and a set-up ratio per method
