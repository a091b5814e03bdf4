"""Bounded runs through every face: fit, the CLI and the estimator train toward the bound,
select the most accurate epoch within it, and say so when none is."""
import json
import warnings

import numpy as np
import pytest

import fairgnn_bilevel as fb
from fairgnn_bilevel.cli import main
from fairgnn_bilevel.config import ConfigError
from fairgnn_bilevel.tabular import FairBiNNClassifier
from fairgnn_bilevel.train.selection import SelectionRule, SelectionWarning, predicts_one_class
from graph_data import fair_sbm
from tests.conftest import ROOT


@pytest.fixture(scope='module')
def data():
    return fair_sbm(num_nodes=600, seed=1)  # a biased graph with signal, small enough


def _two_class_within(history, gap, bound):
    return [r for r in history if not predicts_one_class(r) and r[gap] <= bound]


@pytest.mark.parametrize('method, weight', [('bilevel', {'eta': 1000.0}),
                                            ('lagrangian', {'lam': 30.0})])
def test_a_bounded_fit_returns_the_most_accurate_epoch_within_the_bound(data, method, weight):
    # the weight the multiplier scales: large enough that many epochs sit within the bound
    result = fb.fit(data, method=method, max_dp=0.1, epochs=40, progress=False, **weight)
    within = _two_class_within(result.history, 'dp', 0.1)
    assert within, 'the run should reach the bound on this graph'
    assert result.val['acc'] == max(r['acc'] for r in within)
    assert result.val['dp'] <= 0.1
    assert result.bound == {'gap': 'dp', 'max_gap': 0.1, 'margin': 0.0,
                            'val_gap': result.val['dp'], 'held_on_val': True,
                            'best_val_acc': max(r['acc'] for r in result.history)}
    assert result.selection.startswith('dp_budget')


def _end_epochs(monkeypatch, strategy, data, config, before=None):
    """Train with ``config`` and return what ``strategy.end_epoch`` returned each epoch (the
    strategy's own numbers); ``before(strategy)`` runs at each end of epoch first."""
    from fairgnn_bilevel.engine import train
    seen = []
    original = strategy.end_epoch

    def spy(self):
        if before is not None:
            before(self)
        seen.append(original(self))
        return seen[-1]
    monkeypatch.setattr(strategy, 'end_epoch', spy)
    train(data, config, progress=False)
    return seen


def test_the_multiplier_rises_while_the_bound_is_violated(data, monkeypatch):
    from fairgnn_bilevel.engine import resolve_config
    from fairgnn_bilevel.train.strategies import Lagrangian
    config = resolve_config(None, 'lagrangian', train__max_dp=0.0, epochs=3)
    with pytest.warns(SelectionWarning, match='no epoch met the bound'):
        seen = _end_epochs(monkeypatch, Lagrangian, data, config)
    weights = [s['fairness_weight'] for s in seen]
    assert all(s['train_gap'] > 0 for s in seen) and weights == sorted(weights)
    assert weights[0] > 1.0  # λ starts at lam = 1 and rose


@pytest.mark.parametrize('max_dp, moves', [(0.0, 'stays'), (1.0, 'falls')])
def test_fairbinn_under_a_bound_never_pushes_the_follower_past_eta(data, monkeypatch, max_dp,
                                                                  moves):
    # η is the ceiling: the unrolled follower's plain gradient step grows with its weight
    from fairgnn_bilevel.engine import resolve_config
    from fairgnn_bilevel.train.strategies import UnrolledBilevel
    config = resolve_config(None, 'bilevel', train__max_dp=max_dp, eta=50.0, epochs=4)
    etas = []  # the weight each epoch's follower steps used
    with warnings.catch_warnings():  # max_dp=0 is unreachable: asserted elsewhere
        warnings.simplefilter('ignore', SelectionWarning)
        seen = _end_epochs(monkeypatch, UnrolledBilevel, data, config,
                           before=lambda strategy: etas.append(strategy.follower.eta))
    weights = [s['fairness_weight'] for s in seen]
    if moves == 'stays':  # violated throughout: held at η, never above
        assert all(s['train_gap'] > 0 for s in seen) and weights == [50.0] * 4
        assert etas == [50.0] * 4
    else:  # within the bound throughout: λ falls by the rule, 0.2 × (gap − 1) / 1 each epoch
        expected, lam = [], 1.0
        for s in seen:
            lam = max(0.0, lam + 0.2 * (s['train_gap'] - 1.0))
            expected.append(50.0 * lam)
        assert weights == pytest.approx(expected) and weights[-1] < weights[0] < 50.0
        assert etas == pytest.approx([50.0] + expected[:-1])


def test_an_unreachable_bound_is_stated_in_one_line(data):
    with pytest.warns(SelectionWarning) as caught:
        result = fb.fit(data, max_dp=0.0, epochs=15, progress=False)
    messages = [str(w.message) for w in caught if 'bound' in str(w.message)]
    assert len(messages) == 1 and '\n' not in messages[0]
    assert messages[0].startswith('no epoch met the bound ΔDP ≤ 0 on validation')
    assert f'val ΔDP {result.val["dp"]:.4f}' in messages[0]
    assert result.bound['held_on_val'] is False
    two_class = [r for r in result.history if not predicts_one_class(r)] or result.history
    assert result.val['dp'] == min(r['dp'] for r in two_class)  # the closest, never a garbage model
    assert messages[0] in result.warnings


