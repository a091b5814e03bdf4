import numpy as np
import pandas as pd
import pytest

from fairgnn_bilevel.tabular.datasets import HEALTH_AGE_GROUPS, load_adult, load_health
from tests.conftest import shared_dataset


def test_adult_from_shared_files():
    data = load_adult(shared_dataset('adult'))
    sizes = {split: len(y) for split, y in data.y.items()}
    # 30,162 complete training rows and 15,060 complete test rows after dropping '?'
    assert sizes['train'] + sizes['val'] == 30162 and sizes['test'] == 15060
    assert abs(sizes['val'] / 30162 - 0.2) < 0.001
    assert data.group_names == ['Male', 'Female']
    assert not any(name.startswith('categorical__sex') for name in data.feature_names)
    frame = pd.read_csv(shared_dataset('adult') / 'adult.test', skipinitialspace=True,
                        na_values='?').dropna()
    assert data.y['test'].mean() == pytest.approx((frame['Y'] == '>50K.').mean())
    assert data.sens['test'].mean() == pytest.approx((frame['sex'] == 'Female').mean())
    assert abs(data.X['train'][:, -6:].mean()) < 0.05  # standardised numerics


def write_uci_original(folder, rows=60, seed=0):
    """The UCI layout: no header, test file with a comment line and labels ending in '.'."""
    rng = np.random.default_rng(seed)
    def row(test):
        label = rng.choice(['>50K', '<=50K']) + ('.' if test else '')
        return [int(rng.integers(17, 80)), rng.choice(['Private', 'State-gov']), 1000,
                'Bachelors', 13, 'Never-married', 'Sales', 'Husband',
                rng.choice(['White', 'Black', 'Asian-Pac-Islander']),
                rng.choice(['Male', 'Female']), 0, 0, int(rng.integers(10, 60)),
                'United-States', label]
    train = pd.DataFrame([row(False) for _ in range(rows)])
    train.iloc[0, 1] = '?'
    train.to_csv(folder / 'adult.data', header=False, index=False, sep=',')
    test = pd.DataFrame([row(True) for _ in range(rows)])
    (folder / 'adult.test').write_text('|1x3 Cross validator\n' +
                                       test.to_csv(header=False, index=False))


def test_adult_original_uci_layout_and_race(tmp_path):
    write_uci_original(tmp_path)
    data = load_adult(tmp_path, sensitive='race', val_fraction=0.25)
    assert len(data.y['train']) + len(data.y['val']) == 59  # the '?' row is dropped
    assert len(data.y['test']) == 60
    assert data.group_names[0] == 'White' and set(data.sens['test']) <= {0, 1, 2}


def test_adult_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match='adult.data, adult.test not found'):
        load_adult(tmp_path)
    write_uci_original(tmp_path)
    with pytest.raises(ValueError, match="'sex' or 'race'"):
        load_adult(tmp_path, sensitive='age')
    (tmp_path / 'adult.data').write_text('1,2,3\n4,5,6\n')
    with pytest.raises(ValueError, match='expected 15 columns'):
        load_adult(tmp_path)


def write_health(path, rows=900, seed=0, edit=None):
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        'MemberID': np.arange(rows), 'Year': rng.choice(['Y1', 'Y2'], rows),
        'AgeAtFirstClaim': rng.choice(HEALTH_AGE_GROUPS, rows),
        'Sex': rng.choice(['M', 'F'], rows),
        'LabCount_total': rng.integers(0, 10, rows), 'DrugCount_total': rng.integers(0, 5, rows),
        'no_Claims': rng.integers(0, 30, rows), 'max_CharlsonIndex': rng.choice([0, 1, 2, 3], rows)})
    if edit is not None:
        frame = edit(frame)
    frame.to_csv(path, index=False)
    return frame


def test_health_nine_age_groups(tmp_path):
    frame = write_health(tmp_path / 'health.csv')
    data = load_health(tmp_path)
    assert data.group_names == HEALTH_AGE_GROUPS
    assert sum(len(y) for y in data.y.values()) == len(frame)
    assert set(np.concatenate(list(data.sens.values()))) == set(range(9))
    assert 'categorical__Sex_M' in data.feature_names  # the other attribute stays a feature
    assert not any('AgeAtFirstClaim' in n or 'MemberID' in n for n in data.feature_names)
    positives = sum(int(y.sum()) for y in data.y.values())
    assert positives == int((frame['max_CharlsonIndex'] > 0).sum())
    assert load_health(tmp_path / 'health.csv', sensitive='sex').group_names == ['M', 'F']


@pytest.mark.parametrize('edit,error,match', [
    (lambda f: f.drop(columns=['Sex']), ValueError, 'missing column.*Sex'),
    (lambda f: f.assign(no_Claims=[np.nan] + [1] * (len(f) - 1)), ValueError, 'no_Claims'),
    (lambda f: f.assign(no_Claims=['many'] * len(f)), ValueError, 'non-numeric.*no_Claims'),
])
def test_health_bad_inputs(tmp_path, edit, error, match):
    write_health(tmp_path / 'health.csv', edit=edit)
    with pytest.raises(error, match=match):
        load_health(tmp_path)


def test_health_unknown_groups_dropped_with_warning(tmp_path):
    write_health(tmp_path / 'health.csv', edit=lambda f: f.assign(
        AgeAtFirstClaim=['?'] * 5 + list(f['AgeAtFirstClaim'][5:])))
    with pytest.warns(UserWarning, match='dropped 5 rows'):
        load_health(tmp_path)
    with pytest.raises(FileNotFoundError, match='not downloadable'):
        load_health(tmp_path / 'nope.csv')


def test_adult_download_from_local_server(tmp_path, monkeypatch, file_server):
    from fairgnn_bilevel.tabular import datasets
    served, url = file_server
    write_uci_original(served)
    monkeypatch.setattr(datasets, 'ADULT_URL', url)
    monkeypatch.setattr(datasets, 'ADULT_ROWS', {'adult.data': 60, 'adult.test': 60})
    data = load_adult(tmp_path / 'fresh', download=True)
    assert len(data.y['test']) == 60
    assert (tmp_path / 'fresh' / 'adult.test').read_bytes() == (served / 'adult.test').read_bytes()
