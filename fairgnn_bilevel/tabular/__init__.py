"""The tabular adapter: Adult and Heritage Health, an MLP with the fairness block, and a
scikit-learn estimator, all trained by the same strategies as the graph models."""
from .datasets import TABULAR_DATASETS, TabularData, load_adult, load_health
from .estimator import FairBiNNClassifier
from .fit import fit_tabular
from .model import FairBiNNMLP
from .task import TabularTask

__all__ = ['FairBiNNClassifier', 'FairBiNNMLP', 'TabularTask', 'TabularData', 'load_adult',
           'load_health', 'fit_tabular', 'TABULAR_DATASETS']