def test_max_eo_bounds_equal_opportunity(data):
    result = fb.fit(data, max_eo=0.1, epochs=40, progress=False)
    assert result.bound['gap'] == 'eo' and result.selection.startswith('eo_budget')
    assert result.bound['val_gap'] == result.val['eo']


@pytest.mark.parametrize('options, match', [
    (dict(max_dp=0.1, max_eo=0.1), 'give one bound, not both'),
    (dict(max_eo=0.1, fairness='dp'), 'set fairness=eo'),
    (dict(method='vanilla', max_dp=0.1), 'train.max_dp is not read'),
    (dict(method='fairgnn', max_dp=0.1), 'train.max_dp is not read'),
    (dict(method='bilevel_first_order', max_dp=0.1), 'ignores the scale of η'),
    (dict(dual_lr=0.1), 'train.dual_lr is not read'),
    (dict(max_dp=0.1, selection__rule='pareto'), 'selection.rule=pareto with the bound'),
    (dict(max_dp=0.1, selection__max_dp=0.2), 'selection.max_dp is not read'),
    (dict(max_dp=1.5), 'max_dp'),
])
def test_bounds_a_run_cannot_honour_are_refused(data, options, match):
    with pytest.raises((ConfigError, ValueError), match=match):
        fb.fit(data, epochs=2, progress=False, **options)


def test_margin_tightens_the_budget():
    records = [{'epoch': 1, 'acc': 0.9, 'auc': 0.9, 'dp': 0.045, 'eo': 0.1},
               {'epoch': 2, 'acc': 0.8, 'auc': 0.9, 'dp': 0.02, 'eo': 0.1},
               {'epoch': 3, 'acc': 0.95, 'auc': 0.9, 'dp': 0.0, 'eo': 0.0,
                'positive_rate': 0.99}]  # a one-class model: set aside
    assert SelectionRule('dp_budget', max_dp=0.05).select(records) == 1
    assert SelectionRule('dp_budget', max_dp=0.05, margin=0.01).select(records) == 2
    tight = SelectionRule('dp_budget', max_dp=0.01)
    assert tight.falls_back(records) and tight.select(records) == 2  # the closest two-class
    assert SelectionRule('eo_budget', max_eo=0.1).select(records) == 1
    assert SelectionRule('dp_budget', max_dp=0.05, margin=0.01).describe() == \
        'dp_budget: max val ACC with val ΔDP ≤ 0.05 − 0.01'


def test_the_cli_trains_toward_a_bound_and_records_it(tmp_path, capsys):
    code = main(['train', '--config', str(ROOT / 'configs/synthetic.yaml'), '--out',
                 str(tmp_path), '--max-eo', '0.1', '--no-progress', '--set', 'train.epochs=5',
                 '--set', 'data.synthetic.num_nodes=300'])
    assert code == 0
    run = json.loads((tmp_path / 'results.json').read_text())[0]
    assert run['bound']['gap'] == 'eo' and run['bound']['max_gap'] == 0.1
    assert run['config']['train']['fairness'] == 'eo'
    out = capsys.readouterr().out
    assert 'selection: eo_budget: max val ACC with val ΔEO ≤ 0.1' in out
    assert 'bound: ΔEO ≤ 0.1 held on validation in' in out
    with pytest.raises(SystemExit):
        main(['train', '--config', str(ROOT / 'configs/synthetic.yaml'), '--max-dp', '0.1',
              '--max-eo', '0.1'])
    # a bound the method cannot train toward is refused, never silently dropped
    capsys.readouterr()
    assert main(['train', '--config', str(ROOT / 'configs/synthetic.yaml'), '--method',
                 'vanilla', '--max-dp', '0.1', '--out', str(tmp_path / 'vanilla')]) == 2
    assert 'train.max_dp is not read by this run' in capsys.readouterr().err
    assert not (tmp_path / 'vanilla').exists()  # refused before any training


def test_the_estimator_takes_a_bound():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 4))
    sens = rng.integers(0, 2, 400)
    y = (X[:, 0] + sens + rng.normal(size=400) * 0.5 > 0.5).astype(int)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', SelectionWarning)  # tiny fits may not reach it
        est = FairBiNNClassifier(max_dp=0.05, epochs=5, random_state=0).fit(
            X, y, sensitive_features=sens)
    assert est.bound_['gap'] == 'dp' and est.bound_['max_gap'] == 0.05
    assert FairBiNNClassifier(max_eo=0.1).get_params()['max_eo'] == 0.1
    with pytest.raises(ValueError, match='set val_fraction > 0'):
        FairBiNNClassifier(max_dp=0.05, val_fraction=0).fit(X, y, sensitive_features=sens)
    with pytest.raises(ValueError, match='max_dp is not read'):
        FairBiNNClassifier(max_dp=0.05, method='vanilla').fit(X, y, sensitive_features=sens)
