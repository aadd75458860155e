"""Graded tests for ex02_gp.py (Matérn kernel, GP posterior, marginal likelihood)."""

import math

import ex02_gp as ex
import excheck as check
import numpy as np
import pytest
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel

FORBIDDEN_IMPORTS = ["minilib.hpo.gp", "minilib.hpo.bayesopt"]


def data(seed=0, n=12, d=2):
    rng = np.random.default_rng(seed)
    X = rng.random((n, d))
    return X, np.sin(5 * X[:, 0]) + X[:, -1] ** 2, rng.random((6, d))


@pytest.mark.points(1)
def test_matern_closed_form():
    K = check.array(ex.matern52(np.array([[0.0, 0.0]]), np.array([[0.3, 0.4], [0.0, 0.0]]), [0.5, 1.0], 2.0),
                    shape=(1, 2), what="K")
    s = math.sqrt(5 * 0.52)
    assert K[0, 0] == pytest.approx(2.0 * (1 + s + s**2 / 3) * math.exp(-s))
    assert K[0, 1] == pytest.approx(2.0)


@pytest.mark.points(1)
@pytest.mark.hidden
def test_matern_matches_sklearn_and_validates():
    X, _, Xs = data(1, d=3)
    K = check.array(ex.matern52(X, Xs, [0.2, 0.5, 1.5]), shape=(len(X), len(Xs)), what="K")
    check.close(K, Matern([0.2, 0.5, 1.5], nu=2.5)(X, Xs), rtol=1e-10, what="K against sklearn")
    with pytest.raises(ValueError):
        ex.matern52(X, Xs, [0.2, -0.5, 1.5])
    with pytest.raises(ValueError):
        ex.matern52(X, Xs[:, :2], 1.0)


@pytest.mark.points(2)
def test_posterior_two_points_closed_form():
    X, y = np.array([[0.0], [1.0]]), np.array([1.0, -1.0])
    kernel = lambda A, B: ex.matern52(A, B, 0.7, 1.5)  # noqa: E731
    mean, var = check.sequence(ex.gp_posterior(X, y, np.array([[0.25]]), kernel, noise=0.1), 2, "(mean, var)")
    mean, var = check.array(mean, shape=(1,), what="mean"), check.array(var, shape=(1,), what="var")
    K = kernel(X, X) + 0.1 * np.eye(2)
    ks = kernel(X, np.array([[0.25]]))[:, 0]
    assert mean[0] == pytest.approx(ks @ np.linalg.solve(K, y), rel=1e-10)
    assert var[0] == pytest.approx(1.5 - ks @ np.linalg.solve(K, ks), rel=1e-10)


@pytest.mark.points(2)
def test_posterior_matches_sklearn():
    X, y, Xs = data(0)
    kernel = lambda A, B: ex.matern52(A, B, [0.3, 0.8], 2.0)  # noqa: E731
    mean, var = ex.gp_posterior(X, y, Xs, kernel, noise=0.01)
    ref = GaussianProcessRegressor(ConstantKernel(2.0) * Matern([0.3, 0.8], nu=2.5) + WhiteKernel(0.01),
                                   optimizer=None).fit(X, y)
    ref_mean, ref_std = ref.predict(Xs, return_std=True)
    np.testing.assert_allclose(mean, ref_mean, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(var + 0.01, ref_std**2, rtol=1e-8)  # sklearn adds the white noise


@pytest.mark.points(1)
@pytest.mark.hidden
def test_posterior_interpolates_and_variance_nonnegative():
    X, y, _ = data(2, n=8, d=1)
    kernel = lambda A, B: ex.matern52(A, B, 0.3)  # noqa: E731
    mean, var = ex.gp_posterior(X, y, X, kernel, noise=1e-10)
    np.testing.assert_allclose(mean, y, atol=1e-4)
    assert np.all(var >= 0) and np.all(var < 1e-4)


@pytest.mark.points(2)
def test_log_marginal_likelihood_matches_sklearn():
    X, y, _ = data(3)
    kernel = lambda A, B: ex.matern52(A, B, [0.4, 0.6], 1.2)  # noqa: E731
    value = check.number(ex.log_marginal_likelihood(X, y, kernel, noise=0.05), "the log marginal likelihood")
    ref = GaussianProcessRegressor(ConstantKernel(1.2) * Matern([0.4, 0.6], nu=2.5) + WhiteKernel(0.05),
                                   optimizer=None).fit(X, y)
    assert value == pytest.approx(ref.log_marginal_likelihood_value_, rel=1e-8)


@pytest.mark.points(1)
@pytest.mark.hidden
def test_log_marginal_likelihood_one_point_closed_form():
    kernel = lambda A, B: ex.matern52(A, B, 1.0, 2.0)  # noqa: E731
    value = check.number(ex.log_marginal_likelihood(np.array([[0.5]]), np.array([1.5]), kernel, noise=0.5))
    assert value == pytest.approx(-0.5 * 1.5**2 / 2.5 - 0.5 * math.log(2.5) - 0.5 * math.log(2 * math.pi))
