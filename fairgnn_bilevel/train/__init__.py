"""Training: strategies, tasks, the loop, selection (the engine: :mod:`.engine`)."""
from .loop import LoopResult, run_epochs, seed_everything
from .selection import RULES, ParetoArchive, SelectionRule
from .strategies import (METHODS, STRATEGIES, FirstOrderBilevel, Lagrangian, Reference,
                         Strategy, TrainBatch, UnrolledBilevel, Vanilla, make_strategy)

__all__ = ['run_epochs', 'seed_everything', 'LoopResult', 'RULES',
           'SelectionRule', 'ParetoArchive', 'Strategy', 'TrainBatch', 'Vanilla',
           'Lagrangian', 'FirstOrderBilevel', 'UnrolledBilevel', 'Reference', 'STRATEGIES',
           'make_strategy', 'METHODS']
