"""PLAUSIBLE WRONG SUBMISSION 'bo_loop_without_standardising' (selfcheck requires it to lose points).

Mistake: the BO loop fits the GP to the raw values instead of the standardised ones.

Exercise 02, part 3: a whole Bayesian-optimisation loop from your GP and your EI (chapter 02).

Uses your ``ex02_gp.gp_posterior`` and ``ex02_gp.matern52`` and your ``ex02_acquisition.next_point``.
Do not import ``minilib.hpo.bayesopt``.
"""

from __future__ import annotations

import ex02_acquisition as acq
import ex02_gp as gp
import numpy as np


def bayes_opt(objective, low: float, high: float, n_trials: int, n_init: int = 3, seed: int = 0,
              lengthscale: float = 0.15, noise: float = 1e-6, n_grid: int = 201) -> tuple[np.ndarray, np.ndarray]:
    """Minimise ``objective(x)`` on [low, high] with GP-EI (Snoek et al. 2012), on a grid of candidates.

    1. The first ``n_init`` points are ``np.random.default_rng(seed).uniform(low, high, n_init)``.
    2. Every later trial: scale the observed x to [0, 1] (``u = (x - low) / (high - low)``), standardise
       the observed values (subtract their mean, divide by their standard deviation, ``ddof=0``, or by
       1 when it is 0), compute the posterior of a GP with kernel ``matern52(A, B, lengthscale, 1.0)``
       and ``noise`` on the grid ``u = np.linspace(0, 1, n_grid)``, and evaluate the grid point that
       ``next_point(mean, sqrt(var), best)`` picks, with ``best`` the smallest standardised value.

    Return ``(xs, values)``: two float arrays of shape ``(n_trials,)`` in trial order.
    """
    ### BEGIN SOLUTION
    rng = np.random.default_rng(seed)
    xs = list(rng.uniform(low, high, n_init))[:n_trials]
    values = [float(objective(x)) for x in xs]
    grid = np.linspace(0.0, 1.0, n_grid)
    kernel = lambda A, B: gp.matern52(A, B, lengthscale, 1.0)  # noqa: E731
    while len(xs) < n_trials:
        u = (np.array(xs) - low) / (high - low)
        y = np.array(values)
        std = y.std()
        z = y + 0.0 * std
        mean, var = gp.gp_posterior(u[:, None], z, grid[:, None], kernel, noise)
        index = acq.next_point(mean, np.sqrt(var), float(z.min()))
        x = low + (high - low) * grid[index]
        xs.append(float(x))
        values.append(float(objective(x)))
    return np.array(xs, dtype=float), np.array(values, dtype=float)
    ### END SOLUTION
