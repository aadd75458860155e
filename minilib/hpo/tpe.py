"""Tree-structured Parzen estimator (TPE): model the good and the bad configurations, not f.

Bergstra, Bardenet, Bengio & Kégl, *Algorithms for Hyper-Parameter Optimization*
(NeurIPS 2011), section 4. Instead of p(y | x), TPE models p(x | y) with two densities:

    l(x) = p(x | y < y*)     the "good" trials, the best gamma fraction of them
    g(x) = p(x | y >= y*)    all the others

and shows (eq. 4) that expected improvement below y* is
EI(x) proportional to (gamma + (1 - gamma) g(x) / l(x))^-1: maximise the ratio l(x) / g(x).
Each step therefore

    1) splits the finished trials at the gamma-quantile of their values,
    2) fits a Parzen (kernel density) estimator to each group,
    3) draws ``n_candidates`` (24) points from l and keeps the one with the largest
       log l(x) - log g(x).

The details follow Optuna's ``TPESampler`` (``optuna/samplers/_tpe``), whose defaults
are the de-facto standard:

* split: ``n_below = default_gamma(n) = min(ceil(0.1 n), 25)`` of the n finished trials;
* weights of the observations: 1 each, but with more than 25 the older ones ramp
  down linearly (``default_weights``); a *prior* kernel of weight 1 is added;
* bandwidths (``parzen_bandwidths``): sort the observations with the domain ends
  added; each kernel's sigma is the larger gap to its two neighbours (the outermost
  use the gap to their inner neighbour); the "magic clip" bounds sigma below by
  range / min(100, 1 + number of kernels); the prior kernel sits in the middle with
  sigma = range;
* every kernel is a normal *truncated* to the domain; integers use the probability
  mass of their cell (a discretised truncated normal); a categorical dimension has
  its own estimator: each observation puts weight 1 on its option, plus prior_weight
  / n_kernels on every option;
* ``multivariate=True`` (Optuna's default since v5) treats each observation as one
  kernel over all dimensions (a product), so correlations between hyperparameters are
  kept; ``multivariate=False`` is the original independent TPE, one estimator and one
  argmax per dimension.

We work in the unit cube of ``minilib.space`` (``to_unit``): a log-scale dimension is
modelled in log space, as Optuna does, and the bandwidth rules, being relative to the
range, give the same kernels. Failed trials are ignored (as in Optuna); pending ones
are counted among the bad (Optuna's "constant liar"), so parallel workers spread out.

Chapter 03 ("Tree-structured Parzen estimators") explains every piece.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
from scipy.special import log_ndtr, ndtr, ndtri

from minilib.hpo._checks import check_int
from minilib.space import Choice, Config, Int, Space, config_key
from minilib.study import Searcher, Trial

EPS = 1e-12


# --- the split: how many trials are "good" --------------------------------------------

def default_gamma(n: int) -> int:
    """Optuna's number of good trials among n: min(ceil(0.1 n), 25)."""
    return min(math.ceil(0.1 * n), 25)


def hyperopt_gamma(n: int) -> int:
    """hyperopt's rule: min(ceil(0.25 sqrt(n)), 25)."""
    return min(math.ceil(0.25 * n**0.5), 25)


def default_weights(n: int) -> np.ndarray:
    """Weights of n observations in trial order: ones, but older ones ramp down when n > 25."""
    if n < 25:
        return np.ones(n)
    return np.concatenate([np.linspace(1.0 / n, 1.0, num=n - 25), np.ones(25)])


