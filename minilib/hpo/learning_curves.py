"""Learning-curve extrapolation: predict where a run will end, and stop it if it cannot win.

Successive halving judges a run by where it *is*; a human watching training judges it by
where it is *going*. Domhan, Springenberg & Hutter (IJCAI 2015, "Speeding up automatic
hyperparameter optimization of deep neural networks by extrapolation of learning curves")
fit parametric curves to the first epochs and stop a run when it is unlikely to beat the
best run so far. Their model is a Bayesian mixture of eleven curve families; here we use
the simplest member, a power law, fitted by least squares:

    err(t) = a + b * t^(-c),   b >= 0, c > 0     (a is the error the run tends to)

For each ``c`` on a grid the best ``(a, b)`` is a linear least-squares problem, so the fit
is a one-dimensional, deterministic search over ``c``: a grid, then a bounded refinement.
``should_stop`` stops a run when even its predicted final error, minus a ``margin``, is
worse than the incumbent's.

Chapter 04 ("Multi-fidelity HPO") uses it on the tabular benchmark's curves.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import minimize_scalar

_EXPONENTS = np.geomspace(0.05, 4.0, 80)   # the grid of c tried by fit_power_law


@dataclass(frozen=True)
class PowerLaw:
    """``err(t) = a + b * t**(-c)``; ``sse`` is the sum of squared residuals of the fit."""

    a: float
    b: float
    c: float
    sse: float

    def __call__(self, t: float | np.ndarray) -> float | np.ndarray:
        return self.a + self.b * np.asarray(t, dtype=float) ** (-self.c)


def fit_power_law(epochs: np.ndarray, errors: np.ndarray) -> PowerLaw:
    """Least-squares power law through ``(epochs, errors)``; needs 3 or more points, epochs >= 1."""
    t = np.asarray(epochs, dtype=float)
    y = np.asarray(errors, dtype=float)
    if t.ndim != 1 or t.shape != y.shape:
        raise ValueError(f"epochs and errors must be 1-D arrays of the same length, got {t.shape} and {y.shape}")
    if len(t) < 3:
        raise ValueError(f"a power law has 3 parameters: need at least 3 points, got {len(t)}")
    if np.any(t < 1) or not np.all(np.isfinite(y)):
        raise ValueError("epochs must be >= 1 and errors finite")
    fits = _fit_given_c(t, y, _EXPONENTS)                         # 1) coarse grid over c
    k = int(np.argmin([f.sse for f in fits]))
    lo, hi = _EXPONENTS[max(k - 1, 0)], _EXPONENTS[min(k + 1, len(_EXPONENTS) - 1)]
    result = minimize_scalar(lambda c: _fit_given_c(t, y, [c])[0].sse, bounds=(lo, hi), method="bounded",
                             options={"xatol": 1e-10})                # 2) refine c between the neighbours
    refined = _fit_given_c(t, y, [float(result.x)])[0]
    return refined if refined.sse <= fits[k].sse else fits[k]


def _fit_given_c(t: np.ndarray, y: np.ndarray, exponents: Any) -> list[PowerLaw]:
    """The best power law for each fixed exponent c. For fixed c, y ~ a + b * x with x = t^-c is a
    linear least-squares problem: b = cov(x, y) / var(x), a = mean(y) - b * mean(x). All exponents
    are solved at once (one row of ``x`` each)."""
    c = np.asarray(exponents, dtype=float)
    x = t[None, :] ** -c[:, None]                                 # (n_exponents, n_points)
    dx = x - x.mean(axis=1, keepdims=True)
    b = dx @ (y - y.mean()) / np.einsum("ij,ij->i", dx, dx)
    a = y.mean() - b * x.mean(axis=1)
    rising = b < 0                                                # a rising curve: a flat line fits better
    a, b = np.where(rising, y.mean(), a), np.where(rising, 0.0, b)
    sse = ((a[:, None] + b[:, None] * x - y) ** 2).sum(axis=1)
    return [PowerLaw(float(a_i), float(b_i), float(c_i), float(s_i)) for a_i, b_i, c_i, s_i in zip(a, b, c, sse)]


def predict_final(errors: np.ndarray, max_epoch: int) -> float:
    """Fit a power law to ``errors`` (epochs 1, 2, …) and return its value at ``max_epoch``."""
    errors = np.asarray(errors, dtype=float)
    return float(fit_power_law(np.arange(1, len(errors) + 1), errors)(max_epoch))


def should_stop(errors: np.ndarray, max_epoch: int, incumbent: float, margin: float = 0.0,
                min_epochs: int = 3) -> bool:
    """True if the run with ``errors`` so far is predicted to end worse than ``incumbent``.

    Stop when ``predict_final(errors, max_epoch) - margin > incumbent``; a positive
    ``margin`` keeps runs that might still win (a cautious stopper). Runs shorter than
    ``min_epochs`` (at least 3) are never stopped.
    """
    errors = np.asarray(errors, dtype=float)
    if len(errors) < max(min_epochs, 3) or len(errors) >= max_epoch:
        return False
    return predict_final(errors, max_epoch) - margin > incumbent
