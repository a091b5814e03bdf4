"""Training: the runner's strategies, tasks, the epoch loop and model selection."""
from .loop import LoopResult, isolated_rng, run_epochs, seed_everything
from .selection import RULES, ParetoArchive, SelectionRule
from .strategies import (METHODS, STRATEGIES, Batch, FirstOrderBilevel, Lagrangian, Reference,
                         Strategy, UnrolledBilevel, Vanilla, make_strategy)

__all__ = ['run_epochs', 'seed_everything', 'isolated_rng', 'LoopResult', 'RULES',
           'SelectionRule', 'ParetoArchive', 'Strategy', 'Batch', 'Vanilla',
           'Lagrangian', 'FirstOrderBilevel', 'UnrolledBilevel', 'Reference', 'STRATEGIES',
           'make_strategy', 'METHODS']
