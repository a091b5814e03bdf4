import io
import random

import pytest
import torch

from fairgnn_bilevel.train.selection import ParetoArchive, SelectionRule, dominates


def rec(epoch, acc, auc, dp, eo):
    return dict(epoch=epoch, acc=acc, auc=auc, dp=dp, eo=eo)


RECORDS = [
    rec(1, 0.60, 0.70, 0.00, 0.00),   # constant-ish predictor: fair but inaccurate
    rec(2, 0.80, 0.85, 0.10, 0.05),
    rec(3, 0.795, 0.84, 0.02, 0.03),
    rec(4, 0.81, 0.86, 0.20, 0.10),
    rec(5, 0.75, 0.80, 0.01, 0.01),
]


def test_rules_by_hand():
    assert SelectionRule('best_acc').select(RECORDS) == 4
    assert SelectionRule('tolerance', acc_tolerance=0.02).select(RECORDS) == 3
    assert SelectionRule('tolerance', acc_tolerance=0.0).select(RECORDS) == 4
    assert SelectionRule('fairgnn', min_acc=0.7, min_auc=0.7).select(RECORDS) == 5
    assert SelectionRule('fairgnn', min_acc=0.75, min_auc=0.7).select(RECORDS) == 3  # 0.75 ≯ 0.75
    assert SelectionRule('fairgnn', min_acc=0.99).select(RECORDS) == 4  # falls back
    assert SelectionRule('dp_budget', max_dp=0.05).select(RECORDS) == 3
    assert SelectionRule('dp_budget', max_dp=0.0).select(RECORDS) == 1
    none_qualify = [r for r in RECORDS if r['dp'] > 0.005]
    assert SelectionRule('dp_budget', max_dp=0.005).select(none_qualify) == 5  # min dp
    # front on (acc, dp): 1, 3, 5, 2?, 4 -> acc-dp: .60, .775, .74, .70, .61
    assert SelectionRule('pareto').select(RECORDS) == 3
    with pytest.raises(ValueError, match="'latest'"):
        SelectionRule('latest')
    with pytest.raises(ValueError, match='greater than or equal to 0'):
        SelectionRule('dp_budget', max_dp=-1.0)


def test_dominance():
    assert dominates(RECORDS[2], rec(9, 0.79, 0.84, 0.02, 0.03))
    assert not dominates(RECORDS[2], RECORDS[2])


RULE_CASES = [SelectionRule('best_acc'), SelectionRule('tolerance', acc_tolerance=0.05),
              SelectionRule('fairgnn', min_acc=0.5, min_auc=0.5), SelectionRule('pareto'),
              SelectionRule('dp_budget', max_dp=0.3), SelectionRule('dp_budget', max_dp=0.0),
              SelectionRule('last')]


@pytest.mark.parametrize('seed', range(20))
@pytest.mark.parametrize('rule', RULE_CASES, ids=lambda r: r.describe().split(':')[0])
def test_archive_keeps_every_possible_winner(seed, rule):
    rng = random.Random(seed)
    archive = ParetoArchive(rule)
    for epoch in range(1, 200):
        r = rec(epoch, *(round(rng.random(), 2) for _ in range(4)))  # rounding makes ties
        archive.add(r, {'epoch': epoch})
    winner = rule.select(archive.records)
    record, state = archive.best()
    assert record['epoch'] == winner and state == {'epoch': winner}
    assert len(archive) < 199


def test_archive_checkpoint_resumes_the_same_selection():
    rng = random.Random(0)
    records = [rec(e, *(round(rng.random(), 2) for _ in range(4))) for e in range(1, 101)]
    whole = ParetoArchive(SelectionRule('fairgnn', min_acc=0.3, min_auc=0.3))
    for r in records:
        whole.add(r, {'w': torch.tensor([float(r['epoch'])])})
    first = ParetoArchive(SelectionRule('fairgnn', min_acc=0.3, min_auc=0.3))
    for r in records[:50]:
        first.add(r, {'w': torch.tensor([float(r['epoch'])])})
    buffer = io.BytesIO()
    torch.save(first.state_dict(), buffer)  # as a checkpoint holds it
    buffer.seek(0)
    resumed = ParetoArchive()
    resumed.load_state_dict(torch.load(buffer, weights_only=True))
    for r in records[50:]:
        resumed.add(r, {'w': torch.tensor([float(r['epoch'])])})
    (got, got_state), (want, want_state) = resumed.best(), whole.best()
    assert got == want and torch.equal(got_state['w'], want_state['w'])
    assert resumed.records == whole.records


def test_archive_names_a_record_without_metrics():
    with pytest.raises(ValueError, match='lacks dp, eo'):
        ParetoArchive().add({'epoch': 1, 'acc': 0.5, 'auc': 0.5}, {})


