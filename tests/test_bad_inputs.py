"""Every bad input is stopped before the first epoch, with one line naming the problem.

One table of cases across the CLI, the Python API, the tabular adapter and the
estimator.  Each case runs with a counter on every task's ``train_epoch``; it must end in
exit code 2 (CLI) or ``ValueError`` (API) with a one-line message matching the
expected text, and the counter must still read zero.
"""
import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch

import fairgnn_bilevel as fb
from fairgnn_bilevel.cli import main
from fairgnn_bilevel import fit_tabular
from fairgnn_bilevel.tabular import FairBiNNClassifier, TabularData
from fairgnn_bilevel.train.table import TabularTask
from fairgnn_bilevel.train.graph import GraphTask
from tests.conftest import UserGNN, tiny_graph, write_fairgnn_files

ROOT = Path(__file__).resolve().parents[1]
SYNTHETIC = str(ROOT / 'configs' / 'synthetic.yaml')
NBA = str(ROOT / 'configs' / 'nba.yaml')


# -- how a case is run: each returns the one error line --------------------------------

def cli(*args, setup=None):
    """``fairgnn-bilevel ARGS`` in process; ``{tmp}`` in an argument is the test's folder."""
    def run(tmp, capsys):
        if setup is not None:
            setup(tmp)
        code = main([a.replace('{tmp}', str(tmp)) for a in args])
        err = capsys.readouterr().err
        assert code == 2, err
        assert 'Traceback' not in err
        lines = [line for line in err.splitlines() if line.startswith('fairgnn-bilevel: error')]
        assert len(lines) == 1, err
        return lines[0]
    return run


def train(*extra, config=SYNTHETIC, setup=None):
    return cli('train', '--config', config, '--out', '{tmp}/out', '--no-progress', *extra,
               setup=setup)


def api(call, setup=None):
    """``call(tmp)`` must raise ``ValueError`` (``ConfigError`` is one)."""
    def run(tmp, capsys):
        if setup is not None:
            setup(tmp)
        with pytest.raises(ValueError) as error:
            call(tmp)
        return str(error.value)
    return run


# -- inputs -------------------------------------------------------------------------------

def graph(**changes):
    data = tiny_graph(n=80)
    for key, value in changes.items():
        setattr(data, key, value(data) if callable(value) else value)
    return data


def zero_on(attribute, mask_name):
    """A change setting ``attribute`` (``y`` or ``sens``) to 0 on a split's nodes."""
    def change(data):
        values = getattr(data, attribute).clone()
        values[getattr(data, mask_name)] = 0
        return values
    return change


def no_positive_in_group(data):
    y = data.y.clone()
    y[data.test_mask & (data.sens == 1)] = 0
    return y


