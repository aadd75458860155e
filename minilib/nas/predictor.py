"""A learned performance predictor: guess an architecture's accuracy from its encoding.

Progressive NAS (Liu et al., ECCV 2018, "PNAS") trains a *surrogate* on the architectures
evaluated so far and uses it to rank thousands of candidates it has not trained, so only the
most promising ones are trained for real. PNAS's surrogate is an ensemble of LSTMs or MLPs; the
idea does not depend on the model, so this module uses the simplest one that can capture how
operations interact: ridge regression on

* the **one-hot encoding** of the cell: one feature per (edge, operation), 6 x 5 = 30; and
* optionally their **pairwise products** (``interactions=True``): "conv3 on 0->1 *and* none on
  1->3", which a linear model on one-hot features cannot express (an operation is only useful
  if a path carries its output to the output node).

The fit is the closed form ``w = (X^T X + lam I)^{-1} X^T y`` on centred targets. A predictor is
judged by how well it *ranks* (Kendall's tau with the truth), not by its squared error: a search
only needs to know which candidate is better.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

import numpy as np

from minilib.space import Config, Space


def one_hot(configs: list[Config], space: Space) -> np.ndarray:
    """``(n, sum of options)`` 0/1 matrix: for each dimension of ``space`` (a ``Choice``), one
    column per option, 1 where the config takes it."""
    columns = []
    for name, dim in space.dimensions.items():
        chosen = np.array([dim.index(config[name]) for config in configs])
        columns.append(chosen[:, None] == np.arange(len(dim.options))[None, :])
    return np.concatenate(columns, axis=1).astype(np.float64)


def features(configs: list[Config], space: Space, interactions: bool = True) -> np.ndarray:
    """The one-hot encoding, followed (``interactions=True``) by the products of every pair of
    one-hot columns that belong to *different* dimensions (same-dimension pairs are always 0)."""
    x = one_hot(configs, space)
    if not interactions:
        return x
    owner = np.concatenate([np.full(len(dim.options), k) for k, dim in enumerate(space.dimensions.values())])
    pairs = [(a, b) for a, b in combinations(range(x.shape[1]), 2) if owner[a] != owner[b]]
    return np.concatenate([x, np.stack([x[:, a] * x[:, b] for a, b in pairs], axis=1)], axis=1)


@dataclass
class RidgePredictor:
    """Ridge regression on ``features``: ``fit(configs, values)`` then ``predict(configs)``."""

    space: Space
    lam: float = 1.0
    interactions: bool = True

    def fit(self, configs: list[Config], values: np.ndarray) -> RidgePredictor:
        if len(configs) != len(values) or len(configs) == 0:
            raise ValueError(f"need as many values as configs (at least one); got {len(values)} and {len(configs)}")
        if not self.lam > 0:
            raise ValueError(f"lam must be positive, got {self.lam!r}")
        y = np.asarray(values, dtype=np.float64)
        x = features(configs, self.space, self.interactions)
        self.mean_ = float(y.mean())
        gram = x.T @ x + self.lam * np.eye(x.shape[1])
        self.weights_ = np.linalg.solve(gram, x.T @ (y - self.mean_))
        return self

    def predict(self, configs: list[Config]) -> np.ndarray:
        return self.mean_ + features(configs, self.space, self.interactions) @ self.weights_


def kendall_tau(a: np.ndarray, b: np.ndarray) -> float:
    """Kendall's rank correlation tau-b of two score vectors (``scipy.stats.kendalltau``): +1 when
    they order every pair the same way, 0 for unrelated orders, -1 for reversed ones."""
    from scipy.stats import kendalltau

    return float(kendalltau(np.asarray(a), np.asarray(b)).statistic)
