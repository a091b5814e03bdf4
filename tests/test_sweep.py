"""The η / λ sweep: points, fronts, files."""
import json

from fairgnn_bilevel.config import load_config
from fairgnn_bilevel.sweep import run_sweep
from tests.conftest import ROOT


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
