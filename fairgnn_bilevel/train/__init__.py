"""Training: strategies (one update each), the shared loop, and model selection."""
from .loop import LoopResult, run_epochs, seed_everything
from .selection import ParetoArchive, SelectionRule
from .strategies import (METHODS, Bilevel, Lagrangian, Reference, Strategy, TrainBatch,
                         Vanilla, make_strategy)

__all__ = ['run_epochs', 'seed_everything', 'LoopResult', 'SelectionRule', 'ParetoArchive',
           'Strategy', 'TrainBatch', 'Vanilla', 'Lagrangian', 'Bilevel', 'Reference',
           'make_strategy', 'METHODS']
