"""PLAUSIBLE WRONG SUBMISSION 'search_stops_at_a_crash' (selfcheck requires it to lose points).

Mistake: lets an exception of the objective escape instead of recording a failed trial.

Exercise 01 (part 2): the ask/tell loop that drives every searcher, and the any-time curve.

Chapter 01 ("Grid and random search") shows the loop and the best-so-far curve. You write both.
Do not import ``minilib.study`` (its ``minimize`` is this loop), ``minilib.plot``, ``minilib.hpo.random``
or ``minilib.hpo.grid``: the searcher is given to you as an argument.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np


def run_search(objective: Callable[[dict], float], searcher: Any, n_trials: int) -> tuple[dict, float, list[float]]:
    """Minimise ``objective`` with ``searcher`` for at most ``n_trials`` evaluations (the ask/tell loop).

    ``searcher`` follows ``minilib``'s protocol: ``trial = searcher.ask()`` returns a trial (use
    ``trial.config``) or ``None`` when it has nothing left to propose (then stop early);
    ``searcher.tell(trial, value)`` reports a result, ``searcher.tell(trial, math.nan, error=message)``
    a failure. Evaluate ``objective(trial.config)``; if it raises an ``Exception``, tell the searcher
    the failure (with the exception's text as ``error``) and go on with the next trial.

    Return ``(best_config, best_value, values)``: ``values[i]`` is trial ``i``'s value as a float (NaN
    for a failed trial, and for a value that is not finite), and the best is the smallest finite value
    (the earliest trial on a tie). Raise ``ValueError`` if no trial succeeded.
    """
    ### BEGIN SOLUTION
    values: list[float] = []
    best_config, best_value = None, math.inf
    while len(values) < n_trials:
        trial = searcher.ask()
        if trial is None:
            break
        value = float(objective(trial.config))
        searcher.tell(trial, value)
        if not math.isfinite(value):
            value = math.nan
        values.append(value)
        if math.isfinite(value) and value < best_value:
            best_config, best_value = trial.config, value
    if best_config is None:
        raise ValueError(f"no successful trial among {len(values)}")
    return best_config, best_value, values
    ### END SOLUTION


def best_so_far(values: list[float] | np.ndarray, maximize: bool = False) -> np.ndarray:
    """The any-time curve: element ``i`` is the best of ``values[0..i]``, skipping NaNs (failed trials).

    Best means smallest, or largest with ``maximize=True``. Before the first non-NaN value the curve is
    NaN. Return a float array of the same length as ``values``.

    >>> best_so_far([3.0, float("nan"), 1.0, 2.0])
    array([3., 3., 1., 1.])
    """
    ### BEGIN SOLUTION
    curve = np.full(len(values), np.nan)
    best = math.nan
    for i, value in enumerate(np.asarray(values, dtype=float)):
        if not math.isnan(value) and (math.isnan(best) or (value > best if maximize else value < best)):
            best = value
        curve[i] = best
    return curve
    ### END SOLUTION
