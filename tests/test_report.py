"""Summary tables over seeds."""
import pytest

from fairgnn_bilevel.report import format_table, summarize


def test_summary_table_mean_and_sample_std():
    runs = [{'dataset': 'd', 'method': 'm', 'test': {'acc': a, 'auc': 0.5, 'dp': 0.1, 'eo': 0.0}}
            for a in (0.7, 0.8, 0.9)]
    row = summarize(runs)[0]
    assert row['acc'] == pytest.approx((0.8, 0.1))
    assert '| m | 3 | 80.00 ± 10.00 | 50.00 ± 0.00 | 10.00 ± 0.00 | 0.00 ± 0.00 |' in format_table([row])