class NoBlock(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(5, 1)

    def forward(self, x, edge_index):
        return self.lin(x).view(-1)


def table(edit=None):
    rng = np.random.default_rng(0)
    parts = {}
    for split, n in (('train', 200), ('val', 80), ('test', 80)):
        sens = rng.integers(0, 2, n)
        parts[split] = (rng.normal(size=(n, 3)).astype(np.float32), np.tile([0, 1], n // 2),
                        sens)
    data = TabularData(X={k: v[0] for k, v in parts.items()},
                       y={k: v[1] for k, v in parts.items()},
                       sens={k: v[2] for k, v in parts.items()},
                       feature_names=['a', 'b', 'c'], group_names=['0', '1'])
    if edit is not None:
        edit(data)
    return data


def rows(n=120, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    return X, (X[:, 0] > 0).astype(int), rng.integers(0, 2, n)


def estimator(params=None, X=None, y=None, sens=None):
    def call(tmp):
        X0, y0, s0 = rows()
        FairBiNNClassifier(epochs=1, **(params or {})).fit(
            X0 if X is None else X(X0), y0 if y is None else y,
            sensitive_features=s0 if sens is None else sens)
    return call


def write(name, content, mode='w'):
    def setup(tmp):
        write_fairgnn_files(tmp / 'nba')
        with open(tmp / 'nba' / name, mode) as handle:
            handle.write(content)
    return setup


def edit_csv(change):
    def setup(tmp):
        import pandas as pd
        write_fairgnn_files(tmp / 'nba')
        frame = pd.read_csv(tmp / 'nba' / 'nba.csv')
        change(frame).to_csv(tmp / 'nba' / 'nba.csv', index=False)
    return setup


def results(payload):
    def setup(tmp):
        (tmp / 'out').mkdir()
        (tmp / 'out' / 'results.json').write_text(payload)
    return setup


METRICS = {'acc': 0.8, 'auc': 0.85, 'dp': 0.05, 'eo': 0.04, 'positive_rate': 0.5}
RUN = {'dataset': 'synthetic', 'method': 'bilevel', 'seed': 0, 'config_hash': 'abc',
       'selected_epoch': 3, 'val': METRICS, 'test': METRICS}
FOREIGN_RUN = [RUN]


def record(**changes):
    """A results.json of one record, ``RUN`` with ``changes`` (``None``: field removed)."""
    run = {**RUN, **changes}
    return results(json.dumps([{k: v for k, v in run.items() if v is not None}]))


def one_in_val_group(data):
    """Every validation node in group 0 but one."""
    sens = data.sens.clone()
    rows = data.val_mask.nonzero().view(-1)
    sens[rows] = 0
    sens[rows[0]] = 1
    return sens


def config_file(text):
    def setup(tmp):
        (tmp / 'config.yaml').write_text(text)
    return setup


NBA_ROOT = ['--root', '{tmp}/nba']

CASES = [
    # config values out of range, through the CLI
    ('eta<0', train('--set', 'train.eta=-1'), 'train.eta: must be >= 0, got -1'),
    ('lam<0', train('--set', 'train.lam=-0.5'), 'train.lam: must be >= 0'),
    ('leader_lr=0', train('--set', 'train.leader_lr=0'), 'train.leader_lr: must be > 0'),
    ('follower_lr<0', train('--set', 'train.follower_lr=-1e-3'), 'train.follower_lr: must be > 0'),
    ('dropout=1', train('--set', 'model.dropout=1'), 'model.dropout: must be < 1'),
    ('dropout<0', train('--set', 'model.dropout=-0.1'), 'model.dropout: must be >= 0'),
    ('hidden=0', train('--set', 'model.hidden=0'), 'model.hidden: must be >= 1'),
    ('gnn layers=0', train('--set', 'model.num_layers=0'), 'at least one GNN layer'),
    ('fairness_layers=0', train('--set', 'model.fairness_layers=0'),
     'model.fairness_layers: must be >= 1'),
    ('head_layers=0', train('--set', 'model.head_layers=0'), 'model.head_layers: must be >= 1'),
    ('epochs=0', train('--set', 'train.epochs=0'), 'train.epochs: must be >= 1'),
    ('follower_steps=0', train('--set', 'train.follower_steps=0'),
     'train.follower_steps: must be >= 1'),
    ('eval_every=0', train('--set', 'train.eval_every=0'), 'train.eval_every: must be >= 1'),
    ('warmup<0', train('--set', 'train.fairness_warmup=-3'), 'train.fairness_warmup: must be >= 0'),
    ('threads=0', train('--set', 'train.threads=0'), "train.threads: must be 'auto' or"),
    ('threads=many', train('--set', 'train.threads=many'), "train.threads: must be 'auto' or"),
    ('min_acc>1', train('--set', 'selection.min_acc=2'), 'selection.min_acc: must be <= 1'),
    ('activation', train('--set', 'model.fairness_act=nope'), 'model.fairness_act: is not an'),
    ('method', train('--set', 'train.method=magic'), "train.method: 'magic' is not one of"),
    ('unknown key', train('--set', 'train.etaa=1'), 'unknown key train.etaa'),
    ('wrong type', train('--set', 'train.epochs=many'), "train.epochs: expected int, got 'many'"),
    # keys that do not apply to the data
    ('num_neighbors on a table',
     api(lambda tmp: fit_tabular(table(), train__num_neighbors=[5, 5])),
     'train.num_neighbors applies to graphs only'),
    ('num_neighbors per layer', train('--set', 'train.num_neighbors=[10]'),
     'train.num_neighbors has 1 entries for 2 GNN layers'),
    ('num_neighbors zero', train('--set', 'train.num_neighbors=[10, 0]'),
     'train.num_neighbors: must be a list with one count per GNN layer'),
    ('known rows in mini-batches',
     train('--set', 'train.batch_size=64', '--set', 'train.fairness_rows=known'),
     'train.fairness_rows=known needs full-graph training'),
    ('sensitive on a graph', train('--set', 'data.sensitive=sex'),
     "data.sensitive does not apply to dataset 'synthetic'"),
    ('split on synthetic', train('--set', 'data.split=stratified'),
     "data.split does not apply to dataset 'synthetic'"),
    ('heads without gat', train('--set', 'model.heads=4'), 'model.heads applies to'),
    ('fairness_rows on a table',
     api(lambda tmp: fit_tabular(table(), train__fairness_rows='known')),
     'train.fairness_rows applies to graphs only'),
    ('fairgnn on a table', api(lambda tmp: fit_tabular(table(), method='fairgnn')),
     'train.method=fairgnn trains a graph estimator'),
    ('known rows with eo', train('--set', 'train.fairness_rows=known', '--set',
                                 'train.fairness=eo'), 'train.fairness_rows=known includes'),
    ('fairness_rows value', train('--set', 'train.fairness_rows=all'),
     "train.fairness_rows: 'all' is not one of"),
    ('alpha<0', train('--set', 'train.alpha=-1', '--method', 'fairgnn'),
     'train.alpha: must be >= 0'),
    ('sens_number=0', train('--set', 'train.sens_number=0', '--method', 'fairgnn'),
     'train.sens_number: must be >= 1'),
    ('fairgnn on a user model without encoder',
     api(lambda tmp: fb.fit(tiny_graph(features=3), model=UserGNN(), method='fairgnn')),
     'does not expose one'),
    ('encoder on a table', api(lambda tmp: fit_tabular(table(), model__encoder='gat')),
     'model.encoder applies to graphs only'),
    ('synthetic keys on nba', train('--set', 'data.synthetic={num_nodes: 5}', *NBA_ROOT,
                                    config=NBA, setup=write('extra.txt', '')),
     "data.synthetic does not apply to dataset 'nba'"),
    # config files
    ('empty config', cli('train', '--config', '{tmp}/config.yaml', setup=config_file('')),
     'the file is empty'),
    ('list config', cli('train', '--config', '{tmp}/config.yaml', setup=config_file('- a\n')),
     'the top level must be a mapping'),
    ('missing config', cli('train', '--config', '{tmp}/nope.yaml'), 'config file not found'),
    # command-line values and output folders
    ('train --seeds 0', train('--seeds', '0'), '--seeds must be >= 1, got 0'),
    ('sweep --seeds 0', cli('sweep', '--config', SYNTHETIC, '--eta', '1', '--seeds', '0',
                            '--out', '{tmp}/out'), '--seeds must be >= 1, got 0'),
    ('sweep --eta<0', cli('sweep', '--config', SYNTHETIC, '--eta', '10', '-1', '--out',
                          '{tmp}/out'), 'train.eta: must be >= 0, got -1'),
    ('sweep --bounds 0', cli('sweep', '--config', SYNTHETIC, '--eta', '1', '--bounds', '0.01',
                             '0', '--out', '{tmp}/o'), '--bounds: difference bounds must be > 0'),
    ('sweep --lam<0', cli('sweep', '--config', SYNTHETIC, '--eta', '1', '--lam', '-2',
                          '--out', '{tmp}/out'), 'train.lam: must be >= 0, got -2'),
    ('sweep out is a file', cli('sweep', '--config', SYNTHETIC, '--eta', '1', '--out',
                                '{tmp}/file', setup=lambda t: (t / 'file').write_text('x')),
     'is a file; pass a folder'),
    ('reproduce --seeds 0', cli('reproduce', '--dataset', 'nba', '--root', '{tmp}',
                                '--seeds', '0'), '--seeds must be >= 1, got 0'),
    ('out is a file', cli('train', '--config', SYNTHETIC, '--out', '{tmp}/file',
                          setup=lambda t: (t / 'file').write_text('x')),
     'is a file; pass a folder'),
    ('corrupt results', train(setup=results('{"not": json')), 'results.json is not a valid'),
    ('results acc above 1', train(setup=record(test={**METRICS, 'acc': 5.0})),
     r'record 0 \(seed 0\) is not a valid run record \(test.acc = 5.0: input should be less '
     'than or equal to 1'),
    ('results without test', train(setup=record(test=None)),
     r'record 0 \(seed 0\) is not a valid run record \(field test is missing\)'),
    ('results without method', train(setup=record(method=None)), r'field method is missing'),
    ('results seed as text', train(setup=record(seed='0')),
     r"record 0 \(seed '0'\) is not a valid run record \(seed = '0'"),
    ('reproduce --jobs 0', cli('reproduce', '--dataset', 'nba', '--root', '{tmp}', '--jobs',
                               '0'), '--jobs must be >= 1'),
    ('reproduce --jobs -1', cli('reproduce', '--dataset', 'nba', '--root', '{tmp}', '--jobs',
                                '-1'), '--jobs must be >= 1'),
    ('set value not YAML', train('--set', 'train.eta=[1'),
     "--set train.eta: the value '\\[1' is not valid YAML"),
    ('device tpu', train('--set', 'train.device=tpu'), "train.device: must be 'cpu', 'cuda'"),
    ('device cuda missing', train('--set', 'train.device=cuda'),
     "train.device='cuda' but cuda is not available"),
    ('synthetic negative nodes', train('--set', 'data.synthetic={num_nodes: -5}'),
     'data.synthetic: num_nodes must be >= 2, got -5'),
    ('synthetic text', train('--set', 'data.synthetic={minority: many}'),
     "data.synthetic: minority must be a number, got 'many'"),
    ('synthetic split fractions', train('--set', 'data.synthetic={train: 0.8, val: 0.3}'),
     'data.synthetic: train \\+ val must be < 1'),
    ('follower_steps beyond memory', train('--set', 'train.follower_steps=1000000'),
     'train.follower_steps=1000000 needs at least .* GiB of memory to train, more than the'),
    ('hidden beyond memory', train('--set', 'model.hidden=10000000'),
     'model.hidden=10000000 needs at least .* GiB of memory'),
    ('results not runs', train(setup=results('{"a": 1}')),
     'results.json is not a valid results file, a list of run records;'),
    ('results of another config', train(setup=results(json.dumps(FOREIGN_RUN))),
     'holds runs of another config'),
    # graphs given to fit()
    ('float edge_index', api(lambda t: fb.fit(graph(edge_index=lambda d: d.edge_index.float()))),
     'edge_index must hold integer node indices'),
    ('edge list [E, 2]', api(lambda t: fb.fit(graph(edge_index=lambda d: d.edge_index.t()))),
     'edge_index must have shape \\[2, num_edges\\]'),
    ('integer x', api(lambda t: fb.fit(graph(x=lambda d: d.x.long()))),
     'x must be a 2-D floating-point tensor'),
    ('inf in x', api(lambda t: fb.fit(graph(x=lambda d: d.x.index_fill(0, torch.tensor([3]),
                                                                      float('inf')))), ),
     'x has infinite values in 1 nodes'),
    ('NaN in x', api(lambda t: fb.fit(graph(x=lambda d: d.x.index_fill(0, torch.tensor([3]),
                                                                      float('nan')))), ),
     'x has NaN in 1 nodes'),
    ('val one group', api(lambda t: fb.fit(graph(sens=zero_on('sens', 'val_mask')))),
     'val_mask holds a single sensitive group'),
    ('test one label', api(lambda t: fb.fit(graph(y=zero_on('y', 'test_mask')))),
     'test_mask holds a single label'),
    ('train one label', api(lambda t: fb.fit(graph(y=zero_on('y', 'train_mask')))),
     'train_mask holds a single label'),
    ('test group without positives', api(lambda t: fb.fit(graph(y=no_positive_in_group))),
     'test_mask: sensitive group\\(s\\) \\[1\\] have fewer than 2 positive rows'),
    ('model dtype differs', api(lambda t: fb.fit(graph(x=lambda d: d.x.double()),
                                                 model=UserGNN().float())),
     'the model has torch.float32 parameters but the features are torch.float64'),
    ('model without a block', api(lambda t: fb.fit(graph(), model=NoBlock())),
     'NoBlock contains no FairnessBlock'),
    ('mini-batches of a user model',
     api(lambda t: fb.fit(graph(), model=UserGNN(), batch_size=10)),
     'UserGNN does not expose a graph encoder'),
    ('bad override in fit', api(lambda t: fb.fit(graph(), eta=-2.0)), 'train.eta: must be >= 0'),
    ('data key in fit', api(lambda t: fb.fit(graph(), data__split='stratified')),
     'data.split is not read by fit, which trains the data it is given'),
    ('data key in fit_tabular', api(lambda t: fit_tabular(table(), data__sensitive='race')),
     'data.sensitive is not read by fit'),
    ('one node of a group in val', api(lambda t: fb.fit(graph(sens=one_in_val_group))),
     r'val_mask: sensitive group\(s\) \[1\] have fewer than 2 rows'),
    ('float16 x', api(lambda t: fb.fit(graph(x=lambda d: d.x.half()))),
     'x is torch.float16: .*pass x.float\\(\\)'),
    ('bfloat16 x', api(lambda t: fb.fit(graph(x=lambda d: d.x.bfloat16()))),
     'x is torch.bfloat16'),
    # numbers that train into NaN
    ('eta=inf', train('--set', 'train.eta=.inf'), 'train.eta: must be a finite number, got inf'),
    ('leader_lr=inf', api(lambda t: fb.fit(graph(), leader_lr=float('inf'))),
     'train.leader_lr: must be a finite number'),
    ('follower_step_size=inf', api(lambda t: fb.fit(graph(), follower_step_size=float('inf'))),
     'train.follower_step_size: must be a finite number'),
    ('lam=inf', api(lambda t: fb.fit(graph(), method='lagrangian', lam=float('inf'))),
     'train.lam: must be a finite number'),
    ('estimator eta=inf', api(estimator(dict(eta=float('inf')))), 'eta: must be a finite number'),
    # shapes and conventions of other libraries
    ('sens of two float columns', api(lambda t: fb.fit(graph(
        sens=lambda d: d.sens.view(-1, 1).repeat(1, 2).float()))),
     r'sens has shape \(80, 2\); one group per node is expected, .*\(or integer attributes'),
    ('mask indices out of range', api(lambda t: fb.fit(graph(
        val_mask=lambda d: torch.tensor([1, 2, 500])))), 'val_mask holds node indices outside'),
    ('mask indices twice', api(lambda t: fb.fit(graph(
        val_mask=lambda d: torch.tensor([1, 2, 2])))), 'val_mask holds node indices more than'),
    ('sens_number above the known', api(lambda t: fb.fit(graph(), method='fairgnn',
                                                         sens_number=10000)),
     'train.sens_number=10000 is more than the .* nodes of known group'),
    ('out cannot be created', train('--out', '{tmp}/file/sub',
                                    setup=lambda t: (t / 'file').write_text('x')),
     'output folder .*file/sub cannot be written'),
    # tables
    ('NaN in a table', api(lambda t: fit_tabular(table(lambda d: d.X['val'].__setitem__(
        (0, 0), np.nan)))), 'val: X must be finite numbers'),
    ('table test one group', api(lambda t: fit_tabular(table(lambda d: d.sens['test'].fill(1)))),
     'test holds a single sensitive group'),
    ('table class only in train', api(lambda t: fit_tabular(table(
        lambda d: d.y['train'].__setitem__(0, 2)))), r'val holds no row of class\(es\) \[2\]'),
    ('table negative label', api(lambda t: fit_tabular(table(
        lambda d: d.y['train'].__setitem__(0, -1)))), 'train: y must hold integer classes'),
    # the estimator
    ('estimator batch_size=0', api(estimator(dict(batch_size=0))),
     'batch_size: must be >= 1, got 0'),
    ('estimator val_fraction', api(estimator(dict(val_fraction=1.5))),
     'val_fraction must be in \\[0, 1\\)'),
    ('estimator NaN', api(estimator(X=lambda X: np.where(np.arange(3) == 1, np.nan, X))),
     'missing values \\(NaN\\) in column 1'),
    ('estimator inf', api(estimator(X=lambda X: np.where(np.arange(3) == 2, np.inf, X))),
     'infinite values \\(inf\\) in column 2'),
    ('estimator one class', api(estimator(y=np.ones(120, dtype=int))),
     r'y holds one class \(\[1\]\); a classifier needs at least two'),
    ('estimator one group', api(estimator(sens=np.zeros(120))), 'a single group'),
    ('estimator NaN group', api(estimator(sens=np.where(np.arange(120) == 5, np.nan, 1.0))),
     'sensitive_features has missing values'),
    # raw dataset files
    ('missing raw files', train(*NBA_ROOT, config=NBA), 'NBA: raw file\\(s\\) nba.csv'),
    ('empty nba.csv', train(*NBA_ROOT, config=NBA, setup=write('nba.csv', '')),
     'nba.csv: the file is empty'),
    ('empty nba.csv unverified', train(*NBA_ROOT, '--set', 'data.verify=false', config=NBA,
                                       setup=write('nba.csv', '')),
     'nba/nba.csv: the file is empty'),
    ('binary nba.csv', train(*NBA_ROOT, config=NBA,
                             setup=write('nba.csv', bytes(range(256)) * 8, 'wb')),
     'nba.csv: not a readable CSV file'),
    ('header only', train(*NBA_ROOT, config=NBA, setup=write('nba.csv', 'user_id,SALARY,country\n')),
     'nba.csv: the file has a header but no node rows'),
    ('label column missing', train(*NBA_ROOT, config=NBA,
                                   setup=edit_csv(lambda f: f.drop(columns='SALARY'))),
     'nba.csv: missing column\\(s\\) SALARY'),
    ('text feature', train(*NBA_ROOT, config=NBA,
                           setup=edit_csv(lambda f: f.assign(PTS='many'))),
     'nba.csv: non-numeric column\\(s\\) PTS'),
    ('empty feature', train(*NBA_ROOT, config=NBA,
                            setup=edit_csv(lambda f: f.assign(PTS=f.PTS.where(f.index > 0)))),
     'nba.csv: feature column\\(s\\) PTS have empty values'),
    ('unknown edge id', train(*NBA_ROOT, config=NBA,
                              setup=write('nba_relationship.txt', '1 2\n', 'a')),
     'nba_relationship.txt: 1 of .* edges name user ids not in nba.csv'),
    ('garbage edges', train(*NBA_ROOT, config=NBA,
                            setup=write('nba_relationship.txt', 'a b c\n', 'a')),
     'nba_relationship.txt: not a list of integer user-id pairs'),
    ('changed nba.csv', train(*NBA_ROOT, config=NBA, setup=write('extra.txt', '')),
     'nba.csv: the file parses but differs from the canonical NBA file.*data.verify=false'),
]


@pytest.fixture
def epochs_run(monkeypatch):
    """Counts training epochs of every task kind."""
    count = {'epochs': 0}
    for cls in (GraphTask, TabularTask):
        original = cls.train_epoch

        def counted(self, strategy, _original=original):
            count['epochs'] += 1
            return _original(self, strategy)
        monkeypatch.setattr(cls, 'train_epoch', counted)
    return count


def test_the_table_is_large():
    assert len(CASES) > 40 and len({case[0] for case in CASES}) == len(CASES)


@pytest.mark.parametrize('run,expected', [case[1:] for case in CASES],
                         ids=[case[0] for case in CASES])
def test_bad_input_is_one_line_before_any_epoch(run, expected, tmp_path, capsys, epochs_run,
                                                monkeypatch):
    monkeypatch.chdir(tmp_path)  # the default output folder, runs/, lands here
    message = run(tmp_path, capsys)
    assert '\n' not in message
    assert re.search(expected, message), message
    assert epochs_run['epochs'] == 0
