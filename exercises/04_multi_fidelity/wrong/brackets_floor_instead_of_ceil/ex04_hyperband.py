"""PLAUSIBLE WRONG SUBMISSION 'brackets_floor_instead_of_ceil' (selfcheck requires it to lose points).

Mistake: n = floor((s_max + 1) eta^s / (s + 1)) instead of the ceiling.

Exercise 04 (part 1): the Hyperband schedule, by hand.

Chapter 04 ("Multi-fidelity HPO") explains every formula used here. Do not import
``minilib.hpo.hyperband`` or ``minilib.hpo.successive_halving``: you are writing them.
"""

from __future__ import annotations

import math  # noqa: F401


def s_max(R: float, eta: int) -> int:
    """The largest integer ``s`` with ``eta**s <= R`` (that is, ``floor(log_eta(R))``).

    Use integer arithmetic, not ``math.log``: ``math.log(243, 3)`` is 4.999999999999999,
    so ``int(math.log(243, 3))`` gives the wrong answer 4 (the right one is 5).

    Raise ``ValueError`` if ``eta`` is not an integer >= 2 or ``R < 1``.
    """
    ### BEGIN SOLUTION
    if isinstance(eta, bool) or not isinstance(eta, int) or eta < 2:
        raise ValueError(f"eta must be an integer >= 2, got {eta!r}")
    if not R >= 1:
        raise ValueError(f"R must be >= 1, got {R!r}")
    s = 0
    while eta ** (s + 1) <= R:
        s += 1
    return s
    ### END SOLUTION


def hyperband_brackets(R: int, eta: int = 3) -> list[list[tuple[int, float]]]:
    """The brackets of one Hyperband iteration (Algorithm 1 of Li et al. 2018), largest ``s`` first.

    For ``s = s_max, ..., 0``: ``n = ceil((s_max + 1) * eta**s / (s + 1))``, ``r = R * eta**-s``,
    and the bracket is the list of rungs ``(n_i, r_i)`` with ``n_i = floor(n * eta**-i)`` and
    ``r_i = r * eta**i`` for ``i = 0..s``. Return budgets as floats or ints (``1`` == ``1.0``).

    >>> hyperband_brackets(9, 3)
    [[(9, 1.0), (3, 3.0), (1, 9.0)], [(5, 3.0), (1, 9.0)], [(3, 9.0)]]
    """
    ### BEGIN SOLUTION
    top = s_max(R, eta)
    brackets = []
    for s in range(top, -1, -1):
        n = (top + 1) * eta ** s // (s + 1)
        r = R / eta ** s
        brackets.append([(n // eta ** i, r * eta ** i) for i in range(s + 1)])
    return brackets
    ### END SOLUTION


def total_cost(brackets: list[list[tuple[int, float]]]) -> tuple[int, float]:
    """``(number of evaluations, budget units)`` of a schedule: ``sum n_i`` and ``sum n_i * r_i``.

    For R = 81, eta = 3 the answer is (206, 1902).
    """
    ### BEGIN SOLUTION
    evaluations = sum(n for bracket in brackets for n, _ in bracket)
    units = sum(n * r for bracket in brackets for n, r in bracket)
    return evaluations, units
    ### END SOLUTION
