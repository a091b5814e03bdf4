"""Accuracy-vs-ΔDP plots with one Pareto front per method (matplotlib, headless)."""
from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Sequence, Tuple

from .train.selection import pareto_front

__all__ = ['tradeoff_front', 'hypervolume', 'plot_fronts']


def tradeoff_front(points: Sequence[Tuple[float, float]]) -> List[Tuple[float, float]]:
    """The non-dominated (ΔDP, ACC) points — lower ΔDP and higher ACC are better —
    without repeats, by ΔDP."""
    return sorted(set(pareto_front(points, key=lambda p: (-p[0], p[1]))))


def hypervolume(points: Sequence[Tuple[float, float]], reference: Tuple[float, float]) -> float:
    """Area dominated by the front and bounded by ``reference`` = (worst ΔDP, worst ACC).

    A larger value is a better trade-off; comparing methods at the same reference point
    measures whether one front dominates the other.
    """
    area, best_acc = 0.0, reference[1]
    front = tradeoff_front([p for p in points if p[0] <= reference[0] and p[1] >= reference[1]])
    for i, (dp, acc) in enumerate(front):
        next_dp = front[i + 1][0] if i + 1 < len(front) else reference[0]
        best_acc = max(best_acc, acc)
        area += (next_dp - dp) * (best_acc - reference[1])
    return area


def plot_fronts(series: Dict[str, Sequence[Tuple[float, float, str]]], path: str | Path,
                title: str) -> None:
    """Scatter (ΔDP %, ACC %) per method, labelled, with its Pareto front as a step line."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6.4, 4.8), dpi=120)
    for (name, points), color in zip(series.items(), ['tab:blue', 'tab:orange', 'tab:green',
                                                      'tab:red', 'tab:purple']):
        xs, ys = [100 * p[0] for p in points], [100 * p[1] for p in points]
        ax.scatter(xs, ys, color=color, alpha=0.6, label=f'{name} runs')
        for x, y, label in zip(xs, ys, [p[2] for p in points]):
            ax.annotate(label, (x, y), fontsize=6, alpha=0.7, xytext=(3, 2),
                        textcoords='offset points')
        front = tradeoff_front([(p[0], p[1]) for p in points])
        ax.step([100 * p[0] for p in front], [100 * p[1] for p in front], where='post',
                color=color, linewidth=2, label=f'{name} Pareto front')
    ax.set_xlabel('test ΔDP (%)  — lower is fairer')
    ax.set_ylabel('test accuracy (%)')
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
