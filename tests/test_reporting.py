import json

import matplotlib.image
import pytest

from fairgnn_bilevel.config import load_config
from fairgnn_bilevel.plot import hypervolume, pareto_front, plot_fronts
from fairgnn_bilevel.report import format_table, summarize
from fairgnn_bilevel.reproduce import paper_rows, run_reproduce
from fairgnn_bilevel.sweep import run_sweep
from tests.conftest import shared_dataset
from tests.test_cli import ROOT


def test_pareto_front_and_hypervolume_by_hand():
    points = [(0.10, 0.80), (0.05, 0.75), (0.20, 0.85), (0.12, 0.78), (0.05, 0.70)]
    assert pareto_front(points) == [(0.05, 0.75), (0.10, 0.80), (0.20, 0.85)]
    # reference (0.20, 0.70): strips [0.05,0.10)x0.05 + [0.10,0.20)x0.10 + 0
    assert hypervolume(points, (0.20, 0.70)) == pytest.approx(0.05 * 0.05 + 0.10 * 0.10)
    assert hypervolume([(0.05, 0.75)], (0.20, 0.70)) < hypervolume(points, (0.20, 0.70))


def test_summary_table_mean_and_sample_std():
    runs = [{'dataset': 'd', 'method': 'm', 'test': {'acc': a, 'auc': 0.5, 'dp': 0.1, 'eo': 0.0}}
            for a in (0.7, 0.8, 0.9)]
    row = summarize(runs)[0]
    assert row['acc'] == pytest.approx((0.8, 0.1))
    assert '| m | 3 | 80.00 ± 10.00 | 50.00 ± 0.00 | 10.00 ± 0.00 | 0.00 ± 0.00 |' in format_table([row])


def test_plot_is_a_readable_png(tmp_path):
    plot_fronts({'bilevel': [(0.01, 0.8, 'η=1'), (0.05, 0.85, 'η=2')],
                 'lagrangian': [(0.02, 0.79, 'λ=1')]}, tmp_path / 'p.png', 'title')
    image = matplotlib.image.imread(tmp_path / 'p.png')
    assert image.shape[0] > 300 and image.shape[1] > 400


def test_sweep_writes_points_fronts_and_plot(tmp_path):
    config = load_config(ROOT / 'configs/synthetic.yaml',
                         ['data.synthetic.num_nodes=300', 'train.epochs=5'])
    summary = run_sweep(config, [10, 100], [1], 1, tmp_path, progress=False, log=lambda s: None)
    assert [(p['method'], p.get('eta', p.get('lam'))) for p in summary['points']] == [
        ('bilevel', 10), ('bilevel', 100), ('lagrangian', 1)]
    assert set(summary['hypervolume']) == {'bilevel', 'lagrangian'}
    assert (tmp_path / 'sweep.png').stat().st_size > 10_000
    assert len((tmp_path / 'sweep.csv').read_text().splitlines()) == 4
    assert json.loads((tmp_path / 'sweep.json').read_text())['dataset'] == 'synthetic'


def test_reproduce_nba_table_has_both_splits_and_paper_rows(tmp_path):
    root = shared_dataset('nba')
    text = run_reproduce('nba', str(root), 1, tmp_path, config_dir=ROOT / 'configs',
                         overrides=['train.epochs=3'], progress=False, log=lambda s: None)
    assert 'validation = test: selection saw test labels' in text
    assert 'disjoint train/val/test' in text
    assert '| GAT+FairBiNN (paper) | 5 | 77.09 ± 0.45' in text
    assert text.count('| GCN (vanilla) | 1 |') == 2
    runs = json.loads((tmp_path / 'results.json').read_text())
    assert len(runs) == 8 and {r['split'] for r in runs} == {'fairgnn', 'stratified'}
    assert all(r['val_is_test'] == (r['split'] == 'fairgnn') for r in runs)
    assert paper_rows('pokec_z')[0]['acc'] == [70.97, 0.16]
