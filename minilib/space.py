"""Search spaces: the set of hyperparameter configurations a search may try.

A search space is a dictionary of named *dimensions*. Each dimension knows how to

1. draw random values (``sample``),
2. enumerate a grid of values (``grid``),
3. map a value to the unit interval and back (``to_unit`` / ``from_unit``),
4. propose a nearby value (``neighbor``), which evolution uses to mutate a configuration.

The unit-cube view is what model-based searchers need: a Gaussian process or a
Parzen estimator works on numbers in [0, 1], and ``from_unit`` turns its proposal
back into a valid configuration (an integer, one of the choices, a float on a log
scale).

Chapter 01 ("Grid and random search") explains every part of this module.

Example::

    space = Space({
        "lr": Float(1e-4, 1e-1, log=True),
        "width": Int(16, 256, log=True),
        "activation": Choice(["relu", "tanh"]),
    })
    configs = space.sample(5, seed=0)
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

Config = dict[str, Any]


def config_key(config: Config) -> str:
    """One hashable text per configuration (key order ignored): the book's only config encoding
    for sets and dicts of configurations already seen."""
    return json.dumps(config, sort_keys=True, default=repr)


def _where(name: str | None) -> str:
    return f"dimension {name!r}: " if name else ""


def _check_finite(kind: str, name: str | None, low: float, high: float) -> None:
    for label, value in (("low", low), ("high", high)):
        if not isinstance(value, (int, float, np.integer, np.floating)) or isinstance(value, bool):
            raise ValueError(f"{_where(name)}{kind} {label} must be a number, got {value!r}")
        if not math.isfinite(value):
            raise ValueError(f"{_where(name)}{kind} {label} must be finite, got {value!r}")
    if low >= high:
        raise ValueError(f"{_where(name)}{kind} low ({low!r}) must be smaller than high ({high!r})")


def _unit_neighbor(u: float, rng: np.random.Generator, scale: float) -> float:
    """A Gaussian step of standard deviation ``scale`` in the unit interval, reflected at 0 and 1."""
    x = abs(u + scale * rng.standard_normal()) % 2.0
    return 2.0 - x if x > 1.0 else x


@dataclass(frozen=True)
class Float:
    """A real number in [low, high]; ``log=True`` samples uniformly in log(x)."""

    low: float
    high: float
    log: bool = False

    def __post_init__(self) -> None:
        self.check()

    def check(self, name: str | None = None) -> None:
        """Raise ``ValueError`` for an invalid definition (``name`` goes into the message)."""
        _check_finite("Float", name, self.low, self.high)
        if self.log and self.low <= 0:
            raise ValueError(f"{_where(name)}Float with log=True needs low > 0, got low={self.low!r}")

    def _unit_bounds(self) -> tuple[float, float]:
        if self.log:
            return math.log(self.low), math.log(self.high)
        return float(self.low), float(self.high)

    def from_unit(self, u: float) -> float:
        u = float(np.clip(u, 0.0, 1.0))
        if u in (0.0, 1.0):
            return float(self.low if u == 0.0 else self.high)  # exact ends, no exp(log(x)) round-off
        a, b = self._unit_bounds()
        x = a + u * (b - a)
        x = math.exp(x) if self.log else x
        return float(min(max(x, self.low), self.high))  # exp(log(x)) can overshoot by 1 ulp

    def to_unit(self, value: Any) -> float:
        a, b = self._unit_bounds()
        x = math.log(value) if self.log else float(value)
        return (x - a) / (b - a)

    def grid(self, k: int) -> list[float]:
        if k == 1:
            return [self.from_unit(0.5)]
        return [self.from_unit(u) for u in np.linspace(0.0, 1.0, k)]

    def contains(self, value: Any) -> bool:
        if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
            return False
        return self.low <= value <= self.high

    def size(self) -> float:
        return math.inf

    def neighbor(self, value: Any, rng: np.random.Generator, scale: float = 0.1) -> float:
        """A nearby value: a Gaussian step of ``scale`` of the range (on the log axis if ``log``)."""
        return self.from_unit(_unit_neighbor(self.to_unit(value), rng, scale))


@dataclass(frozen=True)
class Int:
    """An integer in [low, high] (both included), on a grid of ``step``.

    With ``log=True`` the integer is drawn log-uniformly: x is sampled uniformly in
    [log(low - 0.5), log(high + 0.5)] and rounded, so every integer gets the share
    of the log axis that rounds to it (the rule Optuna uses). ``log`` needs
    ``low >= 1`` and ``step == 1``.
    """

    low: int
    high: int
    step: int = 1
    log: bool = False

    def __post_init__(self) -> None:
        self.check()

    def check(self, name: str | None = None) -> None:
        """Raise ``ValueError`` for an invalid definition (``name`` goes into the message)."""
        for label, value in (("low", self.low), ("high", self.high), ("step", self.step)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise ValueError(f"{_where(name)}Int {label} must be an integer, got {value!r}")
        _check_finite("Int", name, self.low, self.high)
        if self.step <= 0:
            raise ValueError(f"{_where(name)}Int step must be positive, got {self.step!r}")
        if self.log and self.low <= 0:
            raise ValueError(f"{_where(name)}Int with log=True needs low >= 1, got low={self.low!r}")
        if self.log and self.step != 1:
            raise ValueError(f"{_where(name)}Int with log=True needs step=1, got step={self.step!r}")

    def values(self) -> list[int]:
        return list(range(int(self.low), int(self.high) + 1, int(self.step)))

    def _n(self) -> int:
        return (int(self.high) - int(self.low)) // int(self.step) + 1

    def probabilities(self) -> np.ndarray:
        """P(value) for each of ``values()`` under ``sample``: equal shares, or with ``log=True`` each
        integer's share of the log axis, (log(v + 0.5) - log(v - 0.5)) / (b - a)."""
        if not self.log:
            return np.full(self._n(), 1.0 / self._n())
        a, b = self.log_bounds()
        v = np.asarray(self.values(), dtype=float)
        return (np.log(v + 0.5) - np.log(v - 0.5)) / (b - a)

    def log_bounds(self) -> tuple[float, float]:
        """The log axis of a ``log=True`` integer: [log(low - 0.5), log(high + 0.5)]."""
        return math.log(self.low - 0.5), math.log(self.high + 0.5)

    def round(self, x: Any) -> Any:
        """Snap real values (a number or an array) to the nearest valid integers of this dimension."""
        index = np.round((np.asarray(x, dtype=float) - self.low) / self.step)
        snapped = np.clip(self.low + index * self.step, self.low, self.high - (self.high - self.low) % self.step)
        return int(snapped) if np.ndim(snapped) == 0 else snapped.astype(int)

    def from_unit(self, u: float) -> int:
        u = float(np.clip(u, 0.0, 1.0))
        if self.log:
            a, b = self.log_bounds()
            return self.round(math.exp(a + u * (b - a)))
        index = min(int(u * self._n()), self._n() - 1)
        return int(self.low) + index * int(self.step)

    def to_unit(self, value: Any) -> float:
        if self.log:
            a, b = self.log_bounds()
            return (math.log(value) - a) / (b - a)
        index = (int(value) - int(self.low)) // int(self.step)
        return (index + 0.5) / self._n()

    def grid(self, k: int) -> list[int]:
        if k >= self._n():
            return self.values()
        points = Float(self.low, self.high, log=self.log).grid(k)
        return sorted({self.round(p) for p in points})

    def contains(self, value: Any) -> bool:
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            return False
        return self.low <= value <= self.high and (value - self.low) % self.step == 0

    def size(self) -> float:
        return self._n()

    def neighbor(self, value: Any, rng: np.random.Generator, scale: float = 0.1) -> int:
        """A nearby, different integer (when there is one): a Gaussian step of ``scale`` of the
        range on the unit axis; a step that rounds back to ``value`` moves one grid point instead."""
        if self._n() == 1:
            return int(value)
        new = self.from_unit(_unit_neighbor(self.to_unit(value), rng, scale))
        if new == value:
            direction = rng.choice([-1, 1]) if self.low < value < self.high else (1 if value == self.low else -1)
            new = int(value) + int(direction) * int(self.step)
        return int(new)


