"""Hyperparameter optimisation algorithms, one module each.

Every searcher speaks the ask/tell protocol of ``minilib.study``; ``SEARCHERS`` maps
the names accepted by ``minilib.minimize(..., searcher="name")`` to their classes.
"""

from minilib.hpo.grid import GridSearch
from minilib.hpo.random import RandomSearch

SEARCHERS = {
    "grid": GridSearch,
    "random": RandomSearch,
}

__all__ = ["GridSearch", "RandomSearch", "SEARCHERS"]
