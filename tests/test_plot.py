"""Trade-off fronts, hypervolume and the PNG plot."""
import matplotlib.image
import pytest

from fairgnn_bilevel.plot import hypervolume, plot_fronts, tradeoff_front


def test_pareto_front_and_hypervolume_by_hand():
    points = [(0.10, 0.80), (0.05, 0.75), (0.20, 0.85), (0.12, 0.78), (0.05, 0.70)]
    assert tradeoff_front(points) == [(0.05, 0.75), (0.10, 0.80), (0.20, 0.85)]
    # reference (0.20, 0.70): strips [0.05,0.10)x0.05 + [0.10,0.20)x0.10 + 0
    assert hypervolume(points, (0.20, 0.70)) == pytest.approx(0.05 * 0.05 + 0.10 * 0.10)
    assert hypervolume([(0.05, 0.75)], (0.20, 0.70)) < hypervolume(points, (0.20, 0.70))


def test_plot_is_a_readable_png(tmp_path):
    plot_fronts({'bilevel': [(0.01, 0.8, 'η=1'), (0.05, 0.85, 'η=2')],
                 'lagrangian': [(0.02, 0.79, 'λ=1')]}, tmp_path / 'p.png', 'title')
    image = matplotlib.image.imread(tmp_path / 'p.png')
    assert image.shape[0] > 300 and image.shape[1] > 400