def split_good_bad(values: Any, n_below: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the ``n_below`` smallest values (good) and of the rest (bad), each in index order."""
    values = np.asarray(values, dtype=float)
    if not 0 <= n_below <= len(values):
        raise ValueError(f"n_below must be in [0, {len(values)}], got {n_below}")
    order = np.argsort(values, kind="stable")
    return np.sort(order[:n_below]), np.sort(order[n_below:])


# --- Parzen estimators in one dimension ------------------------------------------------

def parzen_bandwidths(mus: Any, low: float, high: float, consider_magic_clip: bool = True,
                      consider_endpoints: bool = False) -> np.ndarray:
    """Optuna's bandwidth of each observation's kernel (without the prior kernel).

    sigma_i = max(gap to the left neighbour, gap to the right neighbour) in the sorted
    list [low, mus..., high]; without ``consider_endpoints`` the two outermost kernels
    use the gap to their inner neighbour instead. Clipped to [min_sigma, high - low],
    min_sigma = (high - low) / min(100, 1 + n_kernels) with the magic clip (n_kernels
    counts the prior kernel), else 1e-12.
    """
    mus = np.asarray(mus, dtype=float)
    order = np.argsort(mus)
    padded = np.concatenate([[low], mus[order], [high]])
    sigmas = np.maximum(padded[1:-1] - padded[:-2], padded[2:] - padded[1:-1])
    if not consider_endpoints and len(padded) >= 4:
        sigmas[0] = padded[2] - padded[1]
        sigmas[-1] = padded[-2] - padded[-3]
    sigmas = sigmas[np.argsort(order)]  # back to the order of mus
    min_sigma = (high - low) / min(100.0, 1.0 + len(mus) + 1) if consider_magic_clip else EPS
    return np.clip(sigmas, min_sigma, high - low)


def parzen_components(mus: Any, low: float, high: float, weights: Any = None, prior_weight: float = 1.0,
                      consider_magic_clip: bool = True, consider_endpoints: bool = False
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mixture weights, centres and bandwidths of a 1-D Parzen estimator, prior kernel last.

    With no observation the estimator is the prior alone: weight 1, centre (low + high) / 2,
    sigma = high - low.
    """
    mus = np.asarray(mus, dtype=float)
    if prior_weight <= 0:
        raise ValueError(f"prior_weight must be > 0, got {prior_weight!r}")
    if len(mus) == 0:
        return np.ones(1), np.array([0.5 * (low + high)]), np.array([high - low])
    w = default_weights(len(mus)) if weights is None else np.asarray(weights, dtype=float)
    mixture = _mixture_weights(w, len(mus), prior_weight)
    sigmas = parzen_bandwidths(mus, low, high, consider_magic_clip, consider_endpoints)
    return mixture, np.append(mus, 0.5 * (low + high)), np.append(sigmas, high - low)


def _mixture_weights(weights: np.ndarray, n: int, prior_weight: float) -> np.ndarray:
    if weights.shape != (n,) or np.any(weights < 0) or not np.all(np.isfinite(weights)) or weights.sum() <= 0:
        raise ValueError(f"need {n} finite non-negative weights, not all zero; got {weights!r}")
    mixture = np.append(weights, prior_weight)
    return mixture / mixture.sum()


def categorical_components(indices: Any, n_choices: int, prior_weight: float = 1.0) -> np.ndarray:
    """Per-kernel option probabilities (n_kernels, n_choices) of a categorical Parzen estimator.

    Kernel i puts weight 1 on the observed option plus prior_weight / n_kernels on every
    option, normalised; the last row is the prior (uniform).
    """
    indices = np.asarray(indices, dtype=int)
    if len(indices) == 0:
        return np.full((1, n_choices), 1.0 / n_choices)
    n_kernels = len(indices) + 1
    probs = np.full((n_kernels, n_choices), prior_weight / n_kernels)
    probs[np.arange(len(indices)), indices] += 1.0
    return probs / probs.sum(axis=1, keepdims=True)


# --- truncated normals on [0, 1] -------------------------------------------------------

def _log_mass(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """log(Phi(b) - Phi(a)) for a <= b, accurate in both tails."""
    a, b = np.broadcast_arrays(a, b)
    flip = a > 0  # Phi(b) - Phi(a) = Phi(-a) - Phi(-b): work in the left tail
    lo, hi = np.where(flip, -b, a), np.where(flip, -a, b)
    log_hi, log_lo = log_ndtr(hi), log_ndtr(lo)
    with np.errstate(divide="ignore"):
        return log_hi + np.log1p(-np.exp(np.minimum(log_lo - log_hi, 0.0)))


def sample_truncnorm(mu: np.ndarray, sigma: Any, rng: np.random.Generator) -> np.ndarray:
    """Samples of N(mu, sigma^2) truncated to [0, 1] by inverting the CDF (mu lies in [0, 1]),
    one per entry of ``mu`` (``sigma`` broadcasts). BOHB's KDE samples with it too."""
    cdf_lo, cdf_hi = ndtr((0.0 - mu) / sigma), ndtr((1.0 - mu) / sigma)
    u = cdf_lo + rng.random(mu.shape) * (cdf_hi - cdf_lo)
    return np.clip(mu + sigma * ndtri(np.clip(u, 1e-300, 1 - 1e-16)), 0.0, 1.0)


def _int_cell(dim: Int, u: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For unit points u of an Int dimension: its cell [left, right] and the cell centre."""
    if dim.log:
        a, b = dim.log_bounds()
        v = dim.round(np.exp(a + u * (b - a)))
        return (np.log(v - 0.5) - a) / (b - a), (np.log(v + 0.5) - a) / (b - a), (np.log(v) - a) / (b - a)
    k = int(dim.size())
    i = np.minimum(np.floor(u * k), k - 1)
    return i / k, (i + 1) / k, (i + 0.5) / k


# --- configurations <-> the estimator's coordinates ------------------------------------

def to_internal(space: Space, config: Config) -> np.ndarray:
    """One row: unit coordinate for Float/Int, option index for Choice."""
    row = space.to_unit(config)
    for j, dim in enumerate(space.dimensions.values()):
        if isinstance(dim, Choice):
            row[j] = dim.index(config[space.names[j]])
    return row


def from_internal(space: Space, row: np.ndarray) -> Config:
    """Inverse of ``to_internal``: a valid configuration."""
    config = {}
    for (name, dim), x in zip(space.dimensions.items(), row):
        config[name] = dim.options[int(round(x))] if isinstance(dim, Choice) else dim.from_unit(x)
    return config


class ParzenEstimator:
    """A mixture of product kernels over some dimensions of a space (Optuna's ``_ParzenEstimator``).

    Args:
        space: the search space.
        X: observations, shape (n, len(dims)), in ``to_internal`` coordinates.
        dims: names of the dimensions modelled (default: all, in space order).
        weights: per-observation weights (default ``default_weights(n)``, oldest first).
    """

    def __init__(self, space: Space, X: Any, dims: list[str] | None = None, weights: Any = None,
                 prior_weight: float = 1.0, consider_magic_clip: bool = True, consider_endpoints: bool = False):
        self.dims = list(space.names if dims is None else dims)
        self.kinds = [space[name] for name in self.dims]
        X = np.asarray(X, dtype=float).reshape(-1, len(self.dims))
        n = len(X)
        w = default_weights(n) if weights is None else np.asarray(weights, dtype=float)
        self.weights = np.ones(1) if n == 0 else _mixture_weights(w, n, prior_weight)
        self.params: list[Any] = []  # per dimension: (mus, sigmas) or option probabilities
        for j, dim in enumerate(self.kinds):
            if isinstance(dim, Choice):
                self.params.append(categorical_components(X[:, j], len(dim.options), prior_weight))
            else:
                _, mus, sigmas = parzen_components(X[:, j], 0.0, 1.0, w if n else None, prior_weight,
                                                   consider_magic_clip, consider_endpoints)
                self.params.append((mus, sigmas))

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """n draws, shape (n, len(dims)), in ``to_internal`` coordinates (integers snapped)."""
        kernel = rng.choice(len(self.weights), size=n, p=self.weights)
        out = np.empty((n, len(self.dims)))
        for j, (dim, p) in enumerate(zip(self.kinds, self.params)):
            if isinstance(dim, Choice):
                cum = np.cumsum(p[kernel], axis=1)
                out[:, j] = np.minimum(np.sum(cum < rng.random((n, 1)) * cum[:, -1:], axis=1), len(dim.options) - 1)
            else:
                u = sample_truncnorm(p[0][kernel], p[1][kernel], rng)
                out[:, j] = _int_cell(dim, u)[2] if isinstance(dim, Int) else u
        return out

    def log_pdf(self, X: Any) -> np.ndarray:
        """log density (log probability for integer and categorical parts) of each row of X."""
        X = np.atleast_2d(np.asarray(X, dtype=float))
        total = np.log(self.weights)[None, :].repeat(len(X), axis=0)  # (m, n_kernels)
        for j, (dim, p) in enumerate(zip(self.kinds, self.params)):
            x = X[:, j:j + 1]
            if isinstance(dim, Choice):
                total += np.log(p[:, x[:, 0].astype(int)].T)
                continue
            mus, sigmas = p
            log_z = _log_mass((0.0 - mus) / sigmas, (1.0 - mus) / sigmas)  # truncation to [0, 1]
            if isinstance(dim, Int):
                left, right, _ = _int_cell(dim, x)
                total += _log_mass((left - mus) / sigmas, (right - mus) / sigmas) - log_z
            else:
                zx = (x - mus) / sigmas
                total += -0.5 * zx**2 - 0.5 * math.log(2 * math.pi) - np.log(sigmas) - log_z
        top = total.max(axis=1, keepdims=True)
        top[~np.isfinite(top)] = 0.0
        return (top + np.log(np.exp(total - top).sum(axis=1, keepdims=True)))[:, 0]


# --- the searcher ----------------------------------------------------------------------

class TPE(Searcher):
    """TPE sampler (minimises), with Optuna's defaults.

    Args:
        space: the search space.
        gamma: ``n -> number of good trials`` (default ``default_gamma``), or a fraction
            in (0, 1] meaning ceil(gamma n).
        n_initial: random trials before the model is used (Optuna's ``n_startup_trials``: 10;
            the same name as ``BayesOpt``'s). ``n_startup`` is its older name, still accepted.
        n_candidates: draws from l(x) per proposal (Optuna: 24).
        prior_weight, consider_magic_clip, consider_endpoints: see ``parzen_bandwidths``.
        weights: ``n -> weights`` of the observations in trial order.
        multivariate: one product kernel per observation (True, Optuna >= 5) or one
            independent estimator per dimension (False, Bergstra et al. 2011).
        seed: makes the search reproducible.

    Each trial's ``meta["phase"]`` is ``"initial"`` (random) or ``"model"``.
    """

    def __init__(self, space: Space, gamma: Callable[[int], int] | float = default_gamma, n_initial: int = 10,
                 n_candidates: int = 24, prior_weight: float = 1.0, consider_magic_clip: bool = True,
                 consider_endpoints: bool = False, weights: Callable[[int], np.ndarray] = default_weights,
                 multivariate: bool = True, seed: int | None = None, n_startup: int | None = None):
        super().__init__(space, seed)
        if n_startup is not None:
            warnings.warn("TPE(n_startup=...) is now TPE(n_initial=...)", DeprecationWarning, stacklevel=2)
            n_initial = n_startup
        if isinstance(gamma, (int, float)) and not isinstance(gamma, bool):
            if not 0 < gamma <= 1:
                raise ValueError(f"a numeric gamma is a fraction in (0, 1], got {gamma!r}")
            fraction = float(gamma)
            gamma = lambda n: math.ceil(fraction * n)
        if not callable(gamma):
            raise TypeError(f"gamma must be a function n -> n_below or a fraction, got {gamma!r}")
        if not prior_weight > 0:
            raise ValueError(f"prior_weight must be > 0, got {prior_weight!r}")
        self.gamma = gamma
        self.n_initial = check_int("n_initial", n_initial)
        self.n_candidates = check_int("n_candidates", n_candidates, 1)
        self.weights = weights
        self.multivariate = multivariate
        self._pe_options = {"prior_weight": prior_weight, "consider_magic_clip": consider_magic_clip,
                            "consider_endpoints": consider_endpoints}
        self._seen: set[str] = set()

    @property
    def n_startup(self) -> int:
        """The older name of ``n_initial``."""
        return self.n_initial

    def split(self) -> tuple[list[Trial], list[Trial]]:
        """The good (below y*) and bad trials, each in trial order; pending trials count as bad."""
        ok = [t for t in self.trials if t.ok]
        n_below = min(int(self.gamma(len(ok))), len(ok))
        below, above = split_good_bad([t.value for t in ok], n_below)
        pending = [t for t in self.trials if t.status == "pending"]
        bad = sorted([ok[i] for i in above] + pending, key=lambda t: t.number)
        return [ok[i] for i in below], bad

    def estimators(self, dims: list[str] | None = None) -> tuple[ParzenEstimator, ParzenEstimator]:
        """l(x) and g(x) fitted to the current good and bad trials (over ``dims``, default all)."""
        dims = self.space.names if dims is None else dims
        columns = [self.space.names.index(name) for name in dims]
        good, bad = self.split()

        def fit(trials: list[Trial]) -> ParzenEstimator:
            X = np.array([to_internal(self.space, t.config)[columns] for t in trials]).reshape(-1, len(dims))
            return ParzenEstimator(self.space, X, dims, self.weights(len(trials)), **self._pe_options)

        return fit(good), fit(bad)

    def _best_candidate(self, dims: list[str], avoid_seen: bool) -> tuple[np.ndarray, float]:
        good, bad = self.estimators(dims)  # l(x) and g(x)
        candidates = good.sample(self.n_candidates, self.rng)
        score = good.log_pdf(candidates) - bad.log_pdf(candidates)  # log l(x) - log g(x)
        order = np.argsort(-score, kind="stable")
        if avoid_seen:  # in a discrete space, prefer a configuration not tried yet
            for i in order:
                if config_key(from_internal(self.space, candidates[i])) not in self._seen:
                    return candidates[i], float(score[i])
        return candidates[order[0]], float(score[order[0]])

    def ask(self) -> Trial | None:
        n_ok = sum(t.ok for t in self.trials)
        if n_ok < self.n_initial:
            config, meta = self.space.sample(1, rng=self.rng)[0], {"phase": "initial"}
        elif self.multivariate:
            row, score = self._best_candidate(self.space.names, avoid_seen=self.space.is_discrete())
            config, meta = from_internal(self.space, row), {"phase": "model", "log_ratio": score}
        else:
            row = np.array([self._best_candidate([name], avoid_seen=False)[0][0] for name in self.space.names])
            config, meta = from_internal(self.space, row), {"phase": "model"}
        self._seen.add(config_key(config))
        return self._new_trial(config, **meta)
