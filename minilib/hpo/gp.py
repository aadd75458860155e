"""Gaussian-process regression in numpy: the surrogate model of Bayesian optimisation.

A GP puts a prior over functions, f ~ GP(0, k), and conditions it on noisy
observations y = f(X) + eps, eps ~ N(0, sigma_n^2). The posterior at new points X*
is Gaussian with (Rasmussen & Williams, *Gaussian Processes for Machine Learning*,
2006, Algorithm 2.1)::

    L     = cholesky(K + sigma_n^2 I)          # K = k(X, X)
    alpha = L^T \\ (L \\ y)
    mu*   = k*^T alpha                         # k* = k(X, X*)
    v     = L \\ k*
    var*  = k(X*, X*) - v^T v
    log p(y | X) = -1/2 y^T alpha - sum_i log L_ii - n/2 log 2 pi      (eq. 2.30)

The kernels have one length scale per input dimension (ARD) and a signal variance
s^2; ``theta = log([l_1, …, l_d, s^2, sigma_n^2])`` is fitted by maximising the log
marginal likelihood with L-BFGS-B and analytic gradients (R&W eq. 5.9):
d log p / d theta_j = 1/2 tr((alpha alpha^T - K^-1) dK/d theta_j).

Numerical care, because Bayesian optimisation stresses a GP in every way:

* inputs are expected in the unit cube; outputs are normalised to mean 0, std 1
  (a constant y gets std 1), so the hyperparameter bounds fit every problem;
* the Cholesky factorisation climbs a *jitter ladder* (1e-10 … 1e-4 times the mean
  diagonal) when K is not numerically positive definite (duplicate points, tiny
  noise), records the jitter it needed in ``jitter_``, and raises
  ``CholeskyError`` when even the last rung fails: it never fails silently;
* predicted variances are clipped at 1e-12 before the square root.

Chapter 02 ("Bayesian optimization") builds this module up step by step.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np
from scipy.linalg import cho_solve, solve_triangular
from scipy.optimize import minimize
from threadpoolctl import ThreadpoolController

#: jitter added to the diagonal, relative to its mean, tried in this order
JITTERS = (0.0, 1e-10, 1e-9, 1e-8, 1e-7, 1e-6, 1e-5, 1e-4)
#: smallest predicted variance (in normalised units) before the square root
MIN_VARIANCE = 1e-12


class CholeskyError(np.linalg.LinAlgError):
    """The kernel matrix stayed indefinite even with the largest jitter of the ladder."""


_BLAS = ThreadpoolController()
F = TypeVar("F", bound=Callable[..., Any])


def single_threaded(fn: F) -> F:
    """Run ``fn`` with BLAS limited to one thread.

    A GP's matrices are small (tens to hundreds of rows); on a busy 2-core laptop a
    multi-threaded BLAS spends more time synchronising threads than computing, which
    made Bayesian optimisation ten times slower in our measurements.
    """
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with _BLAS.limit(limits=1, user_api="blas"):
            return fn(*args, **kwargs)
    return wrapper  # type: ignore[return-value]


# --- kernels --------------------------------------------------------------------------

def _scaled_differences(X1: np.ndarray, X2: np.ndarray, lengthscale: np.ndarray) -> np.ndarray:
    """D[i, j, k] = ((X1[i, k] - X2[j, k]) / l_k)^2, shape (n1, n2, d)."""
    return ((X1[:, None, :] - X2[None, :, :]) / lengthscale) ** 2


def rbf(X1: np.ndarray, X2: np.ndarray, lengthscale: Any) -> np.ndarray:
    """Squared-exponential correlation k(x, x') = exp(-r^2 / 2), r^2 = sum_k ((x_k - x'_k) / l_k)^2 (R&W eq. 4.9)."""
    r2 = _scaled_differences(np.atleast_2d(X1), np.atleast_2d(X2), np.asarray(lengthscale, float)).sum(-1)
    return np.exp(-0.5 * r2)


def matern52(X1: np.ndarray, X2: np.ndarray, lengthscale: Any) -> np.ndarray:
    """Matérn-5/2 correlation k = (1 + sqrt5 r + 5 r^2 / 3) exp(-sqrt5 r) (R&W eq. 4.17, nu = 5/2).

    Twice differentiable sample paths: rougher than the RBF's, which is why Snoek et al.
    (2012) recommend it for hyperparameter optimisation.
    """
    r2 = _scaled_differences(np.atleast_2d(X1), np.atleast_2d(X2), np.asarray(lengthscale, float)).sum(-1)
    s = np.sqrt(5.0 * r2)
    return (1.0 + s + s**2 / 3.0) * np.exp(-s)


KERNELS = {"rbf": rbf, "matern52": matern52}


def _kernel_and_gradients(kind: str, X: np.ndarray, lengthscale: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Correlation matrix R (n, n) and dR / d log l_k (n, n, d) for the training inputs."""
    D = _scaled_differences(X, X, lengthscale)
    r2 = D.sum(-1)
    if kind == "rbf":
        R = np.exp(-0.5 * r2)
        return R, R[:, :, None] * D  # d/d log l_k of exp(-r^2/2) = R * D_k
    s = np.sqrt(5.0 * r2)
    e = np.exp(-s)
    R = (1.0 + s + s**2 / 3.0) * e
    return R, (5.0 / 3.0 * (1.0 + s) * e)[:, :, None] * D  # d/d log l_k = 5/3 (1 + sqrt5 r) e^(-sqrt5 r) D_k


