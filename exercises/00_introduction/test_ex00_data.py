"""Graded tests for ex00_data.py (a stratified validation split; standardising with training statistics)."""

import ex00_data as ex
import excheck as check
import numpy as np
import pytest

FORBIDDEN_IMPORTS = ["minilib.data"]


def _labels(seed=0, n=300, k=4):
    return np.random.default_rng(seed).integers(0, k, n)


def _check_split(out, y, val_fraction):
    train, val = check.sequence(out, 2, "(train_idx, val_idx)")
    for name, part in (("train_idx", train), ("val_idx", val)):
        check.array(part, shape=(None,), what=name)
        assert np.issubdtype(part.dtype, np.integer), f"{name} should hold integers, got dtype {part.dtype}"
    train = check.array(train, shape=(None,), what="train_idx", dtype=np.int64)
    val = check.array(val, shape=(None,), what="val_idx", dtype=np.int64)
    both = np.concatenate([train, val])
    assert np.array_equal(np.sort(both), np.arange(len(y))), "every index exactly once"
    assert np.array_equal(train, np.sort(train)) and np.array_equal(val, np.sort(val)), "sorted indices"
    for c in np.unique(y):
        n_c = int(np.sum(y == c))
        assert int(np.sum(y[val] == c)) == int(round(val_fraction * n_c)), f"class {c} is not stratified"
    return train, val


@pytest.mark.points(2)
def test_split_is_disjoint_complete_and_stratified():
    y = _labels()
    _check_split(ex.train_val_split(y, 0.2, seed=0), y, 0.2)


@pytest.mark.points(1)
def test_split_is_reproducible_and_depends_on_the_seed():
    y = _labels(1)
    a = _check_split(ex.train_val_split(y, 0.25, seed=3), y, 0.25)
    b = _check_split(ex.train_val_split(y, 0.25, seed=3), y, 0.25)
    c = _check_split(ex.train_val_split(y, 0.25, seed=4), y, 0.25)
    assert np.array_equal(a[1], b[1])
    assert not np.array_equal(a[1], c[1])


@pytest.mark.points(1)
@pytest.mark.hidden
def test_split_imbalanced_labels_and_bad_fractions():
    y = np.array(["cat"] * 5 + ["dog"] * 50 + ["eel"] * 2)
    _check_split(ex.train_val_split(y, 0.5, seed=7), y, 0.5)
    for bad in (0.0, 1.0, -0.1, 1.5):
        with pytest.raises(ValueError):
            ex.train_val_split(y, bad, seed=0)


def _check_stats(out, d):
    mean, std = check.sequence(out, 2, "(mean, std)")
    return check.array(mean, shape=(d,), what="mean"), check.array(std, shape=(d,), what="std")


@pytest.mark.points(1)
def test_standardizer_uses_training_statistics():
    rng = np.random.default_rng(0)
    X_train = rng.normal([1.0, -2.0, 10.0], [2.0, 0.5, 3.0], size=(200, 3))
    mean, std = _check_stats(ex.fit_standardizer(X_train), 3)
    np.testing.assert_allclose(mean, X_train.mean(axis=0))
    np.testing.assert_allclose(std, X_train.std(axis=0))
    Z = check.array(ex.standardize(X_train, mean, std), shape=X_train.shape, what="standardize(X_train)")
    np.testing.assert_allclose(Z.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(Z.std(axis=0), 1.0, atol=1e-12)


@pytest.mark.points(1)
def test_validation_data_is_not_refitted():
    rng = np.random.default_rng(1)
    X_train = rng.normal(0.0, 1.0, size=(100, 2))
    X_val = rng.normal(5.0, 2.0, size=(30, 2))           # shifted: its own statistics would differ
    mean, std = _check_stats(ex.fit_standardizer(X_train), 2)
    before = X_val.copy()
    Z_val = check.array(ex.standardize(X_val, mean, std), shape=X_val.shape, what="standardize(X_val)")
    assert np.array_equal(X_val, before), "standardize must not change its input"
    check.close(Z_val, (X_val - X_train.mean(0)) / X_train.std(0), what="standardize(X_val)")
    assert np.all(Z_val.mean(axis=0) > 2.0)


@pytest.mark.points(1)
@pytest.mark.hidden
def test_constant_feature_and_integer_input():
    X = np.array([[1, 7], [2, 7], [3, 7], [4, 7]])
    mean, std = _check_stats(ex.fit_standardizer(X), 2)
    np.testing.assert_allclose(std, [np.std([1, 2, 3, 4]), 1.0])
    Z = check.array(ex.standardize(X, mean, std), shape=(4, 2), what="standardize(X)")
    assert np.all(np.isfinite(Z))
    np.testing.assert_allclose(Z[:, 1], 0.0)
    np.testing.assert_allclose(Z[:, 0], (np.arange(1, 5) - 2.5) / np.std([1, 2, 3, 4]))


# --- task 3: the whole validation protocol (end to end) --------------------------------------------------

def _centroid_fit(X, y):
    classes = np.unique(y)
    return classes, np.stack([X[y == c].mean(axis=0) for c in classes])


def _centroid_predict(model, X):
    classes, centres = model
    return classes[np.argmin(((X[:, None, :] - centres[None]) ** 2).sum(-1), axis=1)]


def _reference_accuracy(X, y, val_fraction, seed):
    rng = np.random.default_rng(seed)
    train, val = [], []
    for c in np.unique(y):
        members = rng.permutation(np.flatnonzero(y == c))
        n_val = int(round(val_fraction * len(members)))
        val.append(members[:n_val])
        train.append(members[n_val:])
    train, val = np.sort(np.concatenate(train)), np.sort(np.concatenate(val))
    mean, std = X[train].mean(axis=0), X[train].std(axis=0)
    std = np.where(std > 0, std, 1.0)
    model = _centroid_fit((X[train] - mean) / std, y[train])
    return float(np.mean(_centroid_predict(model, (X[val] - mean) / std) == y[val]))


def _blobs(seed, n=240, d=3, k=3, spread=1.5):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    scales = rng.uniform(0.1, 50.0, d)            # features on very different scales: standardising matters
    X = (rng.normal(size=(k, d))[y] * spread + rng.normal(size=(n, d))) * scales + rng.normal(0, 100, d)
    return X, y


@pytest.mark.points(1)
def test_validation_accuracy_of_a_nearest_centroid_model():
    X, y = _blobs(0)
    seen = []

    def fit(X_train, y_train):
        seen.append(X_train)
        return _centroid_fit(X_train, y_train)

    acc = check.number(ex.validation_accuracy(X, y, fit, _centroid_predict, 0.25, seed=1), "the accuracy")
    check.approx(acc, _reference_accuracy(X, y, 0.25, 1), abs=1e-12, what="validation accuracy")
    assert len(seen) == 1 and seen[0].shape == (len(y) - 60, 3)
    check.close(seen[0].mean(axis=0), np.zeros(3), atol=1e-9, what="mean of the inputs fit() saw")


@pytest.mark.points(2)
@pytest.mark.hidden
def test_validation_accuracy_on_hidden_seeded_data():
    # catches standardising with all the data (leakage), forgetting to standardise, or splitting differently
    for seed in (3, 4, 5):
        X, y = _blobs(seed, n=150 + 30 * seed, d=4, k=2 + seed % 3, spread=0.6)
        acc = check.number(ex.validation_accuracy(X, y, _centroid_fit, _centroid_predict, 0.3, seed=seed))
        check.approx(acc, _reference_accuracy(X, y, 0.3, seed), abs=1e-12, what=f"accuracy (seed {seed})")
