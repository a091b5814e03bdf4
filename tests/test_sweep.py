"""The η / λ sweep: points, fronts, files."""
import json

import pytest

from fairgnn_bilevel.config import load_config
from fairgnn_bilevel.sweep import run_sweep
from tests.conftest import ROOT, shared_dataset

# Tiny fits (a few epochs, a few dozen nodes) select models that predict one class or rank
# at chance: the library's SelectionWarning about it is expected here and is not what these
# tests check (tests/test_api.py asserts it where it is).
pytestmark = pytest.mark.filterwarnings('ignore::fairgnn_bilevel.train.selection.SelectionWarning')



def test_sweep_writes_points_fronts_and_plot(tmp_path):
    config = load_config(ROOT / 'configs/synthetic.yaml',
                         ['data.synthetic.num_nodes=300', 'train.epochs=5'])
    summary = run_sweep(config, [10, 100], [1], 1, tmp_path, progress=False, log=lambda s: None)
    assert [(p['method'], p.get('eta', p.get('lam'))) for p in summary['points']] == [
        ('bilevel', 10), ('bilevel', 100), ('lagrangian', 1)]
    assert set(summary['hypervolume']) == {'bilevel', 'lagrangian'}
    assert list(summary['hypervolume']['bilevel']['per_seed']) == [0]
    assert summary['paired'][0].startswith('bilevel − lagrangian hypervolume: ')
    assert (tmp_path / 'sweep.png').stat().st_size > 10_000
    assert len((tmp_path / 'sweep.csv').read_text().splitlines()) == 4
    assert json.loads((tmp_path / 'sweep.json').read_text())['dataset'] == 'synthetic'


def test_table_sweep_draws_the_fairlearn_front_with_intervals(tmp_path):
    pytest.importorskip('fairlearn')
    root = shared_dataset('adult')
    config = load_config(ROOT / 'configs/adult.yaml', [f'data.root={root}', 'train.epochs=1'])
    summary = run_sweep(config, [100], [1], 2, tmp_path, progress=False, bounds=[0.01],
                        log=lambda s: None)
    methods = [p['method'] for p in summary['points']]
    assert methods == ['bilevel', 'lagrangian', 'fairlearn']
    fl = summary['points'][-1]
    assert fl['bound'] == 0.01 and fl['seeds'] == 2 and fl['test_acc'] > 0.75
    for method in ('bilevel', 'lagrangian', 'fairlearn'):
        volume = summary['hypervolume'][method]
        assert sorted(volume['per_seed']) == [0, 1]
        assert volume['low'] <= volume['mean'] <= volume['high']
    assert any(line.startswith('bilevel − fairlearn hypervolume') for line in summary['paired'])
    assert 'fairlearn' in (tmp_path / 'sweep.csv').read_text()


def test_sweep_adds_bounded_series(tmp_path):
    config = load_config(ROOT / 'configs/synthetic.yaml',
                         ['data.synthetic.num_nodes=300', 'train.epochs=5'])
    summary = run_sweep(config, [100], [1], 2, tmp_path, progress=False, max_dps=[0.05, 0.1],
                        log=lambda s: None)
    bounded = [(p['method'], p['max_dp']) for p in summary['points'] if 'max_dp' in p]
    assert bounded == [('bilevel (bounded)', 0.05), ('bilevel (bounded)', 0.1),
                       ('lagrangian (bounded)', 0.05), ('lagrangian (bounded)', 0.1)]
    assert set(summary['hypervolume']) == {'bilevel', 'lagrangian', 'bilevel (bounded)',
                                           'lagrangian (bounded)'}
    runs = json.loads((tmp_path / 'bilevel-max_dp0.05' / 'results.json').read_text())
    assert all(run['bound']['max_gap'] == 0.05 for run in runs)
    header, *lines = (tmp_path / 'sweep.csv').read_text().splitlines()
    column = header.split(',').index('max_dp')
    assert [line.split(',')[column] for line in lines][-4:] == ['0.05', '0.1', '0.05', '0.1']
