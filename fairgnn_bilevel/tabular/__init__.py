"""The tabular adapter: Adult and Heritage Health, an MLP with the fairness block, and a
scikit-learn estimator, all trained by the same strategies as the graph models."""
from ..nn.mlp import FairBiNNMLP
from ..train.table import TabularTask
from .datasets import TABULAR_DATASETS, TabularData, load_adult, load_health
from .estimator import FairBiNNClassifier

__all__ = ['FairBiNNClassifier', 'FairBiNNMLP', 'TabularTask', 'TabularData', 'load_adult',
           'load_health', 'TABULAR_DATASETS']
