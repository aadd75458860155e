"""The book's data sets, each with fixed train / validation / test splits.

Nothing is downloaded. MNIST-1D is generated offline by the ``mnist1d`` package's own
generator and cached under ``datasets/``; the digits come with scikit-learn; the
synthetic sets are drawn from a seed.

Hyperparameter searches in the book tune on the *validation* split and report the
*test* split once, at the end: tuning on the test set would make the reported number
optimistic.
"""

from __future__ import annotations

import hashlib
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

DATASETS_DIR = Path(__file__).resolve().parent.parent / "datasets"
MNIST1D_FILE = DATASETS_DIR / "mnist1d.npz"
#: sha256 of the arrays' bytes (x_train, y_train, x_val, y_val, x_test, y_test, in that order)
MNIST1D_SHA256 = "722c4eda8a274488b4c86632508adcdb5f70b4a1156346954e9c5631e2b3eb6b"


@dataclass
class Dataset:
    """Arrays of one data set: inputs ``X_*`` (float32) and targets ``y_*``."""

    name: str
    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    n_classes: int | None = None

    def __repr__(self) -> str:
        return (f"Dataset({self.name!r}, train={self.X_train.shape}, val={self.X_val.shape}, "
                f"test={self.X_test.shape}, n_classes={self.n_classes})")

    @property
    def n_features(self) -> int:
        return int(np.prod(self.X_train.shape[1:]))


def split_indices(n: int, fractions: tuple[float, float, float], seed: int,
                  stratify: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Shuffle ``range(n)`` with ``seed`` and cut it into train / validation / test indices.

    With ``stratify`` (class labels) each class is cut in the same proportions, so small
    splits keep the class balance. The three index sets are disjoint and cover ``range(n)``.
    """
    if len(fractions) != 3 or any(f < 0 for f in fractions) or not np.isclose(sum(fractions), 1.0):
        raise ValueError(f"fractions must be three non-negative numbers summing to 1, got {fractions}")
    rng = np.random.default_rng(seed)
    groups = [np.arange(n)] if stratify is None else [np.flatnonzero(stratify == c) for c in np.unique(stratify)]
    parts: list[list[np.ndarray]] = [[], [], []]
    for group in groups:
        group = rng.permutation(group)
        n_train = int(round(fractions[0] * len(group)))
        n_val = int(round(fractions[1] * len(group)))
        for part, chunk in zip(parts, np.split(group, [n_train, n_train + n_val])):
            part.append(chunk)
    return tuple(np.sort(np.concatenate(p)) for p in parts)  # type: ignore[return-value]


# --- MNIST-1D -----------------------------------------------------------------------

def _arrays_sha256(arrays: list[np.ndarray]) -> str:
    digest = hashlib.sha256()
    for a in arrays:
        digest.update(np.ascontiguousarray(a).tobytes())
    return digest.hexdigest()


def generate_mnist1d() -> dict[str, np.ndarray]:
    """Generate MNIST-1D with the ``mnist1d`` package (no download).

    Train and test are the standard data set (5,000 sequences, seed 42, 4,000 / 1,000);
    the validation split is 1,000 more sequences from the same generator with seed 43.
    """
    from mnist1d.data import get_dataset_args, make_dataset

    standard = make_dataset(get_dataset_args())
    extra_args = get_dataset_args()
    extra_args.num_samples, extra_args.train_split, extra_args.seed = 1000, 1.0 - 1e-9, 43
    extra = make_dataset(extra_args)
    x_val = np.concatenate([extra["x"], extra["x_test"]])[:1000]
    y_val = np.concatenate([extra["y"], extra["y_test"]])[:1000]
    return {"x_train": standard["x"].astype(np.float32), "y_train": standard["y"].astype(np.int64),
            "x_val": x_val.astype(np.float32), "y_val": y_val.astype(np.int64),
            "x_test": standard["x_test"].astype(np.float32), "y_test": standard["y_test"].astype(np.int64)}


_MNIST1D_KEYS = ["x_train", "y_train", "x_val", "y_val", "x_test", "y_test"]


def load_mnist1d(path: str | Path | None = None) -> Dataset:
    """MNIST-1D: sequences of length 40, 10 classes; 4,000 train / 1,000 val / 1,000 test.

    Read from ``datasets/mnist1d.npz`` and checked against ``MNIST1D_SHA256``. If the file
    is missing it is generated (about a second) and written there.
    """
    path = Path(path) if path is not None else MNIST1D_FILE
    if path.exists():
        with np.load(path) as f:
            arrays = {k: f[k] for k in _MNIST1D_KEYS}
        digest = _arrays_sha256([arrays[k] for k in _MNIST1D_KEYS])
        if digest != MNIST1D_SHA256:
            raise ValueError(f"{path} does not match its sha256 ({digest[:12]}… != {MNIST1D_SHA256[:12]}…): "
                             "the file is damaged or from another version. Delete it and it will be rebuilt.")
    else:
        arrays = generate_mnist1d()
        digest = _arrays_sha256([arrays[k] for k in _MNIST1D_KEYS])
        if digest != MNIST1D_SHA256:
            warnings.warn("the regenerated MNIST-1D differs from the book's copy (another mnist1d or numpy "
                          "version?); results may differ slightly from the printed ones", stacklevel=2)
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(path, **arrays)
    return Dataset("mnist1d", arrays["x_train"], arrays["y_train"], arrays["x_val"], arrays["y_val"],
                   arrays["x_test"], arrays["y_test"], n_classes=10)


# --- scikit-learn's digits ----------------------------------------------------------

def load_digits(seed: int = 0) -> Dataset:
    """scikit-learn's bundled 8x8 digits (1,797 images), flattened to 64 features in [0, 1].

    Split 60 / 20 / 20 per class with ``seed`` (the default split is the book's fixed one).
    """
    from sklearn.datasets import load_digits as sklearn_digits

    digits = sklearn_digits()
    X, y = (digits.data / 16.0).astype(np.float32), digits.target.astype(np.int64)
    tr, va, te = split_indices(len(X), (0.6, 0.2, 0.2), seed=seed, stratify=y)
    return Dataset("digits", X[tr], y[tr], X[va], y[va], X[te], y[te], n_classes=10)


# --- synthetic sets -----------------------------------------------------------------

def make_moons(n: int = 600, noise: float = 0.2, seed: int = 0) -> Dataset:
    """Two interleaving half circles (2 features, 2 classes), split 60 / 20 / 20."""
    from sklearn.datasets import make_moons as sklearn_moons

    X, y = sklearn_moons(n_samples=n, noise=noise, random_state=seed)
    tr, va, te = split_indices(n, (0.6, 0.2, 0.2), seed=seed, stratify=y)
    X, y = X.astype(np.float32), y.astype(np.int64)
    return Dataset("moons", X[tr], y[tr], X[va], y[va], X[te], y[te], n_classes=2)


def make_regression_1d(n: int = 200, noise: float = 0.1, seed: int = 0) -> Dataset:
    """y = sin(3x) + x/2 + noise for x uniform in [-2, 2]; 1 feature, split 60 / 20 / 20."""
    rng = np.random.default_rng(seed)
    X = rng.uniform(-2, 2, size=(n, 1))
    y = np.sin(3 * X[:, 0]) + X[:, 0] / 2 + noise * rng.standard_normal(n)
    tr, va, te = split_indices(n, (0.6, 0.2, 0.2), seed=seed)
    X, y = X.astype(np.float32), y.astype(np.float32)
    return Dataset("regression_1d", X[tr], y[tr], X[va], y[va], X[te], y[te], n_classes=None)
