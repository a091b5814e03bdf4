"""Uncertainty over seeds: Student-t intervals of a mean and of paired per-seed differences.

With a handful of seeds and small test sets, a difference between two methods means
something only if its interval excludes zero; :func:`paired_difference` pairs the runs of
two methods by seed (same split, same initialisation seed) and says so in plain words.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Dict, Sequence

import numpy as np
from scipy import stats

__all__ = ['Interval', 'mean_interval', 'paired_difference', 'describe_difference',
           'paired_comparisons', 'split_variance']


@dataclass(frozen=True)
class Interval:
    """A mean over ``n`` values with its two-sided confidence interval (``nan`` for one)."""

    mean: float
    low: float
    high: float
    n: int

    @property
    def excludes_zero(self) -> bool:
        return self.low > 0 or self.high < 0


def mean_interval(values: Sequence[float], confidence: float = 0.95) -> Interval:
    """The mean of ``values`` and its Student-t interval (n − 1 degrees of freedom)."""
    data = np.asarray(values, dtype=float)
    if data.size == 0:
        raise ValueError('no values: an interval needs at least one run')
    mean = float(data.mean())
    if data.size == 1:
        return Interval(mean, math.nan, math.nan, 1)
    half = stats.t.ppf((1 + confidence) / 2, data.size - 1) * data.std(ddof=1) / math.sqrt(
        data.size)
    return Interval(mean, mean - float(half), mean + float(half), int(data.size))


def paired_difference(a: Dict[int, float], b: Dict[int, float],
                      confidence: float = 0.95) -> Interval:
    """The mean of ``a[seed] - b[seed]`` over the seeds both hold, with its interval.

    Raises:
        ValueError: if the two share no seed.
    """
    seeds = sorted(set(a) & set(b))
    if not seeds:
        raise ValueError('the two methods share no seed; paired differences need the same seeds')
    return mean_interval([a[s] - b[s] for s in seeds], confidence)


def describe_difference(first: str, second: str, metric: str, interval: Interval, *,
                        scale: float = 100.0, digits: int = 2) -> str:
    """``"first − second metric: mean [low, high] — verdict"``, values times ``scale``
    (percentage points by default) with ``digits`` decimals."""
    name = f'{first} − {second} {metric}'
    value = lambda v: f'{scale * v:+.{digits}f}'  # noqa: E731
    if interval.n < 2:
        return f'{name}: {value(interval.mean)} (one seed: no interval)'
    verdict = ('no difference detected' if not interval.excludes_zero else
               f'{first} lower' if interval.high < 0 else f'{first} higher')
    return (f'{name}: {value(interval.mean)} [{value(interval.low)}, {value(interval.high)}] '
            f'— {verdict}')


def paired_comparisons(runs: Sequence[dict], pairs: Sequence[tuple], *, key: str = 'row',
                       metrics: Sequence[tuple] = (('acc', 'ACC'), ('dp', 'ΔDP'))) -> list:
    """One line per (first, second) pair of ``runs[key]`` values and metric: the paired
    difference of the test metric with its 95 % interval and verdict, runs paired by seed
    and, where runs record one, split seed (``split_seed``)."""
    by = {}
    for run in runs:
        by.setdefault(run[key], {})[(run.get('split_seed'), run['seed'])] = run['test']
    lines = []
    for first, second in pairs:
        if first in by and second in by:
            for metric, label in metrics:
                interval = paired_difference({s: t[metric] for s, t in by[first].items()},
                                             {s: t[metric] for s, t in by[second].items()})
                lines.append(describe_difference(first, second, label, interval))
    return lines


def split_variance(runs: Sequence[dict], metric: str) -> tuple:
    """How the spread of a test metric over runs on several splits divides between the
    split and the seed: ``(std of the split means, pooled std over seeds within a split
    (the root of the mean within-split variance), share of the variance that is the
    split's)``.

    The share is the one-way random-effects estimate: with ``n`` seeds per split, the
    split component is ``max(0, (n · var(split means) − mean within-split var) / n)``
    (``var`` with ``n − 1``), its share that component over itself plus the within-split
    variance; ``nan`` with one seed per split (seed and split cannot be told apart).
    Runs are grouped by ``split_seed``.
    """
    groups: Dict[object, list] = {}
    for run in runs:
        groups.setdefault(run.get('split_seed'), []).append(run['test'][metric])
    if len(groups) < 2:
        raise ValueError('the runs come from one split; the split variance needs two or more')
    values = [np.asarray(v, dtype=float) for v in groups.values()]
    means = np.array([v.mean() for v in values])
    between = float(means.std(ddof=1))
    sizes = np.array([len(v) for v in values])
    if sizes.min() < 2:
        return between, math.nan, math.nan
    within_var = float(np.mean([v.var(ddof=1) for v in values]))
    n = float(sizes.mean())
    split_var = max(0.0, (n * between ** 2 - within_var) / n)
    total = split_var + within_var
    return between, math.sqrt(within_var), split_var / total if total > 0 else 0.0
