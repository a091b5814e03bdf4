import json
import subprocess
import sys

import pytest

from fairgnn_bilevel.cli import main
from tests.conftest import ROOT

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
        assert set(run['test']) == {'acc', 'auc', 'dp', 'eo', 'f1', 'positive_rate',
            'fpr_by_group'}
        rates = run['test']['fpr_by_group']
        assert set(rates) == {'0', '1'} and all(0 <= v <= 1 for v in rates.values())
        assert all(0 <= v <= 1 for k, v in run['test'].items() if k != 'fpr_by_group')
    out = capsys.readouterr().out
    assert '| bilevel | 2 |' in out and 'ΔDP' in out
    rate = sum(run['test']['fpr_by_group']['0'] for run in runs) / 2
    assert f'test false-positive rate by group (%, mean over runs): 0: {100 * rate:.2f}, ' in out


def test_known_fairness_rows_are_stated_in_output_and_records(tmp_path, capsys):
    code = main(['train', '--config', str(ROOT / 'configs/synthetic.yaml'), '--out',
                 str(tmp_path), '--method', 'fairgnn', '--set', 'train.fairness_rows=known',
                 *SMALL])
    assert code == 0
    assert 'a transductive use of group membership' in capsys.readouterr().out
    run = json.loads((tmp_path / 'results.json').read_text())[0]
    assert run['fairness_rows'] == 'known' and run['method'] == 'fairgnn'


def test_resume_skips_finished_seeds_and_says_so(tmp_path, capsys):
    args = ['train', '--config', str(ROOT / 'configs/synthetic.yaml'), '--out', str(tmp_path),
            *SMALL]
    assert main(args + ['--seeds', '1']) == 0
    first = json.loads((tmp_path / 'results.json').read_text())
    capsys.readouterr()
    assert main(args + ['--seeds', '2']) == 0
    assert 'seed(s) 0 already done with this config; skipping them' in capsys.readouterr().out
    runs = json.loads((tmp_path / 'results.json').read_text())
    assert runs[0] == first[0] and len(runs) == 2


def test_another_config_is_refused_unless_overwrite(tmp_path, capsys):
    args = ['train', '--config', str(ROOT / 'configs/synthetic.yaml'), '--out', str(tmp_path),
            *SMALL]
    assert main(args) == 0
    assert main(args + ['--set', 'train.eta=7']) == 2
    assert 'holds runs of another config' in capsys.readouterr().err
    assert main(args + ['--set', 'train.eta=7', '--overwrite']) == 0
    runs = json.loads((tmp_path / 'results.json').read_text())
    assert [r['config']['train']['eta'] for r in runs] == [7.0]


def test_results_file_permissions_follow_the_umask(tmp_path):
    assert main(['train', '--config', str(ROOT / 'configs/synthetic.yaml'), '--out',
                 str(tmp_path), *SMALL]) == 0
    import os
    mask = os.umask(0)
    os.umask(mask)
    assert (tmp_path / 'results.json').stat().st_mode & 0o777 == 0o666 & ~mask


def test_records_say_what_ran(tmp_path):
    assert main(['train', '--config', str(ROOT / 'configs/synthetic.yaml'), '--out',
                 str(tmp_path), *SMALL]) == 0
    run = json.loads((tmp_path / 'results.json').read_text())[0]
    assert run['split'] == 'stratified' and run['config']['data']['split'] is None
    assert run['threads'] >= 1 and run['warnings'] == []


def test_one_seed_has_no_spread(tmp_path, capsys):
    assert main(['train', '--config', str(ROOT / 'configs/synthetic.yaml'), '--out',
                 str(tmp_path), *SMALL]) == 0
    row = [line for line in capsys.readouterr().out.splitlines() if line.startswith('| bilevel')]
    assert row and row[0].count('± –') == 6 and '± 0.00' not in row[0]


def test_version(capsys):
    from fairgnn_bilevel import __version__
    with pytest.raises(SystemExit) as done:
        main(['--version'])
    assert done.value.code == 0 and capsys.readouterr().out.strip() == f'fairgnn-bilevel {__version__}'


def test_every_option_has_help():
    from fairgnn_bilevel.cli import _parser
    parser = _parser()
    commands = next(a for a in parser._actions if a.dest == 'command').choices
    for name, command in commands.items():
        for action in command._actions:
            assert action.help, f'{name} {action.option_strings} has no help text'