def test_fairgnn_rule_is_fairgnns_code():
    """FairGNN's script: val ACC > acc and val AUC > roc (strictly), then the first epoch
    whose val ΔDP + ΔEO is smaller than every earlier qualifying one's — even when a later
    epoch ties it with better accuracy (and so dominates it)."""
    records = [rec(1, 0.70, 0.90, 0.00, 0.00),    # at the ACC threshold: not above it
               rec(2, 0.71, 0.77, 0.05, 0.05),
               rec(3, 0.72, 0.78, 0.02, 0.03),    # first with the smallest ΔDP + ΔEO
               rec(4, 0.80, 0.85, 0.02, 0.03),    # ties it later, dominating it
               rec(5, 0.90, 0.76, 0.00, 0.00)]    # at the AUC threshold: not above it
    rule = SelectionRule('fairgnn', min_acc=0.70, min_auc=0.76)
    assert rule.select(records) == 3
    assert [rule.may_win(r, records[:i]) for i, r in enumerate(records)] == [
        False, True, True, False, False]
    assert dominates(records[3], records[2])
    assert not rule.falls_back(records) and SelectionRule(
        'fairgnn', min_acc=0.95).falls_back(records)


def test_tolerance_holds_auc_near_its_best():
    records = [rec(1, 0.80, 0.70, 0.00, 0.00),   # accurate, fair, ranks badly
               rec(2, 0.795, 0.90, 0.05, 0.05),
               rec(3, 0.79, 0.91, 0.10, 0.10)]
    assert SelectionRule('tolerance', acc_tolerance=0.02, auc_tolerance=1.0).select(records) == 1
    assert SelectionRule('tolerance', acc_tolerance=0.02, auc_tolerance=0.02).select(records) == 2
    # no epoch within both tolerances: the most accurate among those that rank well
    assert SelectionRule('tolerance', acc_tolerance=0.0, auc_tolerance=0.005).select(records) == 3


def test_tolerance_sets_one_class_predictors_aside():
    constant = dict(rec(1, 0.70, 0.62, 0.0, 0.0), positive_rate=0.01)
    real = dict(rec(2, 0.66, 0.61, 0.08, 0.10), positive_rate=0.15)
    assert SelectionRule('tolerance').select([constant, real]) == 2
    assert SelectionRule('best_acc').select([constant, real]) == 1
    # when every epoch predicts one class, one of them is still selected
    assert SelectionRule('tolerance').select([constant]) == 1
    # the archive keeps the two-class epoch although the constant one is better everywhere
    archive = ParetoArchive()
    archive.add(constant, {'epoch': 1})
    archive.add(real, {'epoch': 2})
    assert archive.snapshot(2) == {'epoch': 2}


def test_default_selection_avoids_one_class_models_on_a_weak_signal_graph():
    # 30 % positives and a feature signal too weak to beat the majority rate: before the
    # default rule set one-class predictors aside, it picked them on half of these seeds.
    import fairgnn_bilevel as fb
    from fairgnn_bilevel.train.selection import predicts_one_class
    from graph_data import fair_sbm
    for seed in range(4):
        data = fair_sbm(num_nodes=1000, positive_rate=0.3, label_signal=0.15,
                        label_homophily=1.2, sens_homophily=2.0, seed=seed)
        result = fb.fit(data, progress=False)
        assert not predicts_one_class(result.val), (seed, result.val)
        assert not result.warnings


def test_a_one_class_selection_is_reported():
    import fairgnn_bilevel as fb
    from graph_data import fair_sbm
    data = fair_sbm(num_nodes=600, positive_rate=0.04, label_gap=0.02, label_signal=0.05,
                    seed=0)
    with pytest.warns(UserWarning, match='predicts one class for'):
        result = fb.fit(data, epochs=20, progress=False)
    assert len(result.warnings) == 1 and 'validation rows' in result.warnings[0]


def test_archive_snapshots_do_not_follow_later_steps():
    # the loop adds model.state_dict(), whose tensors share the parameters' storage
    model = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.BatchNorm1d(2))
    archive = ParetoArchive()
    archive.add({'epoch': 1, 'acc': 0.9, 'auc': 0.9, 'dp': 0.0, 'eo': 0.0}, model.state_dict())
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
    model[1].num_batches_tracked += 5
    _, state = archive.best()
    assert type(state) is type(model.state_dict())
    assert state._metadata == model.state_dict()._metadata
    assert all(torch.equal(state[k], before[k]) for k in before)
    fresh = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.BatchNorm1d(2))
    fresh.load_state_dict(state)
    assert all(torch.equal(fresh.state_dict()[k], before[k]) for k in before)
    # anything but a mapping of tensors is deep-copied
    mixed = {'weights': [torch.zeros(2)], 'step': 3}
    archive = ParetoArchive()
    archive.add({'epoch': 1, 'acc': 0.9, 'auc': 0.9, 'dp': 0.0, 'eo': 0.0}, mixed)
    mixed['weights'][0] += 1
    assert torch.equal(archive.best()[1]['weights'][0], torch.zeros(2))
