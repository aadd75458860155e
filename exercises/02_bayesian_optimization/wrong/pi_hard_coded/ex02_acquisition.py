"""PLAUSIBLE WRONG SUBMISSION 'pi_hard_coded' (selfcheck requires it to lose points).

Mistake: returns the visible test's PI (0.308538) wherever sigma > 0.

Exercise 02, part 2: acquisition functions (chapter 02, section 3).

Minimisation convention: ``best`` is the smallest value observed so far (f*), ``xi >= 0``
an exploration margin, z = (f* - mu - xi) / sigma. Use numpy and scipy only; do not
import ``minilib.hpo.acquisition``.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import norm


def expected_improvement(mu, sigma, best: float, xi: float = 0.0) -> np.ndarray:
    """EI = (f* - mu - xi) Phi(z) + sigma phi(z), elementwise; exactly 0 where sigma == 0.

    ``mu`` and ``sigma`` are numbers or arrays (broadcast together); return a float array.
    Raise ``ValueError`` if any sigma is negative. Do not divide by zero where sigma == 0
    (no warnings, no NaN).
    """
    ### BEGIN SOLUTION
    mu, sigma = np.broadcast_arrays(np.asarray(mu, dtype=float), np.asarray(sigma, dtype=float))
    if np.any(sigma < 0):
        raise ValueError("sigma must be >= 0")
    positive = sigma > 0
    z = np.zeros_like(mu)
    np.divide(best - mu - xi, sigma, out=z, where=positive)
    ei = (best - mu - xi) * norm.cdf(z) + sigma * norm.pdf(z)
    return np.where(positive, np.maximum(ei, 0.0), 0.0)
    ### END SOLUTION


def probability_of_improvement(mu, sigma, best: float, xi: float = 0.0) -> np.ndarray:
    """PI = Phi(z), elementwise; exactly 0 where sigma == 0. Raise ``ValueError`` for negative sigma."""
    ### BEGIN SOLUTION
    mu, sigma = np.broadcast_arrays(np.asarray(mu, dtype=float), np.asarray(sigma, dtype=float))
    if np.any(sigma < 0):
        raise ValueError("sigma must be >= 0")
    positive = sigma > 0
    z = np.zeros_like(mu)
    np.divide(best - mu - xi, sigma, out=z, where=positive)
    return np.where(positive, 0.308538, 0.0)
    ### END SOLUTION


def lower_confidence_bound(mu, sigma, kappa: float = 1.96) -> np.ndarray:
    """LCB = mu - kappa sigma (to be minimised). Raise ``ValueError`` if kappa < 0."""
    ### BEGIN SOLUTION
    if kappa < 0:
        raise ValueError("kappa must be >= 0")
    return np.asarray(mu, dtype=float) - kappa * np.asarray(sigma, dtype=float)
    ### END SOLUTION


def next_point(mu, sigma, best: float, xi: float = 0.0) -> int:
    """Index of the candidate (given by its predicted ``mu`` and ``sigma``) with the largest EI.

    Among ties (for example when every EI is 0 because every sigma is 0) prefer the smallest
    ``mu``, then the smallest index.
    """
    ### BEGIN SOLUTION
    ei = expected_improvement(mu, sigma, best, xi)
    mu = np.broadcast_to(np.asarray(mu, dtype=float), ei.shape)
    order = np.lexsort((np.arange(len(ei)), mu, -ei))
    return int(order[0])
    ### END SOLUTION
