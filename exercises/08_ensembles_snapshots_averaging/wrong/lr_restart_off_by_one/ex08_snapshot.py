"""PLAUSIBLE WRONG SUBMISSION 'lr_restart_off_by_one' (selfcheck requires it to lose points).

Mistake: uses mod(t, c) instead of mod(t - 1, c), so every restart comes one step early.

Exercise 08 (part 1): the cyclic cosine schedule of snapshot ensembles, and when to take the snapshots.

Chapter 08 ("Model ensembles, snapshots and averaging"), section 4, explains both. Do not import
``minilib.ensembles.snapshot``: you are writing it. Steps are counted from 1 (the first mini-batch is
``t = 1``), ``T`` is the total number of steps and ``M`` the number of cycles.
"""

from __future__ import annotations

import math


def cyclic_cosine_lr(t: int, total_steps: int, n_cycles: int, lr0: float) -> float:
    """The learning rate of step ``t`` (Huang et al. 2017, Eq. 2).

    ``alpha(t) = lr0 / 2 * (cos(pi * mod(t - 1, c) / c) + 1)`` with ``c = ceil(T / M)``. Raise
    ``ValueError`` if ``t`` is not in ``1..T``.

    >>> cyclic_cosine_lr(1, 100, 4, 0.1), cyclic_cosine_lr(26, 100, 4, 0.1)
    (0.1, 0.1)
    """
    ### BEGIN SOLUTION
    if not 1 <= t <= total_steps:
        raise ValueError(f"t must be in 1..{total_steps}, got {t}")
    c = math.ceil(total_steps / n_cycles)
    return lr0 / 2 * (math.cos(math.pi * (t % c) / c) + 1)
    ### END SOLUTION


def snapshot_steps(total_steps: int, n_cycles: int) -> list[int]:
    """The steps after which a snapshot is taken: the last step of every cycle, in increasing order.

    Cycles have ``c = ceil(T / M)`` steps, so the cycle ends are ``c, 2c, ...`` below ``T``, and ``T``
    itself (the last cycle may be shorter). ``snapshot_steps(10, 4) == [3, 6, 9, 10]``.
    """
    ### BEGIN SOLUTION
    c = math.ceil(total_steps / n_cycles)
    return sorted(set(range(c, total_steps + 1, c)) | {total_steps})
    ### END SOLUTION
