"""Faults and inputs outside the bad-input table: a planted cache, unchecked downloads, a full
disk, inputs other libraries accept (bool groups, pandas indexes), and warnings that must be
given."""
import errno
import json
import os
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import fairgnn_bilevel as fb
from fairgnn_bilevel import metrics
from fairgnn_bilevel.cli import main
from fairgnn_bilevel.metrics import DataWarning
from fairgnn_bilevel.tabular import FairBiNNClassifier
from graph_data import NBA, PokecZ, load_dataset
from tests.conftest import tiny_graph, write_fairgnn_files, write_pokec

ROOT = Path(__file__).resolve().parents[1]
# fits of a few epochs on tiny data: the library's SelectionWarning about their chance-level
# models is expected here and is not what these tests check
pytestmark = pytest.mark.filterwarnings(
    'ignore::fairgnn_bilevel.train.selection.SelectionWarning')
SYNTHETIC = str(ROOT / 'configs' / 'synthetic.yaml')


# -- the processed-data cache is data, never code ------------------------------------------

class _Planted:
    """Unpickling this runs ``os.system``: what a planted cache file would do."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f'touch {self.marker}',)


def _plant(path: Path, marker: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({'payload': _Planted(marker)}, path)  # a real torch file holding a pickle


def test_planted_cache_files_run_no_code_and_are_rebuilt(tmp_path):
    root = write_fairgnn_files(tmp_path / 'nba')
    clean = load_dataset('nba', root, verify=False)
    folder = Path(NBA(root, verify=False).processed_dir)
    marker = tmp_path / 'code-ran'
    for name in ('data.pt', 'pre_transform.pt', 'pre_filter.pt'):  # PyG reads all three
        _plant(folder / name, marker)
    with pytest.raises(pickle.UnpicklingError):  # the oracle: the file does run code
        torch.load(folder / 'data.pt', weights_only=True)
    again = load_dataset('nba', root, verify=False)
    assert not marker.exists()
    for key in ('x', 'edge_index', 'y', 'sens', 'train_mask', 'val_mask', 'test_mask'):
        assert torch.equal(again[key], clean[key]), key
    # the rebuilt file is plain data again
    assert isinstance(torch.load(folder / 'data.pt', weights_only=True), dict)


def test_cache_is_rebuilt_when_the_raw_files_change(tmp_path):
    root = write_fairgnn_files(tmp_path / 'nba')
    before = load_dataset('nba', root, verify=False)
    write_fairgnn_files(root, seed=1)  # same names, other content
    after = load_dataset('nba', root, verify=False)
    assert not torch.equal(before.x, after.x)
    assert torch.equal(after.x, load_dataset('nba', root, verify=False).x)


def test_cache_of_another_pre_transform_is_rebuilt(tmp_path):
    from torch_geometric.transforms import NormalizeFeatures
    root = write_fairgnn_files(tmp_path / 'nba')
    plain = NBA(root, verify=False)[0]
    normalised = NBA(root, verify=False, pre_transform=NormalizeFeatures())[0]
    assert not torch.equal(plain.x, normalised.x)
    assert torch.equal(normalised.x, NormalizeFeatures()(plain.clone()).x)


# -- downloads are checked before they are used --------------------------------------------

def test_pokec_download_of_the_wrong_size_is_not_kept(tmp_path, file_server, monkeypatch):
    served, url = file_server
    write_pokec(served, n=300)
    monkeypatch.setattr(PokecZ, 'url', url)
    monkeypatch.setattr(PokecZ, 'node_rows', 301)
    root = tmp_path / 'fresh'
    with pytest.raises(ValueError, match='failed its content check .*300 node rows, the '
                                         'canonical file has 301.*not kept'):
        load_dataset('pokec_z', root, download=True)
    assert not list(root.iterdir())  # no partial, no temporary file


def test_pokec_download_without_the_label_column_is_not_kept(tmp_path, file_server,
                                                             monkeypatch):
    served, url = file_server
    write_pokec(served, frame_edit=lambda f: f.drop(columns='I_am_working_in_field'))
    monkeypatch.setattr(PokecZ, 'url', url)
    with pytest.raises(ValueError, match='missing column.*I_am_working_in_field'):
        load_dataset('pokec_z', tmp_path / 'fresh', download=True)
    assert not list((tmp_path / 'fresh').iterdir())


def test_adult_download_of_the_wrong_size_is_not_kept(tmp_path, monkeypatch, file_server):
    from fairgnn_bilevel.tabular import datasets
    from tests.tabular.test_datasets import write_uci_original
    served, url = file_server
    write_uci_original(served)
    monkeypatch.setattr(datasets, 'ADULT_URL', url)
    monkeypatch.setattr(datasets, 'ADULT_ROWS', {'adult.data': 10**4, 'adult.test': 60})
    with pytest.raises(ValueError, match='adult.data: the downloaded file failed its content '
                                         'check .* records, the UCI file has 10000'):
        datasets.load_adult(tmp_path / 'fresh', download=True)
    assert not list((tmp_path / 'fresh').iterdir())


# -- writing results fails in one line and keeps what was written --------------------------

def _disk_full_on_second_write(monkeypatch):
    from fairgnn_bilevel import report
    calls = {'n': 0}
    dump = json.dump

    def failing(payload, handle, **options):
        calls['n'] += 1
        if calls['n'] >= 2:
            handle.write('[{"partial": ')
            raise OSError(errno.ENOSPC, 'No space left on device')
        return dump(payload, handle, **options)
    monkeypatch.setattr(report.json, 'dump', failing)


def test_full_disk_is_one_line_and_keeps_the_written_runs(tmp_path, monkeypatch, capsys):
    _disk_full_on_second_write(monkeypatch)
    out = tmp_path / 'out'
    code = main(['train', '--config', SYNTHETIC, '--seeds', '2', '--out', str(out),
                 '--no-progress', '--set', 'train.epochs=2'])
    err = capsys.readouterr().err
    assert code == 2 and 'Traceback' not in err
    assert len(err.strip().splitlines()) == 1
    assert 'No space left on device' in err and 'seed 1 was not saved' in err
    runs = json.loads((out / 'results.json').read_text())
    assert [r['seed'] for r in runs] == [0]
    assert not [p.name for p in out.iterdir() if p.name.endswith('.tmp')]


def test_read_only_results_file_is_refused_before_training(tmp_path, monkeypatch, capsys):
    out = tmp_path / 'out'
    out.mkdir()
    (out / 'results.json').write_text('[]')
    real_access = os.access
    monkeypatch.setattr(os, 'access', lambda path, mode, **kw: False if str(path).endswith(
        'results.json') and mode == os.W_OK else real_access(path, mode, **kw))
    code = main(['train', '--config', SYNTHETIC, '--out', str(out), '--no-progress'])
    err = capsys.readouterr().err
    assert code == 2 and 'results.json exists and cannot be rewritten' in err


def test_write_json_removes_its_temporary_file_on_failure(tmp_path, monkeypatch):
    from fairgnn_bilevel.report import write_json
    path = tmp_path / 'results.json'
    write_json(path, [1])
    monkeypatch.setattr(os, 'replace', lambda a, b: (_ for _ in ()).throw(
        PermissionError(errno.EACCES, 'Permission denied')))
    with pytest.raises(PermissionError):
        write_json(path, [2])
    assert json.loads(path.read_text()) == [1]
    assert [p.name for p in tmp_path.iterdir()] == ['results.json']


# -- inputs that other libraries accept -----------------------------------------------------

@pytest.mark.parametrize('dtype', [torch.bool, torch.uint8, torch.int32])
def test_groups_of_other_integer_dtypes_train_as_int64(dtype):
    data = tiny_graph(n=80)
    reference = fb.fit(data, method='vanilla', epochs=3, progress=False)
    data.sens = data.sens.to(dtype)
    result = fb.fit(data, method='vanilla', epochs=3, progress=False)
    assert result.test == reference.test and result.val == reference.val


def test_class_missing_from_training_rows_warns():
    data = tiny_graph(n=120, classes=3)
    y = data.y.clone()
    y[data.train_mask & (y == 2)] = 1
    data.y = y
    with pytest.warns(DataWarning, match=r'train_mask holds no row of class\(es\) \[2\]'):
        fb.fit(data, method='vanilla', epochs=1, progress=False)


def test_hard_metrics_count_a_predicted_class_the_labels_lack():
    fairlearn = pytest.importorskip('fairlearn.metrics')
    y_true = np.array([0, 1, 0, 1, 0, 1, 0, 1])
    y_pred = np.array([0, 1, 2, 1, 0, 2, 0, 1])
    sens = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    with pytest.raises(ValueError):  # the oracle refuses a third predicted value
        fairlearn.equalized_odds_difference(y_true, y_pred, sensitive_features=sens)
    with pytest.raises(ValueError, match='class 2'):
        metrics.equal_opportunity_difference(y_true, y_pred, sensitive_features=sens)
    # ΔDP is the multi-class one: the largest gap over classes, by hand
    by_hand = max(abs(np.mean(y_pred[sens == 0] == c) - np.mean(y_pred[sens == 1] == c))
                  for c in (0, 1, 2))
    assert metrics.demographic_parity_difference(
        y_true, y_pred, sensitive_features=sens) == pytest.approx(by_hand)
    with pytest.raises(ValueError, match=r'y_pred holds values \[2\] that are not in labels'):
        metrics.demographic_parity_difference(y_true, y_pred, sensitive_features=sens,
                                              labels=[0, 1])


def _rows(n=160, seed=0):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n, 3)), columns=['a', 'b', 'c'])
    sens = pd.Series(rng.integers(0, 2, n), name='group')
    X['a'] += sens
    y = (X['b'] + 0.5 * sens > 0.3).astype(int)
    return X, y, sens


def test_estimator_aligns_sensitive_features_on_the_index():
    X, y, sens = _rows()
    options = dict(epochs=3, hidden=8, random_state=0)
    reference = FairBiNNClassifier(**options).fit(X, y, sensitive_features=sens)
    order = np.random.default_rng(1).permutation(len(sens))
    shuffled = sens.iloc[order]  # same labels, other order: pandas aligns them
    aligned = FairBiNNClassifier(**options).fit(X, y, sensitive_features=shuffled)
    assert np.array_equal(aligned.predict_proba(X), reference.predict_proba(X))
    positional = FairBiNNClassifier(**options).fit(
        X, y, sensitive_features=shuffled.to_numpy())  # taken by position: another fit
    assert not np.array_equal(positional.predict_proba(X), reference.predict_proba(X))
    with pytest.raises(ValueError, match="sensitive_features' index does not match X's"):
        FairBiNNClassifier(**options).fit(X, y, sensitive_features=sens.set_axis(
            sens.index + 1000))


def test_estimator_predicts_on_an_array_after_a_frame_with_sklearns_warning():
    X, y, sens = _rows()
    model = FairBiNNClassifier(epochs=2, hidden=8, random_state=0).fit(
        X, y, sensitive_features=sens)
    with pytest.warns(UserWarning, match='X does not have valid feature names, but '
                                         'FairBiNNClassifier was fitted with feature names'):
        from_array = model.predict(X.to_numpy())
    assert np.array_equal(from_array, model.predict(X))
