"""PLAUSIBLE WRONG SUBMISSION 'log_uniform_is_uniform' (selfcheck requires it to lose points).

Mistake: samples uniformly in [low, high] instead of in [log low, log high].

Exercise 01 (part 1): log-uniform sampling and grids, the two ways to place trials in a search space.

Chapter 01 ("Grid and random search") explains why learning rates and widths belong on a log scale
and what a grid costs. Do not import ``minilib.space``: the tests compare your functions with it.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def log_uniform(low: float, high: float, n: int, rng: np.random.Generator) -> np.ndarray:
    """Draw ``n`` numbers whose logarithm is uniform on ``[log(low), log(high)]``.

    Use ``rng`` (a ``np.random.Generator``) for every random number, so that a seeded generator gives
    the same samples. Return a float array of shape ``(n,)`` with values in ``[low, high]``.
    Raise ``ValueError`` unless ``0 < low < high``.

    Every decade gets the same share of samples: with ``low=1e-4, high=1e-1`` about a third of the
    samples fall in each of [1e-4, 1e-3], [1e-3, 1e-2] and [1e-2, 1e-1].
    """
    ### BEGIN SOLUTION
    if not 0 < low < high:
        raise ValueError(f"need 0 < low < high, got low={low!r}, high={high!r}")
    return rng.uniform(low, high, size=n)
    ### END SOLUTION


def grid_points(low: float, high: float, k: int, log: bool = False) -> list[float]:
    """``k`` evenly spaced values from ``low`` to ``high``, both ends included (a list of floats).

    With ``log=True`` the values are evenly spaced in ``log(x)``: a geometric sequence. ``k = 1``
    gives the middle of the range (the geometric mean ``sqrt(low * high)`` when ``log``). The ends
    must be exactly ``low`` and ``high`` (``exp(log(x))`` can be off by one rounding error: fix the ends).

    >>> [round(x, 9) for x in grid_points(1e-3, 1e-1, 3, log=True)]
    [0.001, 0.01, 0.1]
    """
    ### BEGIN SOLUTION
    if k == 1:
        return [math.sqrt(low * high) if log else (low + high) / 2]
    if log:
        values = [math.exp(x) for x in np.linspace(math.log(low), math.log(high), k)]
    else:
        values = [float(x) for x in np.linspace(low, high, k)]
    values[0], values[-1] = float(low), float(high)
    return values
    ### END SOLUTION


def grid(values: dict[str, list[Any]]) -> list[dict[str, Any]]:
    """Every combination of the listed values, as a list of configurations (dicts).

    ``values`` maps each hyperparameter to its grid values. The result has one dict per combination,
    with the keys in the order of ``values``; the *last* hyperparameter varies fastest (like nested
    for-loops, and like ``minilib.space.Space.grid``).

    >>> grid({"a": [1, 2], "b": ["x", "y"]})
    [{'a': 1, 'b': 'x'}, {'a': 1, 'b': 'y'}, {'a': 2, 'b': 'x'}, {'a': 2, 'b': 'y'}]
    """
    ### BEGIN SOLUTION
    configs: list[dict[str, Any]] = [{}]
    for name, options in values.items():
        configs = [{**config, name: option} for config in configs for option in options]
    return configs
    ### END SOLUTION
