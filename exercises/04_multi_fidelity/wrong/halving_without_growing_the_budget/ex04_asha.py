"""PLAUSIBLE WRONG SUBMISSION 'halving_without_growing_the_budget' (selfcheck requires it to lose points).

Mistake: the successive-halving driver never multiplies the budget by eta.

Exercise 04 (part 2): one rung of successive halving, and ASHA's promotion rule.

Chapter 04 ("Multi-fidelity HPO") explains both. Do not import ``minilib.hpo.successive_halving``
or ``minilib.hpo.asha``: you are writing them. A value of ``None`` or NaN means the
trial failed: it ranks after every finite value.
"""

from __future__ import annotations

import math


def _rank_value(value: float | None) -> float:
    """Failed results (None, NaN) rank after every number."""
    return math.inf if value is None or math.isnan(value) else value


def survivors(values: list[float | None], eta: int = 3) -> list[int]:
    """Indices of the configurations that go on to the next rung of synchronous successive halving.

    Keep the best ``floor(len(values) / eta)`` (smallest values: we minimise). Failed
    results (``None`` or NaN) rank last; ties go to the smaller index. Return the indices
    best first.

    >>> survivors([0.4, 0.1, 0.3, 0.2, 0.9, 0.5], eta=2)
    [1, 3, 2]
    """
    ### BEGIN SOLUTION
    return sorted(range(len(values)), key=lambda i: (_rank_value(values[i]), i))[: len(values) // eta]
    ### END SOLUTION


def asha_job(rungs: list[list[tuple[int, float | None]]], promoted: list[set[int]],
             eta: int = 3) -> tuple[int, int] | None:
    """ASHA's decision when a worker is free (Li et al. 2020, Algorithm 2).

    ``rungs[k]`` lists the finished results of rung ``k`` as ``(config_id, value)``;
    ``promoted[k]`` is the set of config ids already promoted *from* rung ``k``.
    Scan the rungs from the second-highest down to 0; in rung ``k`` the candidates are
    the best ``floor(len(rungs[k]) / eta)`` results (failed last, ties to the earlier
    entry in the list) that are finite and not in ``promoted[k]``. Return
    ``(k + 1, config_id)`` for the best candidate of the first rung that has one (and add
    it to ``promoted[k]``), or ``None`` if no rung has one (the caller then starts a new
    configuration in rung 0).
    """
    ### BEGIN SOLUTION
    for k in range(len(rungs) - 2, -1, -1):
        rung = rungs[k]
        top = sorted(range(len(rung)), key=lambda j: (_rank_value(rung[j][1]), j))[: len(rung) // eta]  # noqa: B023
        for j in top:
            config_id, value = rung[j]
            if value is not None and not math.isnan(value) and config_id not in promoted[k]:
                promoted[k].add(config_id)
                return k + 1, config_id
    return None
    ### END SOLUTION


def successive_halving(objective, n_configs: int, min_budget: float, eta: int = 3,
                       ) -> tuple[int, list[tuple[int, float, float | None]]]:
    """Run synchronous successive halving (Jamieson & Talwalkar 2016; Li et al. 2018, Algorithm 1's inner loop).

    Configurations are the integers ``0 .. n_configs - 1``; ``objective(config, budget)`` returns the
    value to minimise (or ``None``/NaN when the run fails). Rung 0 evaluates every configuration, in
    increasing order, at ``min_budget``. Each later rung evaluates, best first, the ``survivors`` (your
    task 4) of the rung before, at ``eta`` times its budget. Stop after the first rung that has a single
    configuration, or whose ``survivors`` are empty.

    Return ``(best, history)``: ``best`` is the best configuration of the last rung evaluated (the first
    of ``survivors(values, eta=1)``), ``history`` the list of ``(config, budget, value)`` of every call,
    in call order.
    """
    ### BEGIN SOLUTION
    alive, budget, history = list(range(n_configs)), float(min_budget), []
    while True:
        values = []
        for config in alive:
            value = objective(config, budget)
            history.append((config, budget, value))
            values.append(value)
        keep = survivors(values, eta)
        if len(alive) == 1 or not keep:
            return alive[survivors(values, 1)[0]], history
        alive = [alive[j] for j in keep]
    ### END SOLUTION
