import json
import subprocess
import sys
from pathlib import Path

import pytest

from fairgnn_bilevel.cli import main

ROOT = Path(__file__).resolve().parents[1]
SMALL = ['--set', 'data.synthetic.num_nodes=300', '--set', 'train.epochs=10', '--no-progress']


def test_train_writes_results(tmp_path, capsys):
    code = main(['train', '--config', str(ROOT / 'configs/synthetic.yaml'), '--seeds', '2',
                 '--out', str(tmp_path), *SMALL])
    assert code == 0
    runs = json.loads((tmp_path / 'results.json').read_text())
    assert [r['seed'] for r in runs] == [0, 1]
    for run in runs:
        assert {'dataset', 'method', 'seed', 'selected_epoch', 'test', 'val',
                'seconds'} <= set(run)
        assert set(run['test']) == {'acc', 'auc', 'dp', 'eo', 'positive_rate'}
        assert all(0 <= v <= 1 for v in run['test'].values())
    out = capsys.readouterr().out
    assert '| bilevel | 2 |' in out and 'ΔDP' in out


def test_resume_skips_finished_seeds(tmp_path):
    args = ['train', '--config', str(ROOT / 'configs/synthetic.yaml'), '--out', str(tmp_path),
            *SMALL]
    assert main(args + ['--seeds', '1']) == 0
    first = json.loads((tmp_path / 'results.json').read_text())
    assert main(args + ['--seeds', '2']) == 0
    runs = json.loads((tmp_path / 'results.json').read_text())
    assert runs[0] == first[0] and len(runs) == 2


@pytest.mark.parametrize('extra,message', [
    (['--set', 'train.etaa=1'], 'unknown key train.etaa'),
    (['--set', 'train.epochs=many'], "train.epochs: expected int, got 'many'"),
    (['--set', 'model.encoder=sage'], "model.encoder: 'sage' is not one of"),
])
def test_bad_config_is_one_line_exit_2(tmp_path, extra, message):
    proc = subprocess.run([sys.executable, '-m', 'fairgnn_bilevel.cli', 'train', '--config',
                           str(ROOT / 'configs/synthetic.yaml'), '--out', str(tmp_path), *extra],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip().count('\n') == 0 and message in proc.stderr
    assert 'Traceback' not in proc.stderr


def test_missing_config_file(tmp_path, capsys):
    assert main(['train', '--config', str(tmp_path / 'nope.yaml')]) == 2
    assert 'config file not found' in capsys.readouterr().err


@pytest.mark.parametrize('path', sorted((ROOT / 'configs').glob('*.yaml')), ids=lambda p: p.name)
def test_every_shipped_config_is_valid(path):
    from fairgnn_bilevel.config import load_config
    config = load_config(path)
    assert config.data.name == path.stem.replace('synthetic_pokec_size', 'synthetic')
