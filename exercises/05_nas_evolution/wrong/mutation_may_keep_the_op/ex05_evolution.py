"""Exercise 05 (part 2): Real et al.'s mutation, one cycle of aging evolution, and the whole search.

Chapter 05 ("NAS: search spaces and evolution") explains Algorithm 1 of Real, Aggarwal, Huang & Le
(AAAI 2019). Do not import ``minilib.nas.evolution``: you are writing it. A population is a list of
``(cell, value)`` pairs, **oldest first**; values are validation *errors* (smaller is better).
"""

from __future__ import annotations

import numpy as np

OPS = ("none", "skip", "conv1", "conv3", "avgpool")
EDGES = ("0->1", "0->2", "1->2", "0->3", "1->3", "2->3")


def mutate(cell: dict[str, str], rng: np.random.Generator) -> dict[str, str]:
    """A copy of ``cell`` with one edge's operation replaced by a *different* one.

    The random draws, in this order (so a test can replay them): the edge is
    ``EDGES[rng.integers(6)]``; the new operation is ``others[rng.integers(4)]`` where ``others``
    lists the four operations of ``OPS`` other than the edge's current one, in the order of ``OPS``.
    The input must not change.
    """
    ### BEGIN SOLUTION
    child = dict(cell)
    edge = EDGES[int(rng.integers(len(EDGES)))]
    child[edge] = OPS[int(rng.integers(len(OPS)))]
    return child
    ### END SOLUTION


def tournament(population: list[tuple[dict, float]], sample_size: int, rng: np.random.Generator) -> int:
    """Index (in ``population``) of the parent: draw ``sample_size`` indices *with replacement* by
    one call ``rng.integers(len(population), size=sample_size)`` and return the drawn index whose
    value is smallest (on a tie, the one drawn first)."""
    ### BEGIN SOLUTION
    draws = rng.integers(len(population), size=sample_size)
    return int(min(draws, key=lambda k: population[int(k)][1]))
    ### END SOLUTION


def add_child(population: list[tuple[dict, float]], child: tuple[dict, float], population_size: int,
              aging: bool = True) -> list[tuple[dict, float]]:
    """A new list: ``population`` with ``child`` appended and, if it then holds more than
    ``population_size`` models, one removed: the **oldest** (the first) with ``aging=True``, the
    worst (largest value; the oldest of equally bad ones) with ``aging=False``. The input list must
    not change."""
    ### BEGIN SOLUTION
    members = list(population) + [child]
    if len(members) > population_size:
        if aging:
            members.pop(0)
        else:
            worst = max(range(len(members)), key=lambda k: (members[k][1], -k))
            members.pop(worst)
    return members
    ### END SOLUTION


def regularized_evolution(objective, sample_cell, population_size: int, sample_size: int, n_models: int,
                          seed: int, aging: bool = True) -> list[tuple[dict, float]]:
    """Algorithm 1 of Real et al. (2019) for ``n_models`` evaluations; return every evaluated
    ``(cell, value)`` in the order of evaluation (the history, not the population).

    Use one generator, ``rng = np.random.default_rng(seed)``, for every draw, in this order: the
    first ``population_size`` models are ``sample_cell(rng)`` (random cells); after that each cycle
    picks a parent with your ``tournament`` on the current population, evaluates
    ``mutate(parent, rng)`` and updates the population with your ``add_child``. ``objective(cell)``
    returns the value to minimise.
    """
    ### BEGIN SOLUTION
    rng = np.random.default_rng(seed)
    population, history = [], []
    for _ in range(n_models):
        if len(history) < population_size:
            cell = sample_cell(rng)
        else:
            parent = population[tournament(population, sample_size, rng)][0]
            cell = mutate(parent, rng)
        value = float(objective(cell))
        history.append((cell, value))
        population = add_child(population, (cell, value), population_size, aging)
    return history
    ### END SOLUTION
