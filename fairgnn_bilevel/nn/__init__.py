"""Model layers: the fairness block (follower) and the models that hold it."""
from .classifier import BilevelModel, FairBiNNGNN
from .encoders import ENCODERS, GATEncoder, GCNEncoder, GraphEncoder
from .group_estimator import GroupEstimator
from .fairness_block import FairnessBlock, follower_parameters, leader_parameters
from .mlp import FairBiNNMLP

__all__ = ['FairnessBlock', 'follower_parameters', 'leader_parameters', 'BilevelModel',
           'FairBiNNGNN', 'FairBiNNMLP', 'GraphEncoder', 'GCNEncoder', 'GATEncoder',
           'ENCODERS', 'GroupEstimator']
