"""BOHB: Hyperband whose new configurations come from a model instead of uniform sampling.

Hyperband starts every bracket from random configurations, so it never gets better at
*choosing* what to try. BOHB (Falkner, Klein & Hutter, ICML 2018) keeps Hyperband's
brackets and replaces the sampler by a TPE-like model, following HpBandSter's
``optimizers/config_generators/bohb.py``:

1. Results are stored per budget. A model is fitted on the *largest budget* that has
   at least ``min_points_in_model`` (default d + 1) results and enough good and bad ones.
2. The results on that budget are split: the best ``n_good = max(d + 1, 15 % of N)`` are
   "good", the next ``n_bad = max(d + 1, 85 % of N)`` are "bad". Failed runs count as +inf.
3. A product kernel density estimate is fitted to each group: ``l(x)`` (good) and ``g(x)``
   (bad), with normal-reference bandwidths ``h = 1.06 * std * N^(-1/(4+d))`` per dimension,
   at least ``min_bandwidth``.
4. With probability ``random_fraction`` (1/3) the next config is uniform at random (this
   keeps the guarantees of Hyperband). Otherwise ``num_samples`` (64) candidates are drawn
   from ``l`` with bandwidths widened by ``bandwidth_factor`` (3), and the one with the
   largest ``l(x) / g(x)`` is returned (TPE's expected-improvement criterion).

The KDE works on TPE's vector view of a config (``minilib.hpo.tpe.to_internal``): Float and
Int dimensions as their unit-cube coordinate (``space.to_unit``; Gaussian kernel), Choice
dimensions as the option index (Aitchison-Aitken kernel: weight ``1 - h`` on the same option,
``h / (c - 1)`` on each other).
Two deviations from statsmodels' ``KDEMultivariate`` (which HpBandSter calls): ``c`` is
the number of options of the Choice (statsmodels counts the values present in the data,
which breaks when only one is), and a categorical bandwidth is capped at ``(c - 1) / c``
(the uniform kernel), so that ``1 - h`` never goes negative.

In a discrete space the model collapses: once the good results share their values, every
bandwidth drops to ``min_bandwidth`` and BOHB proposes the same configuration again and
again (HpBandSter issue #53: BOHB "does not actively try to keep the evaluated
configurations different"). On the book's tabular benchmark (2016 configurations) about
two thirds of the configurations HpBandSter's rules start are repeats, and the search ends
worse than random search. So minilib's BOHB skips candidates that were started before
(``avoid_duplicates=True``, the default and our one deviation from HpBandSter): on a
continuous space, the setting of the paper, a repeat has probability zero and nothing
changes; ``avoid_duplicates=False`` gives HpBandSter's exact behaviour.

Chapter 04 ("Multi-fidelity HPO") walks through this module.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from minilib.hpo.hyperband import Hyperband
from minilib.hpo.tpe import from_internal, sample_truncnorm, to_internal
from minilib.space import Choice, Config, Space
from minilib.study import Trial

# --- 1) the vector view of a configuration --------------------------------------------------------

def levels(space: Space) -> np.ndarray:
    """Per dimension: the number of options of a Choice, 0 for a continuous (Float/Int) one."""
    return np.array([len(d.options) if isinstance(d, Choice) else 0 for d in space.dimensions.values()])


#: unit-cube coordinate for Float/Int, option index (0, 1, ...) for Choice: TPE's view (``minilib.hpo.tpe``)
to_vector, from_vector = to_internal, from_internal


# --- 2) the product-kernel density estimate -------------------------------------------------------

def normal_reference_bandwidth(data: np.ndarray) -> np.ndarray:
    """Scott's rule of thumb per dimension: ``1.06 * std * n^(-1/(4+d))`` (statsmodels' normal_reference)."""
    n, d = data.shape
    return 1.06 * data.std(axis=0) * n ** (-1.0 / (4 + d))


class ProductKDE:
    """``p(x) = 1/n * sum_j prod_k K_k(x_k, X_jk)``: Gaussian kernels (density ``phi((x - X)/h) / h``)
    on continuous dimensions, Aitchison-Aitken kernels on categorical ones."""

    def __init__(self, data: np.ndarray, levels: np.ndarray, min_bandwidth: float = 1e-3):
        data = np.atleast_2d(np.asarray(data, dtype=float))
        if data.shape[1] != len(levels) or len(data) == 0:
            raise ValueError(f"data must have shape (n >= 1, {len(levels)}), got {data.shape}")
        self.data, self.levels = data, np.asarray(levels)
        self.categorical = self.levels > 0
        bw = np.maximum(normal_reference_bandwidth(data), min_bandwidth)
        cap = np.where(self.categorical, (self.levels - 1) / np.maximum(self.levels, 1), np.inf)
        self.bandwidth = np.minimum(bw, cap)

    def pdf(self, x: np.ndarray) -> np.ndarray:
        """Density at each row of ``x`` (shape ``(m, d)``, or ``(d,)`` for one point)."""
        x = np.atleast_2d(np.asarray(x, dtype=float))
        diff = x[:, None, :] - self.data[None, :, :]                       # (m, n, d)
        h = self.bandwidth
        gauss = np.exp(-0.5 * (diff / h) ** 2) / (np.sqrt(2 * np.pi) * h)
        c = np.maximum(self.levels, 2)
        same = np.abs(diff) < 0.5
        aitchison = np.where(same, 1 - h, h / (c - 1))
        kernel = np.where(self.categorical, aitchison, gauss)                # (m, n, d)
        return kernel.prod(axis=2).mean(axis=1)

    def sample(self, n: int, rng: np.random.Generator, bandwidth_factor: float = 1.0) -> np.ndarray:
        """``n`` draws: pick a data point, then per dimension a truncated normal on [0, 1]
        (bandwidth x ``bandwidth_factor``) or, for a Choice, keep its option with probability
        ``1 - h`` and draw a uniform option otherwise (as HpBandSter does)."""
        rows = self.data[rng.integers(len(self.data), size=n)]               # (n, d)
        cont = sample_truncnorm(rows, self.bandwidth * bandwidth_factor, rng)   # a normal cut to [0, 1]
        keep = rng.random(rows.shape) < 1 - self.bandwidth
        other = np.floor(rng.random(rows.shape) * np.maximum(self.levels, 1))
        cat = np.where(keep, rows, other)
        return np.where(self.categorical, cat, cont)


# --- 3) BOHB: Hyperband + the model ---------------------------------------------------------------

class BOHB(Hyperband):
    """Hyperband (``minilib.hpo.hyperband``) with HpBandSter's KDE configuration sampler.

    Arguments beyond Hyperband's keep HpBandSter's names and defaults, except
    ``avoid_duplicates`` (True here; see the module docstring). Each trial that starts a new
    configuration has ``meta["phase"]``: ``"model"`` when the model chose it, else ``"random"``
    (and ``meta["model_based"]``, the same as a bool, the name chapter 04 first used).

    The model is BOHB's ``sample_config``, the hook every multi-fidelity searcher takes new
    configurations from; the brackets are Hyperband's, unchanged.
    """

    def __init__(self, space: Space, max_budget: float = 27, min_budget: float = 1, eta: int = 3,
                 seed: int | None = None, variant: str = "pseudocode", n_iterations: int | None = None,
                 top_n_percent: int = 15, min_points_in_model: int | None = None,
                 random_fraction: float = 1 / 3, num_samples: int = 64, bandwidth_factor: float = 3,
                 min_bandwidth: float = 1e-3, avoid_duplicates: bool = True,
                 sampler: Callable[[Any], Config] | None = None):
        super().__init__(space, max_budget, min_budget, eta, seed, variant, n_iterations, avoid_duplicates, sampler)
        d = len(space)
        self.min_points_in_model = max(d + 1, min_points_in_model or 0)
        self.top_n_percent, self.random_fraction = top_n_percent, random_fraction
        self.num_samples, self.bandwidth_factor, self.min_bandwidth = num_samples, bandwidth_factor, min_bandwidth
        self.levels = levels(space)
        self.observations: dict[float, list[tuple[np.ndarray, float]]] = {}  # budget -> [(vector, loss)]

    def tell(self, trial: Trial, value: Any, error: str | None = None) -> Trial:
        super().tell(trial, value, error)
        loss = trial.value if trial.ok else np.inf          # crashed runs count as bad
        self.observations.setdefault(trial.budget, []).append((to_vector(self.space, trial.config), loss))
        return trial

    def fit_model(self, budget: float) -> tuple[ProductKDE, ProductKDE] | None:
        """KDEs ``(l, g)`` of the good and bad results on ``budget``; None if too few points."""
        obs = self.observations.get(budget, [])
        if len(obs) < self.min_points_in_model:
            return None
        X = np.array([v for v, _ in obs])
        losses = np.array([loss for _, loss in obs])
        order = np.argsort(losses, kind="stable")
        n, d = X.shape
        n_good = max(self.min_points_in_model, (self.top_n_percent * n) // 100)
        n_bad = max(self.min_points_in_model, ((100 - self.top_n_percent) * n) // 100)
        good, bad = X[order[:n_good]], X[order[n_good:n_good + n_bad]]
        if len(good) <= d or len(bad) <= d:                  # a KDE in d dims needs more than d points
            return None
        return ProductKDE(good, self.levels, self.min_bandwidth), ProductKDE(bad, self.levels, self.min_bandwidth)

    def model(self) -> tuple[float, ProductKDE, ProductKDE] | None:
        """The model on the largest budget that has one: ``(budget, l, g)``."""
        for budget in sorted(self.observations, reverse=True):
            kdes = self.fit_model(budget)
            if kdes is not None:
                return (budget, *kdes)
        return None

    def sample_config(self, budget: float) -> Config:
        """With probability ``random_fraction``, or while there is no model: uniform (Hyperband's).
        Otherwise the candidate of ``num_samples`` draws from ``l`` with the smallest ``g(x) / l(x)``."""
        model = self.model()
        if model is None or self.rng.random() < self.random_fraction:
            return super().sample_config(budget)             # uniform; sets self.phase = "random"
        _, good, bad = model
        candidates = good.sample(self.num_samples, self.rng, self.bandwidth_factor)
        score = np.maximum(bad.pdf(candidates), 1e-32) / np.maximum(good.pdf(candidates), 1e-32)  # g / l
        configs = [from_vector(self.space, c) for c in candidates]
        if self.avoid_duplicates:                             # extension: skip configurations seen before
            score = np.where([self.is_new(c) for c in configs], score, np.inf)
            if np.isinf(score).all():
                return super().sample_config(budget)
        self.phase = "model"
        return configs[int(np.argmin(score))]

    def ask(self) -> Trial | None:
        trial = super().ask()
        if trial is not None and "phase" in trial.meta:
            trial.meta["model_based"] = trial.meta["phase"] == "model"   # the older name
        return trial