# --- a Cholesky factorisation that never fails silently --------------------------------

def cholesky_with_jitter(K: np.ndarray) -> tuple[np.ndarray, float]:
    """Lower Cholesky factor of ``K``, adding jitter from ``JITTERS`` until it succeeds.

    Returns ``(L, jitter)`` with ``L L^T = K + jitter * mean(diag K) * I``. Raises
    ``CholeskyError`` when the largest jitter still fails.
    """
    scale = float(np.mean(np.diag(K))) if K.size else 1.0
    scale = scale if np.isfinite(scale) and scale > 0 else 1.0
    for jitter in JITTERS:
        try:
            L = np.linalg.cholesky(K + (jitter * scale) * np.eye(len(K)) if jitter else K)
        except np.linalg.LinAlgError:
            continue
        return L, jitter
    raise CholeskyError(
        f"kernel matrix ({len(K)}x{len(K)}) is not positive definite even with jitter {JITTERS[-1]:g} x mean "
        "diagonal; check the inputs for NaNs or use a larger noise variance")


# --- the model -------------------------------------------------------------------------

class GaussianProcess:
    """GP regression with an ARD RBF or Matérn-5/2 kernel and Gaussian noise.

    Args:
        kernel: ``"matern52"`` (default) or ``"rbf"``.
        lengthscale, signal_variance, noise_variance: initial (or, with
            ``optimize=False``, fixed) hyperparameters; variances are in normalised
            units when ``normalize_y`` is on.
        normalize_y: subtract the mean of y and divide by its std before fitting.
        optimize: fit the hyperparameters by maximising the log marginal likelihood.
        n_restarts: random restarts of L-BFGS-B in addition to the warm start.
        seed: seeds the restarts.
    """

    #: bounds of the hyperparameters (not in log space); inputs are in [0, 1]^d, y normalised
    LENGTHSCALE_BOUNDS = (1e-2, 20.0)
    SIGNAL_BOUNDS = (1e-2, 1e3)
    NOISE_BOUNDS = (1e-6, 1.0)

    def __init__(self, kernel: str = "matern52", lengthscale: Any = 0.5, signal_variance: float = 1.0,
                 noise_variance: float = 1e-4, normalize_y: bool = True, optimize: bool = True,
                 n_restarts: int = 2, seed: int | None = None):
        if kernel not in KERNELS:
            raise ValueError(f"unknown kernel {kernel!r}; choose one of {sorted(KERNELS)}")
        for label, value in (("signal_variance", signal_variance), ("noise_variance", noise_variance)):
            if not np.isfinite(value) or value < 0:
                raise ValueError(f"{label} must be a finite number >= 0, got {value!r}")
        if np.any(~np.isfinite(np.asarray(lengthscale, float))) or np.any(np.asarray(lengthscale, float) <= 0):
            raise ValueError(f"lengthscale must be positive, got {lengthscale!r}")
        self.kernel = kernel
        self.lengthscale = lengthscale
        self.signal_variance = float(signal_variance)
        self.noise_variance = float(noise_variance)
        self.normalize_y = normalize_y
        self.optimize = optimize
        self.n_restarts = int(n_restarts)
        self.rng = np.random.default_rng(seed)
        self.theta_: np.ndarray | None = None  # log hyperparameters after fit

    # -- hyperparameters -----------------------------------------------------------
    def _bounds(self, d: int) -> np.ndarray:
        rows = [self.LENGTHSCALE_BOUNDS] * d + [self.SIGNAL_BOUNDS, self.NOISE_BOUNDS]
        return np.log(np.array(rows, dtype=float))

    def _initial_theta(self, d: int) -> np.ndarray:
        if self.theta_ is not None and len(self.theta_) == d + 2:
            return self.theta_.copy()  # warm start from the previous fit
        lengthscale = np.broadcast_to(np.asarray(self.lengthscale, float), (d,))
        noise = max(self.noise_variance, 1e-300)
        return np.log(np.concatenate([lengthscale, [self.signal_variance, noise]]))

    @property
    def lengthscale_(self) -> np.ndarray:
        return np.exp(self.theta_[:-2])

    @property
    def signal_variance_(self) -> float:
        return float(np.exp(self.theta_[-2]))

    @property
    def noise_variance_(self) -> float:
        return float(np.exp(self.theta_[-1]))

    # -- the log marginal likelihood (R&W eq. 2.30) and its gradient (eq. 5.9) -------
    def _nlml(self, theta: np.ndarray, X: np.ndarray, y: np.ndarray, grad: bool = True):
        d = X.shape[1]
        lengthscale, s2, noise = np.exp(theta[:d]), np.exp(theta[d]), np.exp(theta[d + 1])
        R, dR = _kernel_and_gradients(self.kernel, X, lengthscale)
        K = s2 * R + noise * np.eye(len(X))
        try:
            L, _ = cholesky_with_jitter(K)
        except CholeskyError:
            return (1e25, np.zeros_like(theta)) if grad else 1e25
        alpha = cho_solve((L, True), y)
        nlml = 0.5 * y @ alpha + np.log(np.diag(L)).sum() + 0.5 * len(X) * math.log(2 * math.pi)
        if not grad:
            return nlml
        W = np.outer(alpha, alpha) - cho_solve((L, True), np.eye(len(X)))  # alpha alpha^T - K^-1
        g = np.empty_like(theta)
        g[:d] = 0.5 * np.einsum("ij,ijk->k", W, s2 * dR)  # dK/d log l_k = s^2 dR_k
        g[d] = 0.5 * np.sum(W * (s2 * R))                # dK/d log s^2 = s^2 R
        g[d + 1] = 0.5 * noise * np.trace(W)             # dK/d log sigma_n^2 = sigma_n^2 I
        return nlml, -g

    def log_marginal_likelihood(self, theta: Any = None) -> float:
        """log p(y | X, theta) of the training data (normalised y); default: the fitted theta."""
        self._check_fitted()
        theta = self.theta_ if theta is None else np.asarray(theta, dtype=float)
        return -float(self._nlml(theta, self.X_, self.y_, grad=False))

    def _fit_theta(self, X: np.ndarray, y: np.ndarray) -> np.ndarray:
        bounds = self._bounds(X.shape[1])
        starts = [np.clip(self._initial_theta(X.shape[1]), bounds[:, 0], bounds[:, 1])]
        starts += [self.rng.uniform(bounds[:, 0], bounds[:, 1]) for _ in range(self.n_restarts)]
        best_theta, best_value = starts[0], np.inf
        for theta0 in starts:
            result = minimize(self._nlml, theta0, args=(X, y), jac=True, method="L-BFGS-B", bounds=bounds,
                              options={"maxiter": 200})
            if np.isfinite(result.fun) and result.fun < best_value:
                best_theta, best_value = result.x, result.fun
        return best_theta

    # -- fit and predict -----------------------------------------------------------
    @single_threaded
    def fit(self, X: Any, y: Any) -> GaussianProcess:
        """Condition on inputs ``X`` (n, d) and targets ``y`` (n,); fit hyperparameters if ``optimize``."""
        X = np.asarray(X, dtype=float)
        y = np.asarray(y, dtype=float)
        if X.ndim != 2 or y.ndim != 1 or len(X) != len(y):
            raise ValueError(f"expected X of shape (n, d) and y of shape (n,), got {X.shape} and {y.shape}")
        if len(X) == 0:
            raise ValueError("cannot fit a GP on zero points")
        if not (np.all(np.isfinite(X)) and np.all(np.isfinite(y))):
            raise ValueError("X and y must be finite (no NaN or inf)")
        self.y_mean_, self.y_std_ = (float(y.mean()), float(y.std())) if self.normalize_y else (0.0, 1.0)
        if not self.y_std_ > 1e-12 * max(1.0, abs(self.y_mean_)):
            self.y_std_ = 1.0  # a constant objective: nothing to scale
        self.X_, self.y_ = X, (y - self.y_mean_) / self.y_std_
        if self.optimize and len(X) >= 2:
            self.theta_ = self._fit_theta(self.X_, self.y_)
        else:
            self.theta_ = self._initial_theta(X.shape[1])
        # 1) L = chol(K + sigma_n^2 I)   2) alpha = L^T \ (L \ y)          (R&W Algorithm 2.1)
        K = self.signal_variance_ * KERNELS[self.kernel](X, X, self.lengthscale_)
        K += self.noise_variance_ * np.eye(len(X))
        self.L_, self.jitter_ = cholesky_with_jitter(K)
        self.alpha_ = cho_solve((self.L_, True), self.y_)
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "alpha_"):
            raise RuntimeError("call fit(X, y) before predicting")

    def _cross(self, Xs: np.ndarray) -> np.ndarray:
        return self.signal_variance_ * KERNELS[self.kernel](Xs, self.X_, self.lengthscale_)  # (m, n)

    @single_threaded
    def predict(self, X: Any, return_std: bool = True, return_cov: bool = False) -> Any:
        """Posterior mean (and std, or full covariance) of f at the rows of ``X``, in y's units.

        Returns ``mean`` alone, ``(mean, std)`` (default) or ``(mean, cov)``.
        """
        self._check_fitted()
        Xs = np.atleast_2d(np.asarray(X, dtype=float))
        if Xs.shape[1] != self.X_.shape[1]:
            raise ValueError(f"expected inputs with {self.X_.shape[1]} columns, got shape {Xs.shape}")
        Ks = self._cross(Xs)
        mean = Ks @ self.alpha_                                        # 3) mu* = k*^T alpha
        v = solve_triangular(self.L_, Ks.T, lower=True)                # 4) v = L \ k*
        out_mean = mean * self.y_std_ + self.y_mean_
        if return_cov:
            cov = self.signal_variance_ * KERNELS[self.kernel](Xs, Xs, self.lengthscale_) - v.T @ v
            return out_mean, cov * self.y_std_**2
        if not return_std:
            return out_mean
        var = self.signal_variance_ - np.sum(v**2, axis=0)             # 5) var* = k** - v^T v
        return out_mean, np.sqrt(np.maximum(var, MIN_VARIANCE)) * self.y_std_

    @single_threaded
    def sample(self, X: Any, n_samples: int = 1, seed: int | None = None, prior: bool = False) -> np.ndarray:
        """Draw functions at the rows of ``X``: from the posterior, or from the prior (``prior=True``).

        Returns an array of shape ``(n_samples, len(X))`` in y's units. The prior uses the
        current hyperparameters (those given to the constructor before any fit) and, after a
        fit, undoes the normalisation of y like ``predict``: mean ``y_mean_``, covariance
        ``y_std_**2 * s^2 R``. Before any fit y's units are the normalised ones (mean 0).
        """
        Xs = np.atleast_2d(np.asarray(X, dtype=float))
        rng = np.random.default_rng(seed)
        if prior:
            theta = self.theta_ if self.theta_ is not None else self._initial_theta(Xs.shape[1])
            y_mean, y_std = (self.y_mean_, self.y_std_) if hasattr(self, "y_mean_") else (0.0, 1.0)
            mean = np.full(len(Xs), y_mean)
            cov = y_std**2 * np.exp(theta[-2]) * KERNELS[self.kernel](Xs, Xs, np.exp(theta[:-2]))
        else:
            mean, cov = self.predict(Xs, return_cov=True)
        L, _ = cholesky_with_jitter(0.5 * (cov + cov.T))
        return mean + rng.standard_normal((n_samples, len(Xs))) @ L.T