@dataclass(frozen=True)
class Choice:
    """One option out of a list: a categorical hyperparameter (no order assumed)."""

    options: Sequence[Any]

    def __post_init__(self) -> None:
        self.check()

    def check(self, name: str | None = None) -> None:
        """Raise ``ValueError`` for an invalid definition (``name`` goes into the message)."""
        if isinstance(self.options, (str, bytes)) or not isinstance(self.options, Sequence):
            raise ValueError(f"{_where(name)}Choice options must be a list, got {self.options!r}")
        if len(self.options) == 0:
            raise ValueError(f"{_where(name)}Choice needs at least one option")
        for i, a in enumerate(self.options):
            if isinstance(a, float) and math.isnan(a):
                raise ValueError(f"{_where(name)}Choice option NaN can never be matched (NaN != NaN)")
            for b in self.options[:i]:
                if type(a) is type(b) and a == b:
                    raise ValueError(f"{_where(name)}Choice option {a!r} appears twice")

    def index(self, value: Any) -> int:
        for i, option in enumerate(self.options):
            if type(option) is type(value) and option == value:
                return i
        raise ValueError(f"{value!r} is not one of the options {list(self.options)!r}")

    def from_unit(self, u: float) -> Any:
        k = len(self.options)
        return self.options[min(int(float(np.clip(u, 0.0, 1.0)) * k), k - 1)]

    def to_unit(self, value: Any) -> float:
        return (self.index(value) + 0.5) / len(self.options)

    def grid(self, k: int) -> list[Any]:
        return list(self.options)

    def contains(self, value: Any) -> bool:
        try:
            self.index(value)
        except ValueError:
            return False
        return True

    def size(self) -> float:
        return len(self.options)

    def values(self) -> list[Any]:
        return list(self.options)

    def probabilities(self) -> np.ndarray:
        """P(option) under ``sample``: equal shares."""
        return np.full(len(self.options), 1.0 / len(self.options))

    def neighbor(self, value: Any, rng: np.random.Generator) -> Any:
        """A different option, uniformly (options have no order): Real et al.'s mutation."""
        others = [option for i, option in enumerate(self.options) if i != self.index(value)]
        return others[int(rng.integers(len(others)))] if others else value


