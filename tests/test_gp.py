"""GP regression: closed form, scikit-learn with fixed hyperparameters, gradients, robustness."""

import math

import numpy as np
import pytest
from scipy.optimize import approx_fprime
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import RBF, ConstantKernel, Matern, WhiteKernel

from minilib.hpo.gp import JITTERS, CholeskyError, GaussianProcess, cholesky_with_jitter, matern52, rbf


def test_kernels_closed_form():
    x, z = np.array([[0.0, 0.0]]), np.array([[0.3, 0.4]])
    # r = sqrt((0.3/0.5)^2 + (0.4/1.0)^2) = sqrt(0.52)
    r = math.sqrt(0.52)
    assert rbf(x, z, [0.5, 1.0])[0, 0] == pytest.approx(math.exp(-0.5 * r**2))
    s = math.sqrt(5) * r
    assert matern52(x, z, [0.5, 1.0])[0, 0] == pytest.approx((1 + s + s**2 / 3) * math.exp(-s))
    assert rbf(x, x, 1.0)[0, 0] == 1.0 and matern52(x, x, 1.0)[0, 0] == 1.0


def test_posterior_closed_form_two_points():
    # K = s2 [[1, k], [k, 1]] + n I; mean and variance at x* written out by hand (2x2 inverse)
    X, y = np.array([[0.0], [1.0]]), np.array([1.0, -1.0])
    s2, noise, ell = 1.5, 0.1, 0.7
    gp = GaussianProcess("rbf", lengthscale=ell, signal_variance=s2, noise_variance=noise, normalize_y=False,
                         optimize=False).fit(X, y)
    k = math.exp(-0.5 / ell**2)
    a, b = s2 + noise, s2 * k
    inv = np.array([[a, -b], [-b, a]]) / (a * a - b * b)
    xs = 0.25
    ks = s2 * np.exp(-0.5 * (np.array([xs, xs - 1.0]) / ell) ** 2)
    mean, std = gp.predict(np.array([[xs]]))
    assert mean[0] == pytest.approx(ks @ inv @ y, rel=1e-12)
    assert std[0] ** 2 == pytest.approx(s2 - ks @ inv @ ks, rel=1e-10)
    lml = -0.5 * y @ inv @ y - 0.5 * math.log(a * a - b * b) - math.log(2 * math.pi)
    assert gp.log_marginal_likelihood() == pytest.approx(lml, rel=1e-12)


