"""Exercise 00 (part 1): a validation split without leakage, and standardising with training statistics.

Chapter 00 ("Introduction") tunes on a validation split and reports the test split once. Both
functions below are the first line of defence against an optimistic number: the validation set must
be disjoint from the training set, keep the class balance, and be reproducible; and every statistic
used to preprocess the data must come from the training set only.

Do not import ``minilib.data`` (it has a split of its own): write the split yourself with numpy.
"""

from __future__ import annotations

import numpy as np


def train_val_split(y: np.ndarray, val_fraction: float = 0.2, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Split the indices ``0 .. len(y) - 1`` into a training and a validation part, stratified by class.

    For every class ``c`` (in the order of ``np.unique(y)``) shuffle the indices of that class with one
    ``np.random.default_rng(seed)`` generator and put ``round(val_fraction * n_c)`` of them into the
    validation part, the rest into the training part. Return ``(train_idx, val_idx)``: two sorted
    ``np.int64`` arrays, disjoint, together covering every index exactly once.

    Raise ``ValueError`` unless ``0 < val_fraction < 1``.

    >>> train_val_split(np.array([0, 0, 1, 1, 1, 1]), val_fraction=0.5, seed=0)[1].size
    3
    """
    ### BEGIN SOLUTION
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction!r}")
    y = np.asarray(y)
    rng = np.random.default_rng(seed)
    train, val = [], []
    for c in np.unique(y):
        members = rng.permutation(np.flatnonzero(y == c))
        n_val = int(round(val_fraction * len(members)))
        val.append(members[:n_val])
        train.append(members[n_val:])
    return np.sort(np.concatenate(train)).astype(np.int64), np.sort(np.concatenate(val)).astype(np.int64)
    ### END SOLUTION


def fit_standardizer(X_train: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature mean and standard deviation of the training inputs ``X_train`` (shape ``(n, d)``).

    Return ``(mean, std)``, two float arrays of shape ``(d,)`` (``std`` with ``ddof=0``). A constant
    feature has standard deviation 0: return 1 for it instead, so that dividing by ``std`` is safe.
    """
    ### BEGIN SOLUTION
    X_train = np.asarray(X_train, dtype=float)
    mean = X_train.mean(axis=0)
    std = X_train.std(axis=0)
    return mean, np.where(std > 0, std, 1.0)
    ### END SOLUTION


def standardize(X: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """Return ``(X - mean) / std`` as a new float array; ``X`` itself must not change.

    Use it with the statistics of the *training* set for every split (train, validation, test).
    """
    ### BEGIN SOLUTION
    return (np.asarray(X, dtype=float) - mean) / std
    ### END SOLUTION


def validation_accuracy(X: np.ndarray, y: np.ndarray, fit, predict, val_fraction: float = 0.2, seed: int = 0) -> float:
    """The whole protocol of chapter 00 for one model: split, standardise with training statistics, fit, score.

    1. ``train, val = train_val_split(y, val_fraction, seed)``;
    2. ``mean, std = fit_standardizer(X[train])`` and standardise both parts with them;
    3. ``model = fit(X_train, y[train])`` with the standardised training inputs;
    4. return the validation accuracy ``mean(predict(model, X_val) == y[val])`` as a ``float``.

    ``fit`` and ``predict`` are any model's functions (a nearest-centroid classifier in the tests).
    """
    ### BEGIN SOLUTION
    train, val = train_val_split(y, val_fraction, seed)
    mean, std = fit_standardizer(X[train])
    model = fit(standardize(X[train], mean, std), y[train])
    predictions = np.asarray(predict(model, standardize(X[val], mean, std)))
    return float(np.mean(predictions == np.asarray(y)[val]))
    ### END SOLUTION
