"""Hyperparameter optimisation algorithms, one module each.

Every searcher speaks the ask/tell protocol of ``minilib.study``; ``SEARCHERS`` maps
the names accepted by ``minilib.minimize(..., searcher="name")`` to their classes.
"""

from minilib.hpo.asha import ASHA
from minilib.hpo.bayesopt import BayesOpt
from minilib.hpo.bohb import BOHB
from minilib.hpo.grid import GridSearch
from minilib.hpo.hyperband import Hyperband
from minilib.hpo.random import RandomSearch
from minilib.hpo.successive_halving import SuccessiveHalving
from minilib.hpo.tpe import TPE
from minilib.nas.evolution import RegularizedEvolution

SEARCHERS = {
    "grid": GridSearch,
    "random": RandomSearch,
    "sh": SuccessiveHalving,
    "hyperband": Hyperband,
    "bohb": BOHB,
    "asha": ASHA,
    "bo": BayesOpt,
    "tpe": TPE,
    "evolution": RegularizedEvolution,
}

__all__ = ["ASHA", "BOHB", "BayesOpt", "GridSearch", "Hyperband", "RandomSearch", "RegularizedEvolution", "SEARCHERS",
           "SuccessiveHalving", "TPE"]