def test_sweep_without_matplotlib_writes_the_data_and_names_the_extra(tmp_path, capsys,
                                                                       monkeypatch):
    import builtins
    real_import = builtins.__import__

    def no_matplotlib(name, *args, **kwargs):
        if name == 'matplotlib' or name.startswith('matplotlib.'):
            raise ModuleNotFoundError("No module named 'matplotlib'", name='matplotlib')
        return real_import(name, *args, **kwargs)
    monkeypatch.setattr(builtins, '__import__', no_matplotlib)
    code = main(['sweep', '--config', str(ROOT / 'configs/synthetic.yaml'), '--eta', '10',
                 '--lam', '1', '--out', str(tmp_path), *SMALL])
    out = capsys.readouterr().out
    assert code == 0
    assert (tmp_path / 'sweep.json').is_file() and (tmp_path / 'sweep.csv').is_file()
    assert not (tmp_path / 'sweep.png').exists()
    assert 'fairgnn-bilevel[plots]' in out and 'sweep.png' not in out.split('written:')[1]


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
    # other lines (a library's FutureWarning, say) may come too: one error line names it
    errors = [line for line in proc.stderr.splitlines() if line.startswith('fairgnn-bilevel: error')]
    assert len(errors) == 1 and message in errors[0]
    assert 'Traceback' not in proc.stderr


def test_missing_config_file(tmp_path, capsys):
    assert main(['train', '--config', str(tmp_path / 'nope.yaml')]) == 2
    assert 'config file not found' in capsys.readouterr().err


def test_unread_settings_are_refused_and_a_files_other_keys_listed(tmp_path, capsys):
    config = str(ROOT / 'configs/synthetic.yaml')
    code = main(['train', '--config', config, '--out', str(tmp_path / 'a'), '--method',
                 'lagrangian', '--set', 'train.eta=5', *SMALL])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.count('\n') == 0
    assert 'train.eta is not read by this run' in err and 'lagrangian' in err
    assert not (tmp_path / 'a').exists()  # nothing trained
    code = main(['sweep', '--config', config, '--eta', '10', '--out', str(tmp_path / 'b'),
                 '--set', 'train.alpha=3', *SMALL])
    assert code == 2 and 'train.alpha is not read by a sweep' in capsys.readouterr().err
    assert main(['train', '--config', config, '--out', str(tmp_path / 'c'), *SMALL]) == 0
    note = next(line for line in capsys.readouterr().out.splitlines() if 'does not read' in line)
    # the file holds every method's keys: bilevel reads eta, not lam, alpha or beta
    assert 'train.lam' in note and 'train.alpha' in note and 'train.eta' not in note


def test_notes_are_printed_once_and_divergence_is_one_line(capsys, tmp_path, recwarn):
    config = str(ROOT / 'configs/synthetic.yaml')
    code = main(['train', '--config', config, '--out', str(tmp_path / 'a'), '--no-progress',
                 '--set', 'data.synthetic.num_nodes=300', '--set', 'train.epochs=1',
                 '--set', 'train.leader_lr=1e-6', '--method', 'vanilla'])
    captured = capsys.readouterr()
    assert code == 0 and captured.out.count('no better than chance (val AUC') == 1
    assert 'Warning' not in captured.err and not [w for w in recwarn
                                                 if 'than chance' in str(w.message)]
    code = main(['train', '--config', config, '--out', str(tmp_path / 'b'), '--no-progress',
                 '--set', 'data.synthetic.num_nodes=300', '--set', 'train.leader_lr=1e6'])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.count('\n') == 0 and 'Traceback' not in err
    assert 'training diverged at epoch' in err and 'train.leader_lr=1e+06' in err


def _count_runs(path):
    try:
        return len(json.loads(path.read_text()))
    except (OSError, ValueError):
        return 0


def test_two_commands_sharing_a_folder_keep_each_others_runs(tmp_path):
    base = [sys.executable, '-m', 'fairgnn_bilevel', 'train', '--config',
            str(ROOT / 'configs/synthetic.yaml'), '--out', str(tmp_path), '--seeds', '3',
            '--no-progress', '--set', 'data.synthetic.num_nodes=300', '--set',
            'train.epochs=15']
    procs = [subprocess.Popen(base + ['--set', f'train.seed={seed}'], cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for seed in (0, 10)]
    for proc in procs:
        _, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err.decode()
    runs = json.loads((tmp_path / 'results.json').read_text())
    assert sorted(r['seed'] for r in runs) == [0, 1, 2, 10, 11, 12]


def test_sigterm_says_what_was_saved_and_how_to_resume(tmp_path):
    import signal
    import time
    proc = subprocess.Popen([sys.executable, '-m', 'fairgnn_bilevel', 'train', '--config',
                             str(ROOT / 'configs/synthetic.yaml'), '--out', str(tmp_path),
                             '--seeds', '50', '--no-progress', '--set',
                             'data.synthetic.num_nodes=300', '--set', 'train.epochs=20'],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    while _count_runs(tmp_path / 'results.json') < 1 and time.monotonic() < deadline:
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    saved = _count_runs(tmp_path / 'results.json')
    assert proc.returncode == 143 and 1 <= saved < 50
    assert (f'terminated (SIGTERM); {saved} finished run(s) are kept in '
            f'{tmp_path / "results.json"}; run the same command again to resume') in err.decode()
