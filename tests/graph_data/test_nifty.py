"""German, Bail and Credit: the NIFTY format and protocol, on the real files, on generated
files in the same format, and on mangled files."""
import random
import shutil

import numpy as np
import pandas as pd
import pytest
import torch

import graph_data
from graph_data import Bail, Credit, German, load_dataset, nifty_split
from graph_data.download import sha256
from tests.conftest import shared_dataset

# (nodes, undirected edges without self-loops, features without the group, label counts
# [0, 1], group counts [0, 1], split sizes train/val/test) — node, label and group counts
# as SOURCES.md lists them; edges as PyGDebias's dataset table reports them; split sizes
# from NIFTY's protocol (50 % / 25 % / 25 % of each class, training capped at
# label_number // 2 per class).
PUBLISHED = {
    'german': (1000, 21742, 26, [300, 700], [690, 310], (100, 250, 250)),
    'bail': (18876, 311870, 17, [11772, 7104], [9317, 9559], (100, 4719, 4719)),
    'credit': (30000, 137377, 12, [6636, 23364], [27315, 2685], (6000, 7500, 7500)),
}


def nifty_reference_split(labels: np.ndarray, label_number: int):
    """NIFTY's split as its loaders write it: the global ``random`` seeded with 20 shuffles
    numpy index arrays of class 0, then class 1, in place."""
    state = random.getstate()
    try:
        random.seed(20)
        idx_0, idx_1 = np.where(labels == 0)[0], np.where(labels == 1)[0]
        random.shuffle(idx_0)
        random.shuffle(idx_1)
    finally:
        random.setstate(state)
    train = np.append(idx_0[:min(int(0.5 * len(idx_0)), label_number // 2)],
                      idx_1[:min(int(0.5 * len(idx_1)), label_number // 2)])
    val = np.append(idx_0[int(0.5 * len(idx_0)):int(0.75 * len(idx_0))],
                    idx_1[int(0.5 * len(idx_1)):int(0.75 * len(idx_1))])
    test = np.append(idx_0[int(0.75 * len(idx_0)):], idx_1[int(0.75 * len(idx_1)):])
    return train, val, test


@pytest.mark.parametrize('name', list(PUBLISHED))
def test_real_files_match_the_published_protocol(name):
    root = shared_dataset(name)
    nodes, edges, features, labels, groups, sizes = PUBLISHED[name]
    data = load_dataset(name, root, sens_in_features=True)
    assert data.num_nodes == nodes and data.edge_index.size(1) == 2 * edges
    assert data.is_undirected() and not data.has_self_loops()
    assert data.num_features == features + 1 and data.split == 'nifty'
    assert data.y.bincount().tolist() == labels and data.sens.bincount().tolist() == groups
    masks = (data.train_mask, data.val_mask, data.test_mask)
    assert tuple(int(m.sum()) for m in masks) == sizes
    assert not (masks[0] & masks[1]).any() and not (masks[1] & masks[2]).any()
    cls = graph_data.DATASETS[name]
    reference = nifty_reference_split(data.y.numpy(), cls.label_number)
    for mask, index in zip(masks, reference):
        assert torch.equal(mask.nonzero().view(-1), torch.from_numpy(np.sort(index)))
    # the group column sits in x unscaled, as NIFTY puts it back after feature_norm
    frame = pd.read_csv(root / cls.nodes_file)
    column = [c for c in frame.columns if c != cls.label and c not in cls.dropped].index(
        cls.sens_attr)
    assert torch.equal(data.x[:, column], data.sens.float())
    without = load_dataset(name, root)
    assert without.num_features == features
    assert torch.equal(without.x, torch.cat([data.x[:, :column], data.x[:, column + 1:]], 1))
    if cls.minmax:  # every other column scaled to [-1, 1] over all nodes
        assert torch.allclose(without.x.min(0).values, torch.tensor(-1.0))
        assert torch.allclose(without.x.max(0).values, torch.tensor(1.0))
    else:  # German as in the file
        raw = frame.drop(columns=[cls.label, *cls.dropped, cls.sens_attr])
        assert torch.equal(without.x, torch.tensor(raw.to_numpy(np.float32)))


def test_german_label_and_group_mapping_follow_nifty():
    root = shared_dataset('german')
    frame = pd.read_csv(root / 'german.csv')
    data = load_dataset('german', root)
    assert torch.equal(data.y, torch.tensor((frame['GoodCustomer'] == 1).to_numpy()).long())
    assert torch.equal(data.sens, torch.tensor((frame['Gender'] == 'Female').to_numpy()).long())


def write_german_like(folder, n=60, seed=0, floats=True):
    """German-format files of ``n`` random clients: text group, ±1 label, a dropped text
    column, a constant column, edges written as floats."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        'GoodCustomer': rng.choice([1, -1], n), 'Gender': rng.choice(['Male', 'Female'], n),
        'Age': rng.integers(19, 75, n), 'PurposeOfLoan': rng.choice(['Car', 'Education'], n),
        'LoanAmount': rng.integers(250, 18000, n), 'OtherLoansAtStore': np.zeros(n, int)})
    folder.mkdir(parents=True, exist_ok=True)
    frame.to_csv(folder / 'german.csv', index=False)
    pairs = rng.integers(0, n, (3 * n, 2))
    np.savetxt(folder / 'german_edges.txt', pairs, fmt='%.18e' if floats else '%d')
    return frame, pairs


def test_generated_files_load_as_the_format_says(tmp_path):
    frame, pairs = write_german_like(tmp_path / 'g')
    data = load_dataset('german', tmp_path / 'g', verify=False, sens_in_features=True)
    assert torch.equal(data.x, torch.tensor(
        frame[['Gender', 'Age', 'LoanAmount']].replace({'Female': 1, 'Male': 0})
        .to_numpy(np.float32)))
    expected = {(a, b) for a, b in pairs.tolist() if a != b}
    expected |= {(b, a) for a, b in expected}
    assert set(map(tuple, data.edge_index.t().tolist())) == expected
    # integer-written edges give the same graph
    write_german_like(tmp_path / 'i', floats=False)
    assert torch.equal(load_dataset('german', tmp_path / 'i', verify=False).edge_index,
                       data.edge_index)


def test_checksum_guards_the_canonical_files(tmp_path):
    write_german_like(tmp_path)
    with pytest.raises(ValueError, match='differs from the canonical German file'):
        load_dataset('german', tmp_path)


MANGLED = [
    (lambda f: f.assign(Gender=f['Gender'].where(f.index > 0, 'unknown')),
     "column Gender holds \\['unknown'\\]; expected one of \\['Female', 'Male'\\]"),
    (lambda f: f.assign(GoodCustomer=f['GoodCustomer'].where(f.index > 0, 2)),
     "column GoodCustomer holds \\['2'\\]"),
    (lambda f: f.drop(columns=['GoodCustomer']), 'missing column\\(s\\) GoodCustomer'),
    (lambda f: f.assign(Age=f['Age'].astype(object).where(f.index > 0, None)),
     'column\\(s\\) Age have empty values'),
    (lambda f: f.assign(Age=f['Age'].astype(str) + 'y'), 'non-numeric column\\(s\\) Age'),
]


@pytest.mark.parametrize('edit, message', MANGLED)
def test_mangled_node_files_are_named_in_one_line(tmp_path, edit, message):
    frame, _ = write_german_like(tmp_path)
    edit(frame).to_csv(tmp_path / 'german.csv', index=False)
    with pytest.raises(ValueError, match=message) as error:
        load_dataset('german', tmp_path, verify=False)
    assert '\n' not in str(error.value) and 'german.csv' in str(error.value)
    assert not any(graph_data.cache_dir().rglob('*.pt'))  # nothing cached


@pytest.mark.parametrize('lines, message', [
    ('0 1\n2.5 3\n', 'line 2 holds \\[2.5, 3.0\\], not two whole node indices'),
    ('0 1\n0 60\n', 'line 2 names node \\[0, 60\\], outside the 60 rows'),
    ('0 1 2\n', 'expected two node indices per line, found 3'),
    ('a b\n', 'not a list of node-index pairs'),
])
def test_mangled_edge_files_are_named_in_one_line(tmp_path, lines, message):
    write_german_like(tmp_path)
    (tmp_path / 'german_edges.txt').write_text(lines)
    with pytest.raises(ValueError, match=message) as error:
        load_dataset('german', tmp_path, verify=False)
    assert '\n' not in str(error.value)
    assert not any(graph_data.cache_dir().rglob('*.pt'))


def test_missing_files_name_the_canonical_location(tmp_path):
    with pytest.raises(FileNotFoundError, match='PyGDebias-Team/data/.*/credit/credit.csv'):
        load_dataset('credit', tmp_path)


def test_second_load_reads_the_cache(tmp_path, monkeypatch):
    root = shared_dataset('bail')
    first = load_dataset('bail', root)

    def no_parse(*args, **kwargs):
        raise AssertionError('the raw files were parsed again')
    monkeypatch.setattr(graph_data.datasets, 'read_nifty', no_parse)
    second = load_dataset('bail', root)
    assert torch.equal(first.x, second.x) and torch.equal(first.edge_index, second.edge_index)


def test_download_checks_rows_where_no_digest_is_known(tmp_path, file_server, monkeypatch):
    served, url = file_server
    frame, pairs = write_german_like(served, floats=False)
    monkeypatch.setattr(German, 'url', url)
    monkeypatch.setattr(German, 'checksums', {'german.csv': sha256(served / 'german.csv')})
    monkeypatch.setattr(German, 'node_rows', len(frame))
    monkeypatch.setattr(German, 'edge_rows', len(pairs) + 1)  # the served file is short
    with pytest.raises(ValueError, match=f'{len(pairs)} rows, the canonical file has'):
        load_dataset('german', tmp_path / 'fresh', download=True)
    assert not (tmp_path / 'fresh' / 'german_edges.txt').exists()
    monkeypatch.setattr(German, 'edge_rows', len(pairs))
    data = load_dataset('german', tmp_path / 'fresh', download=True)
    assert data.num_nodes == len(frame)


def test_split_protocols_on_a_nifty_graph():
    y = torch.tensor([0] * 40 + [1] * 160)
    train, val, test = nifty_split(y, label_number=100)
    assert (y[train] == 0).sum() == 20 and (y[train] == 1).sum() == 50  # 50 % of 40; the cap
    assert (y[val] == 0).sum() == 10 and (y[test] == 1).sum() == 40
    reference = nifty_reference_split(y.numpy(), 100)
    for mask, index in zip((train, val, test), reference):
        assert torch.equal(mask.nonzero().view(-1), torch.from_numpy(np.sort(index)))
    root = shared_dataset('german')
    data = load_dataset('german', root, split='stratified', seed=3)
    assert data.split == 'stratified' and int(data.train_mask.sum()) == 500


@pytest.mark.parametrize('cls', [German, Bail, Credit])
def test_every_loader_is_a_cached_in_memory_dataset(cls, tmp_path):
    root = shared_dataset(cls.__name__.lower())
    dataset = cls(root)
    assert len(dataset) == 1 and dataset[0].num_nodes == cls.node_rows
    assert repr(dataset) == f'{cls.__name__}({root.resolve()})'
    copy = tmp_path / 'copy'
    shutil.copytree(root, copy)
    assert torch.equal(cls(copy)[0].x, dataset[0].x)


def test_empty_and_unreadable_node_files(tmp_path):
    write_german_like(tmp_path)
    (tmp_path / 'german.csv').write_text('')
    with pytest.raises(ValueError, match='the file is empty; expected a CSV with a header row '
                                         '\\(GoodCustomer, Gender, features\\)'):
        load_dataset('german', tmp_path, verify=False)
    (tmp_path / 'german.csv').write_text('GoodCustomer,Gender,Age\n')
    with pytest.raises(ValueError, match='a header but no node rows'):
        load_dataset('german', tmp_path, verify=False)
