"""On the embedded synthetic graph FairBiNN halves vanilla's ΔDP at similar accuracy."""
import numpy as np

from fairgnn_bilevel.config import load_config
from fairgnn_bilevel.experiment import run_seeds
from tests.conftest import ROOT


def mean_test(method):
    config = load_config(ROOT / 'configs/synthetic.yaml', [f'train.method={method}'])
    runs = run_seeds(config, 3, None, progress=False)
    return {k: np.mean([r['test'][k] for r in runs]) for k in ('acc', 'dp')}


def test_bilevel_halves_dp_at_similar_accuracy():
    vanilla, bilevel = mean_test('vanilla'), mean_test('bilevel')
    assert vanilla['dp'] > 0.04                       # the default graph is really biased
    assert bilevel['dp'] <= vanilla['dp'] / 2
    assert bilevel['acc'] >= vanilla['acc'] - 0.03
