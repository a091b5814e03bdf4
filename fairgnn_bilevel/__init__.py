"""fairgnn-bilevel: FairBiNN (bilevel fairness) for PyTorch Geometric node classification."""
from . import losses, metrics
from .api import FitResult, fit, fit_tabular
from .config import Config, ConfigError, load_config
from .metrics import (accuracy, demographic_parity_difference, equal_opportunity_difference,
                      equalized_odds_difference, roc_auc)
from .nn import FairBiNNGNN, FairnessBlock, follower_parameters, leader_parameters
from .train.strategies import (METHODS, STRATEGIES, FirstOrderBilevel, Lagrangian, Reference,
                               UnrolledBilevel, Vanilla, make_strategy)

__version__ = '0.1.0'

__all__ = ['fit', 'fit_tabular', 'FitResult', 'Config', 'ConfigError', 'load_config', 'FairBiNNGNN',
           'FairnessBlock', 'follower_parameters', 'leader_parameters', 'Vanilla',
           'Lagrangian', 'FirstOrderBilevel', 'UnrolledBilevel', 'Reference', 'STRATEGIES',
           'METHODS', 'make_strategy', 'accuracy', 'roc_auc',
           'demographic_parity_difference', 'equal_opportunity_difference',
           'equalized_odds_difference', 'metrics', 'losses']
