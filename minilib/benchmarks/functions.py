"""Test functions with known optima: the standard problems for comparing optimisers.

Each ``TestFunction`` has

* ``space``: its domain as a ``minilib.space.Space`` of floats named ``x1 … xd``;
* ``optimum``: the known global minimum value, and ``minimizers``: where it is reached;
* ``__call__(config)``: the objective over configurations, so that it plugs into
  ``minilib.minimize(BRANIN, BRANIN.space, ...)``;
* ``evaluate(X)``: the same function on a ``(n, d)`` array (for contour plots);
* ``regret(value)``: the *simple regret* ``value - optimum`` (>= 0).

Optima and minimisers follow Surjanovic & Bingham's *Virtual Library of Simulation
Experiments* and scikit-optimize's tests (``skopt/tests/test_benchmarks.py``): Branin
0.397887 at (-pi, 12.275), (pi, 2.275), (9.42478, 2.475); Hartmann-6 -3.32237.
Chapters 02 and 03 use them to compare Bayesian optimisation, TPE and random search.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from minilib.space import Float, Space


@dataclass(frozen=True)
class TestFunction:
    """A benchmark function over a box, with its known minimum."""

    __test__ = False  # not a pytest test class, despite the name

    name: str
    bounds: tuple[tuple[float, float], ...]
    fn: Callable[[np.ndarray], np.ndarray]  # (n, d) -> (n,)
    optimum: float
    minimizers: tuple[tuple[float, ...], ...]

    @property
    def dim(self) -> int:
        return len(self.bounds)

    @property
    def names(self) -> list[str]:
        return [f"x{i + 1}" for i in range(self.dim)]

    @property
    def space(self) -> Space:
        return Space({name: Float(low, high) for name, (low, high) in zip(self.names, self.bounds)})

    def evaluate(self, X: Any) -> np.ndarray:
        """Values at the rows of ``X`` (shape ``(n, d)``, or ``(d,)`` for one point)."""
        X = np.asarray(X, dtype=float)
        single = X.ndim == 1
        X = np.atleast_2d(X)
        if X.shape[1] != self.dim:
            raise ValueError(f"{self.name} takes points of dimension {self.dim}, got shape {X.shape}")
        values = self.fn(X)
        return values[0] if single else values

    def __call__(self, config: dict[str, float]) -> float:
        """The objective over a configuration ``{"x1": ..., "x2": ...}``."""
        if not isinstance(config, dict):
            raise TypeError(f"{self.name} takes a config dict, got {type(config).__name__}")
        missing = [n for n in self.names if n not in config]
        if missing:
            raise ValueError(f"{self.name}: config is missing {missing}")
        return float(self.evaluate(np.array([config[n] for n in self.names], dtype=float)))

    def regret(self, value: Any) -> Any:
        """Simple regret ``value - optimum`` (works on floats and arrays)."""
        return np.asarray(value, dtype=float) - self.optimum if np.ndim(value) else float(value) - self.optimum


# --- the functions (vectorised over rows) --------------------------------------------

def _branin(X: np.ndarray) -> np.ndarray:
    x1, x2 = X[:, 0], X[:, 1]
    b, c, t = 5.1 / (4 * math.pi**2), 5 / math.pi, 1 / (8 * math.pi)
    return (x2 - b * x1**2 + c * x1 - 6) ** 2 + 10 * (1 - t) * np.cos(x1) + 10


_HARTMANN_ALPHA = np.array([1.0, 1.2, 3.0, 3.2])
_HARTMANN3_A = np.array([[3.0, 10, 30], [0.1, 10, 35], [3.0, 10, 30], [0.1, 10, 35]])
_HARTMANN3_P = 1e-4 * np.array([[3689, 1170, 2673], [4699, 4387, 7470], [1091, 8732, 5547], [381, 5743, 8828]])
_HARTMANN6_A = np.array([[10, 3, 17, 3.5, 1.7, 8], [0.05, 10, 17, 0.1, 8, 14],
                         [3, 3.5, 1.7, 10, 17, 8], [17, 8, 0.05, 10, 0.1, 14]])
_HARTMANN6_P = 1e-4 * np.array([[1312, 1696, 5569, 124, 8283, 5886], [2329, 4135, 8307, 3736, 1004, 9991],
                                [2348, 1451, 3522, 2883, 3047, 6650], [4047, 8828, 8732, 5743, 1091, 381]])


def _hartmann(A: np.ndarray, P: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    def f(X: np.ndarray) -> np.ndarray:
        inner = np.sum(A[None] * (X[:, None, :] - P[None]) ** 2, axis=2)  # (n, 4)
        return -np.sum(_HARTMANN_ALPHA * np.exp(-inner), axis=1)
    return f


def _forrester(X: np.ndarray) -> np.ndarray:
    x = X[:, 0]
    return (6 * x - 2) ** 2 * np.sin(12 * x - 4)


def _six_hump_camel(X: np.ndarray) -> np.ndarray:
    x1, x2 = X[:, 0], X[:, 1]
    return (4 - 2.1 * x1**2 + x1**4 / 3) * x1**2 + x1 * x2 + (-4 + 4 * x2**2) * x2**2


def _goldstein_price(X: np.ndarray) -> np.ndarray:
    x1, x2 = X[:, 0], X[:, 1]
    a = 1 + (x1 + x2 + 1) ** 2 * (19 - 14 * x1 + 3 * x1**2 - 14 * x2 + 6 * x1 * x2 + 3 * x2**2)
    b = 30 + (2 * x1 - 3 * x2) ** 2 * (18 - 32 * x1 + 12 * x1**2 + 48 * x2 - 36 * x1 * x2 + 27 * x2**2)
    return a * b


def _rosenbrock(X: np.ndarray) -> np.ndarray:
    return np.sum(100 * (X[:, 1:] - X[:, :-1] ** 2) ** 2 + (1 - X[:, :-1]) ** 2, axis=1)


BRANIN = TestFunction("branin", ((-5.0, 10.0), (0.0, 15.0)), _branin, 0.39788735772973816,
                      ((-math.pi, 12.275), (math.pi, 2.275), (3 * math.pi, 2.475)))
HARTMANN3 = TestFunction("hartmann3", ((0.0, 1.0),) * 3, _hartmann(_HARTMANN3_A, _HARTMANN3_P),
                         -3.8627797873326593, ((0.114589, 0.555649, 0.852547),))
HARTMANN6 = TestFunction("hartmann6", ((0.0, 1.0),) * 6, _hartmann(_HARTMANN6_A, _HARTMANN6_P),
                         -3.3223680114155147, ((0.20169, 0.150011, 0.476874, 0.275332, 0.311652, 0.6573),))
FORRESTER = TestFunction("forrester", ((0.0, 1.0),), _forrester, -6.020740055767083, ((0.757248757841856,),))
SIX_HUMP_CAMEL = TestFunction("six_hump_camel", ((-3.0, 3.0), (-2.0, 2.0)), _six_hump_camel,
                              -1.0316284534898774, ((0.0898420131, -0.7126564030), (-0.0898420131, 0.7126564030)))
GOLDSTEIN_PRICE = TestFunction("goldstein_price", ((-2.0, 2.0), (-2.0, 2.0)), _goldstein_price, 3.0, ((0.0, -1.0),))
ROSENBROCK = TestFunction("rosenbrock", ((-5.0, 10.0), (-5.0, 10.0)), _rosenbrock, 0.0, ((1.0, 1.0),))

FUNCTIONS: dict[str, TestFunction] = {f.name: f for f in (
    BRANIN, HARTMANN3, HARTMANN6, FORRESTER, SIX_HUMP_CAMEL, GOLDSTEIN_PRICE, ROSENBROCK)}


def get_function(name: str) -> TestFunction:
    """Look a test function up by name (``"branin"``, ``"hartmann6"``, …)."""
    if name not in FUNCTIONS:
        raise ValueError(f"unknown test function {name!r}; choose one of {sorted(FUNCTIONS)}")
    return FUNCTIONS[name]
