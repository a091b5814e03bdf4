"""Training: strategies (one update each), tasks, the shared loop, selection.

The engine that ties them to a config is :mod:`fairgnn_bilevel.train.engine` (imported on
its own: it reads the config, which reads the registries here)."""
from .loop import LoopResult, run_epochs, seed_everything
from .selection import RULES, ParetoArchive, SelectionRule
from .strategies import (METHODS, STRATEGIES, FirstOrderBilevel, Lagrangian, Reference,
                         Strategy, TrainBatch, UnrolledBilevel, Vanilla, make_strategy)

__all__ = ['run_epochs', 'seed_everything', 'LoopResult', 'RULES',
           'SelectionRule', 'ParetoArchive', 'Strategy', 'TrainBatch', 'Vanilla',
           'Lagrangian', 'FirstOrderBilevel', 'UnrolledBilevel', 'Reference', 'STRATEGIES',
           'make_strategy', 'METHODS']
