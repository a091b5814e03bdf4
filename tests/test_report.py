"""Summary tables over seeds: mean, sample std and the 95 % interval of the mean."""
import pytest
from scipy import stats

from fairgnn_bilevel.report import format_table, summarize


def test_summary_table_mean_sample_std_and_interval():
    runs = [{'dataset': 'd', 'method': 'm', 'test': {'acc': a, 'auc': 0.5, 'dp': 0.1, 'eo': 0.0}}
            for a in (0.7, 0.8, 0.9)]
    row = summarize(runs)[0]
    low, high = stats.t.interval(0.95, 2, loc=0.8, scale=0.1 / 3 ** 0.5)
    assert row['acc'] == pytest.approx((0.8, 0.1, low, high))
    assert (f'| m | 3 | 80.00 ± 10.00 [{100 * low:.2f}, {100 * high:.2f}] | '
            '50.00 ± 0.00 [50.00, 50.00] |') in format_table([row])


def test_one_run_has_no_spread_and_no_interval():
    runs = [{'dataset': 'd', 'method': 'm', 'test': {'acc': 0.7, 'auc': 0.5, 'dp': 0.1,
                                                      'eo': 0.0}}]
    assert '| m | 1 | 70.00 ± – | 50.00 ± – | 10.00 ± – | 0.00 ± – |' in format_table(
        summarize(runs))


def test_f1_and_positive_rate_are_shown_where_every_run_has_them():
    base = {'acc': 0.8, 'auc': 0.5, 'dp': 0.0, 'eo': 0.0}
    runs = [{'dataset': 'd', 'method': 'm', 'test': {**base, 'f1': 0.0, 'positive_rate': 1.0}},
            {'dataset': 'd', 'method': 'm', 'test': {**base, 'f1': 0.5, 'positive_rate': 0.5}}]
    table = format_table(summarize(runs))
    assert table.splitlines()[0] == '| method | runs | ACC | AUC | ΔDP | ΔEO | F1 | pos. rate |'
    assert '| 25.00 ± 35.36' in table and '| 75.00 ± 35.36' in table
    # a multi-class run records no positive rate: the column is left out, F1 stays
    runs[1]['test'].pop('positive_rate')
    assert format_table(summarize(runs)).splitlines()[0].endswith('| ΔEO | F1 |')