@pytest.mark.parametrize("kernel", ["rbf", "matern52"])
def test_matches_sklearn_with_fixed_hyperparameters(kernel):
    rng = np.random.default_rng(0)
    X, Xs = rng.random((15, 3)), rng.random((7, 3))
    y = np.sin(6 * X[:, 0]) + X[:, 1] ** 2 - X[:, 2]
    ell, s2, noise = [0.3, 0.5, 0.8], 2.0, 0.01
    base = RBF(ell) if kernel == "rbf" else Matern(ell, nu=2.5)
    ref = GaussianProcessRegressor(ConstantKernel(s2) * base + WhiteKernel(noise), optimizer=None).fit(X, y)
    gp = GaussianProcess(kernel, lengthscale=ell, signal_variance=s2, noise_variance=noise, normalize_y=False,
                         optimize=False).fit(X, y)
    mean, std = gp.predict(Xs)
    ref_mean, ref_std = ref.predict(Xs, return_std=True)
    assert mean.shape == std.shape == (7,)
    np.testing.assert_allclose(mean, ref_mean, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(std**2 + noise, ref_std**2, rtol=1e-8)  # sklearn's std includes the white noise
    assert gp.log_marginal_likelihood() == pytest.approx(ref.log_marginal_likelihood_value_, rel=1e-8)
    _, cov = gp.predict(Xs, return_cov=True)
    _, ref_cov = ref.predict(Xs, return_cov=True)
    np.testing.assert_allclose(cov + noise * np.eye(7), ref_cov, rtol=1e-7, atol=1e-10)


@pytest.mark.parametrize("kernel", ["rbf", "matern52"])
def test_marginal_likelihood_gradient_matches_finite_differences(kernel):
    rng = np.random.default_rng(1)
    X = rng.random((20, 2))
    y = np.cos(5 * X[:, 0]) * X[:, 1]
    gp = GaussianProcess(kernel, lengthscale=[0.4, 0.9], noise_variance=0.05, optimize=False).fit(X, y)
    theta = gp.theta_
    value, grad = gp._nlml(theta, gp.X_, gp.y_)
    numeric = approx_fprime(theta, lambda t: gp._nlml(t, gp.X_, gp.y_, grad=False), 1e-7)
    np.testing.assert_allclose(grad, numeric, rtol=1e-4, atol=1e-5)
    assert value == pytest.approx(-gp.log_marginal_likelihood())


def test_fitting_increases_the_marginal_likelihood_and_interpolates():
    rng = np.random.default_rng(2)
    X = rng.random((25, 1))
    y = np.sin(10 * X[:, 0])
    start = GaussianProcess(lengthscale=2.0, optimize=False).fit(X, y)
    fitted = GaussianProcess(lengthscale=2.0, seed=0).fit(X, y)
    assert fitted.log_marginal_likelihood() > start.log_marginal_likelihood() + 1.0
    mean, std = fitted.predict(X)
    np.testing.assert_allclose(mean, y, atol=1e-2)
    assert np.all(std < 0.05)
    grid = np.linspace(0.05, 0.95, 50)[:, None]  # between the points: a good fit generalises
    np.testing.assert_allclose(fitted.predict(grid)[0], np.sin(10 * grid[:, 0]), atol=0.05)
    bounds = np.exp(fitted._bounds(1))
    theta = np.exp(fitted.theta_)
    assert np.all(theta >= bounds[:, 0] * (1 - 1e-9)) and np.all(theta <= bounds[:, 1] * (1 + 1e-9))


def test_determinism_under_a_seed():
    rng = np.random.default_rng(3)
    X, y = rng.random((12, 2)), rng.normal(size=12)
    a = GaussianProcess(seed=5).fit(X, y).theta_
    b = GaussianProcess(seed=5).fit(X, y).theta_
    np.testing.assert_array_equal(a, b)


def test_duplicates_constant_and_huge_scale_do_not_crash():
    X = np.array([[0.1, 0.2], [0.1, 0.2], [0.5, 0.5], [0.5, 0.5], [0.9, 0.1]])
    # duplicated points with zero noise: the jitter ladder rescues the factorisation
    gp = GaussianProcess(noise_variance=0.0, optimize=False).fit(X, np.array([1.0, 1.0, 2.0, 2.0, 0.0]))
    assert gp.jitter_ > 0
    mean, std = gp.predict(X)
    np.testing.assert_allclose(mean, [1.0, 1.0, 2.0, 2.0, 0.0], atol=1e-3)
    # a constant objective: mean is the constant, std finite
    gp = GaussianProcess(seed=0).fit(X, np.full(5, 7.0))
    mean, std = gp.predict(np.array([[0.3, 0.3]]))
    assert mean[0] == pytest.approx(7.0) and np.isfinite(std[0])
    # values of scale 1e6: the same fit as scale 1, times 1e6
    y = np.array([1.0, 1.1, 2.0, 2.2, 0.0])
    small = GaussianProcess(seed=0).fit(X, y)
    big = GaussianProcess(seed=0).fit(X, 1e6 * y + 3e6)
    np.testing.assert_allclose(big.predict(X)[0], 1e6 * small.predict(X)[0] + 3e6, rtol=1e-6)
    # duplicated points with different values are averaged
    gp = GaussianProcess(seed=0).fit(np.array([[0.5], [0.5], [0.5]]), np.array([0.0, 1.0, 2.0]))
    assert gp.predict(np.array([[0.5]]))[0][0] == pytest.approx(1.0, abs=0.05)


def test_variance_is_clipped_before_sqrt():
    X = np.array([[0.2], [0.4]])
    gp = GaussianProcess("rbf", lengthscale=0.3, noise_variance=0.0, normalize_y=False, optimize=False)
    gp.fit(X, np.array([0.0, 1.0]))
    _, std = gp.predict(X)
    assert np.all(std >= 1e-6) and np.all(np.isfinite(std))


def test_jitter_ladder_raises_clearly_when_exhausted():
    L, jitter = cholesky_with_jitter(np.eye(3))
    assert jitter == 0.0 and np.allclose(L, np.eye(3))
    L, jitter = cholesky_with_jitter(np.ones((3, 3)))  # rank one: needs jitter
    assert 0 < jitter <= JITTERS[-1]
    with pytest.raises(CholeskyError, match="not positive definite"):
        cholesky_with_jitter(np.array([[1.0, 2.0], [2.0, 1.0]]))  # eigenvalue -1


def test_samples_have_the_right_moments():
    X = np.linspace(0, 1, 5)[:, None]
    gp = GaussianProcess("rbf", lengthscale=0.3, signal_variance=2.0, noise_variance=1e-6, optimize=False,
                         normalize_y=False)
    prior = gp.sample(X, n_samples=4000, seed=0, prior=True)
    assert prior.shape == (4000, 5)
    np.testing.assert_allclose(np.cov(prior.T), 2.0 * rbf(X, X, 0.3), atol=0.15)
    gp.fit(np.array([[0.5]]), np.array([1.0]))
    post = gp.sample(X, n_samples=4000, seed=1)
    mean, std = gp.predict(X)
    np.testing.assert_allclose(post.mean(0), mean, atol=0.08)
    np.testing.assert_allclose(post.std(0), std, atol=0.08)


def test_prior_samples_are_in_the_units_of_y_after_a_fit():
    # The docstring promises y's units; sample(prior=True) used to return normalised ones (mean 0,
    # covariance s^2 R) even after a fit on y with mean 10 and std 3. Oracle: the prior of the
    # model predict() uses, y_mean + y_std * N(0, s^2 R).
    X = np.linspace(0, 1, 5)[:, None]
    y = np.array([7.0, 13.0, 10.0, 7.0, 13.0])                    # mean 10, std 2.68...
    gp = GaussianProcess("rbf", lengthscale=0.3, signal_variance=2.0, noise_variance=1e-6, optimize=False)
    gp.fit(X, y)
    prior = gp.sample(X, n_samples=4000, seed=0, prior=True)
    np.testing.assert_allclose(prior.mean(0), 10.0, atol=0.25)
    np.testing.assert_allclose(np.cov(prior.T), y.std() ** 2 * 2.0 * rbf(X, X, 0.3), atol=1.0)
    far = gp.predict(np.array([[50.0]]))                             # far from the data: mean -> prior mean
    assert far[0][0] == pytest.approx(10.0) and far[1][0] == pytest.approx(y.std() * math.sqrt(2.0))


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match="unknown kernel"):
        GaussianProcess("linear")
    with pytest.raises(ValueError, match="lengthscale"):
        GaussianProcess(lengthscale=-1.0)
    gp = GaussianProcess()
    with pytest.raises(RuntimeError, match="fit"):
        gp.predict(np.zeros((1, 2)))
    with pytest.raises(ValueError, match="shape"):
        gp.fit(np.zeros((3, 2)), np.zeros(4))
    with pytest.raises(ValueError, match="finite"):
        gp.fit(np.zeros((2, 1)), np.array([0.0, np.nan]))
    gp.fit(np.zeros((2, 1)) + [[0.0], [1.0]], np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match="columns"):
        gp.predict(np.zeros((1, 3)))
