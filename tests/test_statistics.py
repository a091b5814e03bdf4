"""Intervals over seeds, checked against scipy.stats on fixed numbers."""
import math

import numpy as np
import pytest
from scipy import stats

from fairgnn_bilevel.statistics import (describe_difference, mean_interval, paired_comparisons,
                                        paired_difference)

VALUES = [0.71, 0.74, 0.69, 0.75, 0.72, 0.70, 0.73]


def test_mean_interval_is_scipys_student_t_interval():
    got = mean_interval(VALUES)
    low, high = stats.t.interval(0.95, len(VALUES) - 1, loc=np.mean(VALUES),
                                 scale=stats.sem(VALUES))
    assert (got.mean, got.low, got.high, got.n) == pytest.approx((np.mean(VALUES), low, high, 7))
    wider = mean_interval(VALUES, confidence=0.99)
    assert wider.low < got.low and wider.high > got.high


def test_paired_difference_is_scipys_paired_t_interval():
    a = {0: 0.031, 1: 0.012, 2: 0.044, 3: 0.020, 4: 0.027}
    b = {0: 0.050, 1: 0.049, 2: 0.061, 3: 0.018, 4: 0.055, 9: 0.5}   # seed 9 has no pair
    got = paired_difference(a, b)
    seeds = sorted(a)
    expected = stats.ttest_rel([a[s] for s in seeds], [b[s] for s in seeds]).confidence_interval()
    assert (got.low, got.high) == pytest.approx((expected.low, expected.high))
    assert got.n == 5 and got.excludes_zero and got.high < 0


def test_verdicts_in_plain_words():
    lower = paired_difference({0: 0.01, 1: 0.02, 2: 0.015}, {0: 0.05, 1: 0.06, 2: 0.055})
    assert describe_difference('FairBiNN', 'vanilla', 'ΔDP', lower).endswith('— FairBiNN lower')
    unclear = paired_difference({0: 0.01, 1: 0.06, 2: 0.03}, {0: 0.05, 1: 0.02, 2: 0.035})
    text = describe_difference('FairBiNN', 'Lagrangian', 'ΔDP', unclear)
    assert text.startswith('FairBiNN − Lagrangian ΔDP: ') and text.endswith(
        '— no difference detected')
    assert 'one seed' in describe_difference('a', 'b', 'ACC', mean_interval([0.1]))
    assert math.isnan(mean_interval([0.3]).low)
    with pytest.raises(ValueError, match='share no seed'):
        paired_difference({0: 1.0}, {1: 1.0})


def test_paired_comparisons_pair_runs_by_seed():
    runs = [{'row': row, 'seed': seed, 'test': {'acc': acc, 'dp': dp}}
            for row, values in (('fair', [(0.80, 0.01), (0.79, 0.02), (0.81, 0.015)]),
                                ('plain', [(0.81, 0.05), (0.80, 0.06), (0.80, 0.055)]))
            for seed, (acc, dp) in enumerate(values)]
    lines = paired_comparisons(runs, [('fair', 'plain'), ('fair', 'absent')])
    assert len(lines) == 2
    assert lines[0].startswith('fair − plain ACC: -0.33 [')
    assert lines[1].startswith('fair − plain ΔDP: -4.00 [') and lines[1].endswith('fair lower')


def test_split_variance_separates_split_from_seed_by_hand():
    from fairgnn_bilevel.statistics import split_variance
    # two splits of three seeds: means 0.5 and 0.7, within-split values ±0.1 around them
    values = {0: [0.4, 0.5, 0.6], 1: [0.6, 0.7, 0.8]}
    runs = [{'split_seed': s, 'seed': i, 'test': {'acc': v}}
            for s, vs in values.items() for i, v in enumerate(vs)]
    between, within, share = split_variance(runs, 'acc')
    # var of means = 0.02 (ddof 1); within var = 0.01; split component = (3·0.02 − 0.01)/3
    assert between == pytest.approx(0.02 ** 0.5) and within == pytest.approx(0.1)
    assert share == pytest.approx((0.05 / 3) / (0.05 / 3 + 0.01))
    one_seed = [r for r in runs if r['seed'] == 0]
    assert math.isnan(split_variance(one_seed, 'acc')[2])
    with pytest.raises(ValueError, match='one split'):
        split_variance([r for r in runs if r['split_seed'] == 0], 'acc')


def test_paired_comparisons_pair_by_split_and_seed():
    from fairgnn_bilevel.statistics import paired_comparisons
    runs = [{'row': row, 'split_seed': s, 'seed': 0, 'test': {'acc': acc, 'dp': 0.0}}
            for row, s, acc in (('a', 0, 0.9), ('a', 1, 0.5), ('b', 0, 0.8), ('b', 1, 0.4))]
    line = paired_comparisons(runs, [('a', 'b')], metrics=(('acc', 'ACC'),))[0]
    assert line.startswith('a − b ACC: +10.00')  # two pairs, both +0.1 (seed 0 alone: one)
