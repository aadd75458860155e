"""Regularized (aging) evolution: Algorithm 1 of Real, Aggarwal, Huang & Le (AAAI 2019).

The search keeps a *population* of P trained models and repeats one cycle::

    population = P random models (trained)                      # a queue, oldest first
    repeat:
        sample  = S models drawn from the population WITH replacement
        parent  = the best model of the sample                  # a tournament
        child   = mutate(parent)                                # one edge, another operation
        train and evaluate the child
        population.append(child)
        population.popleft()                                    # remove the OLDEST, not the worst

Removing the oldest ("aging") is the regularization: a model stays in the population only
as long as P younger models have not pushed it out, so an architecture survives only if its
*children* keep winning tournaments, which favours architectures that train well again and
again over lucky single evaluations. ``aging=False`` removes the worst model instead: the
non-aging tournament evolution the paper compares against.

The searcher speaks ask/tell (``minilib.study``), so ``minilib.minimize`` runs Algorithm 1
as written, and ``minilib.hpo.parallel`` runs the paper's distributed version: a free worker
asks for a child as soon as it is idle and draws its tournament from the population *as it
is at that moment*; children join the population when their results come back, in that order,
and the oldest member leaves. Until P models have been asked the workers train random models;
if a worker asks before any result is back it waits (``ask`` returns ``None``). A failed model
never joins the population (if every model so far failed, the next one is random again).

Mutation is ``Space.mutate``: one dimension, chosen uniformly, moves to a neighbouring value
(for a ``Choice``, another option uniformly). So the searcher runs on any ``Space``: NAS cells
(``minilib.nas.space``), bit strings (the paper's Appendix C toy) or hyperparameters.
Chapter 05 ("NAS: search spaces and evolution") explains it.
"""

from __future__ import annotations

from collections import deque

from minilib.space import Space
from minilib.study import Searcher, Trial


class RegularizedEvolution(Searcher):
    """Aging evolution with population size ``P = population_size`` and tournament size
    ``S = sample_size`` (Real et al. 2019, Algorithm 1; they use P = 100, S = 25 on CIFAR-10;
    NAS-Bench-201 uses P = 10, S = 3).

    ``population`` is a ``deque`` of finished trials, oldest first. Searchers minimise: the
    tournament's winner has the smallest value (use ``minilib.maximize`` for accuracies).
    A failed trial (an exception or a NaN) never enters the population.
    """

    def __init__(self, space: Space, population_size: int = 10, sample_size: int = 3, aging: bool = True,
                 seed: int | None = None):
        super().__init__(space, seed)
        if isinstance(population_size, bool) or not isinstance(population_size, int) or population_size < 1:
            raise ValueError(f"population_size must be a positive integer, got {population_size!r}")
        if isinstance(sample_size, bool) or not isinstance(sample_size, int) or not 1 <= sample_size <= population_size:
            raise ValueError(f"sample_size must be an integer in [1, population_size={population_size}], "
                             f"got {sample_size!r}")
        self.population_size = population_size
        self.sample_size = sample_size
        self.aging = aging
        self.population: deque[Trial] = deque()

    def ask(self) -> Trial | None:
        # 1) the initial population: P random models
        if len(self.trials) < self.population_size:
            return self._new_trial(self.space.sample(1, rng=self.rng)[0], kind="random")
        if not self.population:
            if self.pending_trials:
                return None                   # every model so far is still training: wait for one
            return self._new_trial(self.space.sample(1, rng=self.rng)[0], kind="random")  # all failed
        # 2) a tournament: S draws with replacement; the best (smallest value) is the parent
        draws = self.rng.integers(len(self.population), size=self.sample_size)
        parent = min((self.population[int(k)] for k in draws), key=lambda t: t.value)
        # 3) the child: the parent with one dimension mutated
        child = self.space.mutate(parent.config, self.rng)
        return self._new_trial(child, kind="child", parent=parent.number)

    def tell(self, trial: Trial, value: float | None, error: str | None = None) -> Trial:
        super().tell(trial, value, error)
        if trial.ok:
            # 4) the child joins the population ...
            self.population.append(trial)
            # 5) ... and, once it holds more than P, the oldest (aging) or the worst model dies
            if len(self.population) > self.population_size:
                if self.aging:
                    self.population.popleft()
                else:
                    worst = max(range(len(self.population)), key=lambda k: self.population[k].value)
                    del self.population[worst]        # the first (oldest) of equally bad ones
        return trial


def population_diversity(configs: list[dict]) -> float:
    """Mean Hamming distance between the members of a population: over all pairs, the number of
    dimensions (cell edges) on which the two configs differ. 0 when every member is the same;
    about 6 x 4/5 = 4.8 for random cells of the 5-operation space."""
    if len(configs) < 2:
        return 0.0
    names = list(configs[0])
    distances = [sum(a[n] != b[n] for n in names) for k, a in enumerate(configs) for b in configs[k + 1:]]
    return float(sum(distances) / len(distances))
