"""Graph datasets for fair node classification: loaders, split protocols, synthetic graphs."""
from .splits import masks_from_indices, stratified_split
from .synthetic import fair_sbm

DATASETS: tuple = ()

__all__ = ['fair_sbm', 'stratified_split', 'masks_from_indices', 'DATASETS']
