"""PLAUSIBLE WRONG SUBMISSION 'lml_without_constant' (selfcheck requires it to lose points).

Mistake: drops the -n/2 log(2 pi) term of the log marginal likelihood.

Exercise 02, part 1: Gaussian-process regression from scratch (chapter 02, section 2).

Implement the Matérn-5/2 kernel, the GP posterior by Cholesky (Rasmussen & Williams,
Algorithm 2.1) and the log marginal likelihood. Use numpy and scipy only; do not
import ``minilib.hpo.gp``.
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import cho_solve, solve_triangular


def matern52(X1: np.ndarray, X2: np.ndarray, lengthscale, signal_variance: float = 1.0) -> np.ndarray:
    """Matérn-5/2 kernel matrix between the rows of ``X1`` (n1, d) and ``X2`` (n2, d).

    k(x, x') = s^2 (1 + sqrt(5) r + 5 r^2 / 3) exp(-sqrt(5) r), with
    r = sqrt(sum_k ((x_k - x'_k) / l_k)^2); ``lengthscale`` is a number or one value per
    dimension, ``signal_variance`` is s^2. Returns an array of shape (n1, n2).
    Raise ``ValueError`` if a length scale is not positive or the column counts differ.
    """
    ### BEGIN SOLUTION
    X1, X2 = np.atleast_2d(np.asarray(X1, dtype=float)), np.atleast_2d(np.asarray(X2, dtype=float))
    lengthscale = np.asarray(lengthscale, dtype=float)
    if np.any(lengthscale <= 0):
        raise ValueError("length scales must be positive")
    if X1.shape[1] != X2.shape[1]:
        raise ValueError("X1 and X2 need the same number of columns")
    r2 = (((X1[:, None, :] - X2[None, :, :]) / lengthscale) ** 2).sum(-1)
    s = np.sqrt(5.0 * r2)
    return signal_variance * (1.0 + s + s**2 / 3.0) * np.exp(-s)
    ### END SOLUTION


def gp_posterior(X: np.ndarray, y: np.ndarray, Xs: np.ndarray, kernel, noise: float) -> tuple[np.ndarray, np.ndarray]:
    """Posterior mean and variance of f at the rows of ``Xs`` (Rasmussen & Williams, Algorithm 2.1).

    ``kernel(A, B)`` returns the kernel matrix; the observations are y = f(X) + eps with
    eps ~ N(0, noise). Zero prior mean, no normalisation of y. Use the Cholesky factor
    L = chol(K + noise I), alpha = L^T \\ (L \\ y), mean = k*^T alpha, v = L \\ k*,
    var = k(x*, x*) - v^T v, and clip the variance at 0 from below (round-off).
    Returns ``(mean, var)``, each of shape (len(Xs),).
    """
    ### BEGIN SOLUTION
    X, Xs, y = np.atleast_2d(X), np.atleast_2d(Xs), np.asarray(y, dtype=float)
    L = np.linalg.cholesky(kernel(X, X) + noise * np.eye(len(X)))
    alpha = cho_solve((L, True), y)
    Ks = kernel(X, Xs)
    mean = Ks.T @ alpha
    v = solve_triangular(L, Ks, lower=True)
    var = np.diag(kernel(Xs, Xs)) - np.sum(v**2, axis=0)
    return mean, np.maximum(var, 0.0)
    ### END SOLUTION


def log_marginal_likelihood(X: np.ndarray, y: np.ndarray, kernel, noise: float) -> float:
    """log p(y | X) = -1/2 y^T alpha - sum_i log L_ii - n/2 log(2 pi)   (R&W eq. 2.30)."""
    ### BEGIN SOLUTION
    X, y = np.atleast_2d(X), np.asarray(y, dtype=float)
    L = np.linalg.cholesky(kernel(X, X) + noise * np.eye(len(X)))
    alpha = cho_solve((L, True), y)
    return float(-0.5 * y @ alpha - np.log(np.diag(L)).sum())
    ### END SOLUTION
