"""Acquisition functions: how much is it worth to evaluate x next, given the GP's belief?

Minimisation convention throughout (as in scikit-optimize): the GP predicts mean mu(x)
and standard deviation sigma(x), f* is the best (smallest) value observed so far and
xi >= 0 asks for an improvement of at least xi. With z = (f* - mu - xi) / sigma:

* Expected improvement (Močkus 1978; Jones, Schonlau & Welch 1998, eq. 15)::

      EI(x) = E[max(f* - xi - f(x), 0)] = (f* - mu - xi) Phi(z) + sigma phi(z)

* Probability of improvement (Kushner 1964)::

      PI(x) = P(f(x) < f* - xi) = Phi(z)

* Lower confidence bound (the minimisation form of GP-UCB, Srinivas et al. 2010)::

      LCB(x) = mu - kappa sigma          (to be *minimised*)

EI and PI are maximised, LCB is minimised. Where sigma = 0 the model is certain, and
EI and PI are set to exactly 0 (skopt does the same): nothing is learned there.

Far from the incumbent, EI underflows to 0 everywhere; ``log_expected_improvement``
computes log EI stably (via ``erfcx``) so that an optimiser can still rank points.

Checks (``tests/test_acquisition.py``, values from skopt's tests): with mu = 0,
sigma = 1, f* = -0.5, xi = 0: EI = 0.1977966, PI = 0.308538, and LCB(kappa = 0.3) = -0.3.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy.special import erfcx, log_ndtr, ndtr

_LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)


def _inputs(mu: Any, sigma: Any) -> tuple[np.ndarray, np.ndarray]:
    mu, sigma = np.broadcast_arrays(np.asarray(mu, dtype=float), np.asarray(sigma, dtype=float))
    if np.any(sigma < 0):
        raise ValueError("sigma must be >= 0 (it is a standard deviation)")
    if np.any(np.isnan(mu)) or np.any(np.isnan(sigma)):
        raise ValueError("mu and sigma must not be NaN")
    return mu, sigma


def _z(mu: np.ndarray, sigma: np.ndarray, best: float, xi: float) -> tuple[np.ndarray, np.ndarray]:
    """z = (f* - mu - xi) / sigma where sigma > 0 (0 elsewhere), and the mask sigma > 0."""
    positive = sigma > 0
    z = np.zeros_like(mu)
    np.divide(best - mu - xi, sigma, out=z, where=positive)
    return z, positive


def expected_improvement(mu: Any, sigma: Any, best: float, xi: float = 0.0) -> np.ndarray:
    """EI = (f* - mu - xi) Phi(z) + sigma phi(z); exactly 0 where sigma = 0. Maximise it."""
    mu, sigma = _inputs(mu, sigma)
    z, positive = _z(mu, sigma, best, xi)
    ei = (best - mu - xi) * ndtr(z) + sigma * np.exp(-0.5 * z**2 - _LOG_SQRT_2PI)
    return np.where(positive, np.maximum(ei, 0.0), 0.0)


def log_expected_improvement(mu: Any, sigma: Any, best: float, xi: float = 0.0) -> np.ndarray:
    """log EI computed without underflow; -inf where sigma = 0.

    EI = sigma h(z) with h(z) = phi(z) + z Phi(z). For z < 0 write Phi(z) = phi(z) m(z)
    with the Mills ratio m(z) = sqrt(pi/2) erfcx(-z / sqrt 2), so that
    log h(z) = log phi(z) + log(1 + z m(z)); for very negative z, 1 + z m(z) ~ 1/z^2.
    """
    mu, sigma = _inputs(mu, sigma)
    z, positive = _z(mu, sigma, best, xi)
    log_h = np.empty_like(z)
    big = z > -1.0
    zb = z[big]
    log_h[big] = np.log(np.exp(-0.5 * zb**2 - _LOG_SQRT_2PI) + zb * ndtr(zb))
    zs = z[~big]
    mills_term = 1.0 + zs * math.sqrt(math.pi / 2) * erfcx(-zs / math.sqrt(2))
    tail = np.where(zs > -1e4, np.log(np.maximum(mills_term, 1e-300)), -2 * np.log(-zs))
    log_h[~big] = -0.5 * zs**2 - _LOG_SQRT_2PI + tail
    with np.errstate(divide="ignore"):
        return np.where(positive, np.log(np.where(positive, sigma, 1.0)) + log_h, -np.inf)


def probability_of_improvement(mu: Any, sigma: Any, best: float, xi: float = 0.0) -> np.ndarray:
    """PI = Phi((f* - mu - xi) / sigma); exactly 0 where sigma = 0. Maximise it."""
    mu, sigma = _inputs(mu, sigma)
    z, positive = _z(mu, sigma, best, xi)
    return np.where(positive, ndtr(z), 0.0)


def log_probability_of_improvement(mu: Any, sigma: Any, best: float, xi: float = 0.0) -> np.ndarray:
    """log PI, computed with ``log_ndtr`` (no underflow); -inf where sigma = 0."""
    mu, sigma = _inputs(mu, sigma)
    z, positive = _z(mu, sigma, best, xi)
    return np.where(positive, log_ndtr(z), -np.inf)


def lower_confidence_bound(mu: Any, sigma: Any, kappa: float = 1.96) -> np.ndarray:
    """LCB = mu - kappa sigma: optimistic value of f at x. Minimise it."""
    if not kappa >= 0:
        raise ValueError(f"kappa must be >= 0, got {kappa!r}")
    mu, sigma = _inputs(mu, sigma)
    return mu - kappa * sigma


def upper_confidence_bound(mu: Any, sigma: Any, kappa: float = 1.96) -> np.ndarray:
    """UCB = mu + kappa sigma, the GP-UCB rule for *maximisation* (Srinivas et al. 2010): -LCB(-mu)."""
    return -lower_confidence_bound(-np.asarray(mu, dtype=float), sigma, kappa)


ACQUISITIONS = ("ei", "pi", "lcb")


def acquisition_score(name: str, mu: Any, sigma: Any, best: float, xi: float = 0.0,
                      kappa: float = 1.96) -> np.ndarray:
    """A score to *maximise* for acquisition ``name``: log EI, log PI or -LCB.

    Logs rank points exactly as EI and PI do, but do not underflow to a flat 0. ``xi``
    defaults to 0 like every function here and ``BayesOpt`` (its docstring says why).
    """
    if name == "ei":
        return log_expected_improvement(mu, sigma, best, xi)
    if name == "pi":
        return log_probability_of_improvement(mu, sigma, best, xi)
    if name == "lcb":
        return -lower_confidence_bound(mu, sigma, kappa)
    raise ValueError(f"unknown acquisition {name!r}; choose one of {ACQUISITIONS}")
