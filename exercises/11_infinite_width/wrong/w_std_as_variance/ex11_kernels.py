"""PLAUSIBLE WRONG SUBMISSION 'w_std_as_variance' (selfcheck requires it to lose points).

Mistake: uses W_std where the recursion needs W_std**2 (a standard deviation read as a variance).

Exercise 11: the NNGP and NTK of a ReLU network in closed form, and inference with them.

Chapter 11 ("Infinitely wide networks") explains every formula used here. NTK parameterisation:
every weight and bias is N(0, 1) and a dense layer with n inputs computes
(W_std / sqrt(n)) * x @ W + b_std * b; ``W_std`` and ``b_std`` are standard deviations.
Use numpy and scipy; do not import ``minilib.kernels``: you are writing it.
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import cho_solve


def relu_expectations(k12: np.ndarray, k11: np.ndarray, k22: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One ReLU step of the recursion, elementwise.

    For (u, v) ~ N(0, [[k11, k12], [k12, k22]]) return ``(E[relu(u) relu(v)], E[relu'(u) relu'(v)])``:
    with cos(theta) = k12 / sqrt(k11 k22), clipped to [-1, 1],

        E[relu(u) relu(v)]   = sqrt(k11 k22) (sin theta + (pi - theta) cos theta) / (2 pi),
        E[relu'(u) relu'(v)] = (pi - theta) / (2 pi).

    The three arguments are arrays of one shape (or broadcast against each other); so are the results.
    If k11 k22 = 0 (a zero input), use theta = pi / 2 (the first result is then 0).
    """
    k12, k11, k22 = (np.asarray(a, dtype=float) for a in (k12, k11, k22))
    norms = np.sqrt(k11 * k22)
    with np.errstate(invalid="ignore", divide="ignore"):
        cos = np.where(norms > 0, k12 / norms, 0.0)
    theta = np.arccos(np.clip(cos, -1.0, 1.0))
    nngp = norms * (np.sin(theta) + (np.pi - theta) * np.cos(theta)) / (2 * np.pi)
    return nngp, (np.pi - theta) / (2 * np.pi)


def relu_network_kernels(X1: np.ndarray, X2: np.ndarray, depth: int, W_std: float,
                         b_std: float) -> tuple[np.ndarray, np.ndarray]:
    """NNGP and NTK (each of shape (n1, n2)) of an infinitely wide ReLU network.

    The network is ``depth`` hidden layers Dense -> ReLU, then a Dense readout, all with the same
    ``W_std`` and ``b_std``. The recursion (chapter 11, section 2):

    * inputs: K = x1 . x2 / d (d features), Theta = 0;
    * Dense:  K <- W_std^2 K + b_std^2,  then Theta <- K + W_std^2 Theta (with the new K);
    * ReLU:   K <- E[relu(u) relu(v)],  Theta <- Theta * E[relu'(u) relu'(v)], where the
      variances k11 = K(x1, x1) and k22 = K(x2, x2) go through the same steps as K (carry them
      along: they are the diagonals of the kernels of X1 with itself and of X2 with itself).
    """
    X1, X2 = np.atleast_2d(np.asarray(X1, dtype=float)), np.atleast_2d(np.asarray(X2, dtype=float))
    d = X1.shape[1]
    nngp, ntk = X1 @ X2.T / d, np.zeros((len(X1), len(X2)))
    v1, v2 = (X1**2).sum(1) / d, (X2**2).sum(1) / d

    def dense(nngp, ntk, v1, v2):
        nngp = W_std * nngp + b_std**2
        return nngp, nngp + W_std * ntk, W_std * v1 + b_std**2, W_std * v2 + b_std**2

    for _ in range(depth):
        nngp, ntk, v1, v2 = dense(nngp, ntk, v1, v2)
        nngp_new, dot = relu_expectations(nngp, v1[:, None], v2[None, :])
        nngp, ntk, v1, v2 = nngp_new, ntk * dot, v1 / 2, v2 / 2
    nngp, ntk, _, _ = dense(nngp, ntk, v1, v2)
    return nngp, ntk


def nngp_posterior_mean(K_train: np.ndarray, K_test_train: np.ndarray, y_train: np.ndarray,
                        noise: float) -> np.ndarray:
    """Posterior mean K_*X (K_XX + noise I)^-1 y of the infinite Bayesian network, by Cholesky.

    ``K_train`` (n, n), ``K_test_train`` (m, n), ``y_train`` (n,) or (n, k); the result has m rows
    and the shape of ``y_train`` otherwise. Use ``np.linalg.cholesky`` and two triangular solves
    (``scipy.linalg.cho_solve``), never an explicit inverse.
    """
    L = np.linalg.cholesky(np.asarray(K_train, dtype=float) + noise * np.eye(len(K_train)))
    return np.asarray(K_test_train, dtype=float) @ cho_solve((L, True), np.asarray(y_train, dtype=float))


def ntk_mean_at_time(ntk_train: np.ndarray, ntk_test_train: np.ndarray, y_train: np.ndarray, t: float,
                     lr: float) -> np.ndarray:
    """Mean prediction at the test rows of infinitely wide networks after ``t`` steps of gradient descent.

    Loss: the mean squared error over the n training targets (one output, no factor 1/2), learning
    rate ``lr``, networks started at f_0 with mean 0. Then, with c = 2 lr / n,

        f_t(X_*) = Theta_*X Theta^-1 (I - exp(-c Theta t)) y.

    Compute Theta^-1 (I - exp(-c Theta t)) from the eigendecomposition Theta = V diag(lam) V^T
    (``np.linalg.eigh``) as V diag((1 - exp(-c lam t)) / lam) V^T. ``y_train`` has shape (n,), the
    result (m,).
    """
    y = np.asarray(y_train, dtype=float)
    lam, V = np.linalg.eigh(np.asarray(ntk_train, dtype=float))
    c = 2.0 * lr / len(y)
    factor = -np.expm1(-c * lam * t) / lam
    return np.asarray(ntk_test_train, dtype=float) @ ((V * factor) @ (V.T @ y))


def ntk_regression(X_train: np.ndarray, y_train: np.ndarray, X_test: np.ndarray, depth: int, W_std: float,
                   b_std: float, t: float, lr: float) -> np.ndarray:
    """End to end: what an infinite ensemble of ReLU networks predicts after ``t`` steps of GD.

    Build the NTK of the training rows with themselves and of the test rows with the training rows
    (``relu_network_kernels``), then predict with ``ntk_mean_at_time``. Returns shape (m,).
    """
    _, ntk_train = relu_network_kernels(X_train, X_train, depth, W_std, b_std)
    _, ntk_test = relu_network_kernels(X_test, X_train, depth, W_std, b_std)
    return ntk_mean_at_time(ntk_train, ntk_test, y_train, t, lr)
