"""fairgnn-bilevel: FairBiNN (bilevel fairness) for PyTorch Geometric node classification.

The pieces for your own model and loop: :class:`FairnessBlock`, the fairness losses
(:class:`DemographicParityLoss`, :class:`EqualOpportunityLoss`, :class:`CovarianceLoss`),
the follower's moves (:class:`UnrolledFollower`, :class:`FirstOrderFollower`),
:func:`all_reduce_sum` and :class:`FairForward` for data parallel, :func:`evaluate`, and
model selection (:class:`SelectionRule`, :class:`ParetoArchive`), and a bound on the
fairness gap (:class:`FairnessBound`); :func:`fit` and the CLI are built on them.
Several classes: logits ``[n, C]`` and :func:`fairness_report`; several sensitive
attributes: :func:`intersect_groups`.
"""
from . import losses, metrics
from .api import FitResult, evaluate, fit, fit_tabular
from .bound import FairnessBound
from .collectives import all_reduce_sum
from .config import Config, ConfigError, load_config
from .followers import (FairForward, FirstOrderFollower, Follower, UnrolledFollower,
                        leader_gradients_averaged)
from .losses import (CovarianceLoss, DemographicParityLoss, EqualOpportunityLoss,
                     FairnessLoss)
from .metrics import (accuracy, demographic_parity_difference, equal_opportunity_difference,
                      equalized_odds_difference, fairness_report, roc_auc)
from .nn import FairBiNNGNN, FairnessBlock, follower_parameters, leader_parameters
from .train.graph import intersect_groups
from .train.selection import ParetoArchive, SelectionRule, SelectionWarning
from .train.strategies import METHODS

__version__ = '0.1.0'

__all__ = ['FairnessBlock', 'follower_parameters', 'leader_parameters', 'FairnessLoss',
           'DemographicParityLoss', 'EqualOpportunityLoss', 'CovarianceLoss', 'Follower',
           'UnrolledFollower', 'FirstOrderFollower', 'FairForward', 'leader_gradients_averaged',
           'FairnessBound',
           'all_reduce_sum', 'fit', 'fit_tabular',
           'evaluate', 'SelectionRule', 'ParetoArchive', 'SelectionWarning', 'FitResult',
           'Config', 'ConfigError', 'load_config', 'FairBiNNGNN', 'METHODS', 'accuracy',
           'roc_auc', 'demographic_parity_difference', 'equal_opportunity_difference',
           'equalized_odds_difference', 'fairness_report', 'intersect_groups', 'metrics',
           'losses']