Dimension = Float | Int | Choice


class Space:
    """A named collection of dimensions: ``Space({"lr": Float(1e-4, 1e-1, log=True), ...})``.

    Invalid definitions raise ``ValueError`` naming the dimension and the problem.
    The order of the dimensions is the order of the dictionary; it fixes the order of
    the unit-cube coordinates and of the grid.
    """

    def __init__(self, dimensions: dict[str, Dimension]):
        if not isinstance(dimensions, dict) or not dimensions:
            raise ValueError("a Space needs a non-empty dict {name: Float | Int | Choice}")
        for name, dim in dimensions.items():
            if not isinstance(name, str) or not name:
                raise ValueError(f"dimension names must be non-empty strings, got {name!r}")
            if not isinstance(dim, (Float, Int, Choice)):
                raise ValueError(f"dimension {name!r}: expected Float, Int or Choice, got {type(dim).__name__}")
            dim.check(name)
        self.dimensions: dict[str, Dimension] = dict(dimensions)

    # --- basic views -------------------------------------------------------------
    @property
    def names(self) -> list[str]:
        return list(self.dimensions)

    def __len__(self) -> int:
        return len(self.dimensions)

    def __getitem__(self, name: str) -> Dimension:
        return self.dimensions[name]

    def __repr__(self) -> str:
        inner = ", ".join(f"{k!r}: {v!r}" for k, v in self.dimensions.items())
        return f"Space({{{inner}}})"

    def size(self) -> float:
        """Number of distinct configurations (``math.inf`` if any dimension is a Float)."""
        return math.prod(dim.size() for dim in self.dimensions.values())

    def is_discrete(self) -> bool:
        return all(not isinstance(dim, Float) for dim in self.dimensions.values())

    # --- validation ----------------------------------------------------------------
    def validate(self, config: Config) -> Config:
        """Return ``config`` if it is a valid point of this space, else raise ``ValueError``."""
        if not isinstance(config, dict):
            raise ValueError(f"a config must be a dict, got {type(config).__name__}")
        unknown = [key for key in config if key not in self.dimensions]
        if unknown:
            raise ValueError(f"unknown key(s) {unknown} in config; the space has {self.names}")
        missing = [name for name in self.dimensions if name not in config]
        if missing:
            raise ValueError(f"config is missing key(s) {missing}")
        for name, dim in self.dimensions.items():
            if not dim.contains(config[name]):
                raise ValueError(f"dimension {name!r}: {config[name]!r} is not in {dim!r}")
        return config

    # --- sampling, grids and the unit cube -----------------------------------------
    def sample(self, n: int = 1, seed: int | None = None, rng: np.random.Generator | None = None) -> list[Config]:
        """Draw ``n`` configurations independently and uniformly (log-uniformly where ``log``).

        Pass either ``seed`` (a fresh generator is made) or ``rng`` (an existing one
        is advanced), not both.
        """
        if seed is not None and rng is not None:
            raise ValueError("pass seed or rng, not both")
        rng = rng if rng is not None else np.random.default_rng(seed)
        units = rng.random((n, len(self)))
        return [self.from_unit(u) for u in units]

    def grid(self, points_per_dim: int | dict[str, int] = 5) -> list[Config]:
        """All combinations of ``points_per_dim`` values per dimension (the last varies fastest).

        Floats get evenly spaced points including both ends (geometric on a log scale),
        integers get at most that many distinct values, choices always list every option.
        ``points_per_dim`` may be a dict giving the count per dimension.
        """
        per_dim = {}
        for name, dim in self.dimensions.items():
            k = points_per_dim.get(name, 5) if isinstance(points_per_dim, dict) else points_per_dim
            if isinstance(k, bool) or not isinstance(k, int) or k < 1:
                raise ValueError(f"dimension {name!r}: points per dimension must be an integer >= 1, got {k!r}")
            per_dim[name] = dim.grid(k)
        return [dict(zip(per_dim, values)) for values in itertools.product(*per_dim.values())]

    def mutate(self, config: Config, rng: np.random.Generator) -> Config:
        """A copy of ``config`` with one dimension, chosen uniformly among those that have more than
        one value, moved to a neighbouring value (``dimension.neighbor``): the mutation of
        regularized evolution (Real et al. 2019), which then works on any ``Space``."""
        self.validate(config)
        movable = [name for name, dim in self.dimensions.items() if dim.size() > 1]
        child = dict(config)
        if movable:
            name = movable[int(rng.integers(len(movable)))]
            child[name] = self.dimensions[name].neighbor(config[name], rng)
        return child

    def to_unit(self, config: Config) -> np.ndarray:
        """Map a config to a point of the unit cube [0, 1]^d (one coordinate per dimension)."""
        self.validate(config)
        return np.array([dim.to_unit(config[name]) for name, dim in self.dimensions.items()])

    def from_unit(self, u: Sequence[float] | np.ndarray) -> Config:
        """Map a point of the unit cube back to a valid config (clipping to [0, 1])."""
        u = np.asarray(u, dtype=float)
        if u.shape != (len(self),):
            raise ValueError(f"expected a vector of length {len(self)}, got shape {u.shape}")
        if not np.all(np.isfinite(u)):
            raise ValueError(f"unit-cube point has NaN or inf: {u}")
        return {name: dim.from_unit(x) for (name, dim), x in zip(self.dimensions.items(), u)}
