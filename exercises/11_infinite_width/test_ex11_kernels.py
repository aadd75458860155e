"""Graded tests for ex11_kernels.py (one ReLU step, a whole ReLU network, NNGP posterior, NTK at time t)."""

import math

import ex11_kernels as ex
import excheck as check
import numpy as np
import pytest
from scipy.integrate import dblquad
from scipy.linalg import expm
from scipy.stats import multivariate_normal

from minilib import kernels as reference

FORBIDDEN_IMPORTS = ["minilib.kernels"]

# Neural Tangents 0.6.5, stax.serial(Dense(w, W_std, b_std), Relu(), Dense(1, W_std, b_std)), "ntk"
# parameterisation, kernel_fn(X, X): REFERENCES.md §15 of the book's sources.
X_NT = np.array([[1.0, 0.0], [0.6, 0.8], [-1.0, 0.5]])
NT_NNGP = np.array([[1, 0.677548, 0.011571], [0.677548, 1, 0.261591], [0.011571, 0.261591, 1.25]])
NT_NTK = np.array([[2, 1.100447, -0.136012], [1.100447, 2, 0.173041], [-0.136012, 0.173041, 2.5]])


def _pair(result, shape, what):
    a, b = check.sequence(result, 2, what=what)
    return check.array(a, shape=shape, what=f"{what}[0]"), check.array(b, shape=shape, what=f"{what}[1]")


# --- task 1: one ReLU step --------------------------------------------------------------------------

@pytest.mark.points(2)
def test_relu_expectations_known_angles():
    # orthogonal: 1/(2 pi) and 1/4; equal: k/2 and 1/2; opposite: 0 and 0; a zero input: 0 and 1/4
    nngp, dot = _pair(ex.relu_expectations(np.array([0.0, 2.0, -1.0, 0.0]), np.array([1.0, 2.0, 1.0, 0.0]),
                                           np.array([1.0, 2.0, 1.0, 1.0])), (4,), "relu_expectations")
    check.close(nngp, [1 / (2 * np.pi), 1.0, 0.0, 0.0], atol=1e-12, what="E[relu(u) relu(v)]")
    check.close(dot, [0.25, 0.5, 0.0, 0.25], atol=1e-12, what="E[relu'(u) relu'(v)]")


@pytest.mark.points(1)
@pytest.mark.hidden
def test_relu_expectations_match_minilib_on_matrices():
    rng = np.random.default_rng(11)
    A = rng.standard_normal((5, 3))
    K = A @ A.T + 0.1 * np.eye(5)
    v = np.diag(K)
    nngp, dot = _pair(ex.relu_expectations(K, v[:, None], v[None, :]), (5, 5), "relu_expectations")
    ref = reference.relu_kernel(reference.Kernel(nngp=K, ntk=np.ones((5, 5)), cov1=v, cov2=v))
    check.close(nngp, ref.nngp, rtol=1e-9, atol=1e-12, what="E[relu(u) relu(v)]")
    check.close(dot, ref.ntk, rtol=1e-9, atol=1e-7, what="E[relu'(u) relu'(v)]")


@pytest.mark.points(1)
@pytest.mark.hidden
def test_relu_expectations_equal_numerical_integration():
    # independent oracles: E[uv; u > 0, v > 0] by scipy's dblquad on the positive quadrant, and
    # P(u > 0, v > 0) from the bivariate normal CDF
    k11, k12, k22 = 1.3, -0.4, 0.7
    nngp, dot = _pair(ex.relu_expectations(np.array([k12]), np.array([k11]), np.array([k22])), (1,),
                      "relu_expectations")
    cov = np.array([[k11, k12], [k12, k22]])
    density = multivariate_normal(mean=[0, 0], cov=cov)
    value, _ = dblquad(lambda v, u: u * v * density.pdf([u, v]), 0, 12, 0, 12, epsabs=1e-11)
    check.approx(float(nngp[0]), value, abs=1e-7, what="E[relu(u) relu(v)]")
    quadrant = multivariate_normal(mean=[0, 0], cov=cov).cdf([0.0, 0.0])   # P(u < 0, v < 0) = P(u > 0, v > 0)
    check.approx(float(dot[0]), float(quadrant), abs=1e-5, what="E[relu'(u) relu'(v)]")


# --- task 2: the kernels of a whole network -------------------------------------------------------------

@pytest.mark.points(2)
def test_network_kernels_equal_neural_tangents():
    nngp, ntk = _pair(ex.relu_network_kernels(X_NT, X_NT, 1, math.sqrt(2), 0.0), (3, 3), "relu_network_kernels")
    check.close(nngp, NT_NNGP, atol=1e-6, what="NNGP (Neural Tangents' matrix)")
    check.close(ntk, NT_NTK, atol=1e-6, what="NTK (Neural Tangents' matrix)")


@pytest.mark.points(1)
def test_network_kernels_with_bias_and_cross_inputs():
    # W_std and b_std are standard deviations; X1 != X2 needs the variances of both sets
    X2 = np.array([[0.5, 0.5], [2.0, -1.0]])
    nngp, ntk = _pair(ex.relu_network_kernels(X_NT, X2, 2, 1.2, 0.3), (3, 2), "relu_network_kernels")
    ref = reference.kernel(reference.mlp(1, depth=2, W_std=1.2, b_std=0.3), X_NT, X2)
    check.close(nngp, ref.nngp, rtol=1e-9, what="NNGP, depth 2, X1 != X2")
    check.close(ntk, ref.ntk, rtol=1e-9, what="NTK, depth 2, X1 != X2")


@pytest.mark.points(2)
@pytest.mark.hidden
def test_network_kernels_match_minilib_deep():
    rng = np.random.default_rng(5)
    X1, X2 = rng.standard_normal((4, 6)), rng.standard_normal((3, 6))
    for depth, W_std, b_std in [(0, 1.5, 0.2), (4, 1.4, 0.1)]:
        nngp, ntk = _pair(ex.relu_network_kernels(X1, X2, depth, W_std, b_std), (4, 3), "relu_network_kernels")
        ref = reference.kernel(reference.mlp(1, depth=depth, W_std=W_std, b_std=b_std), X1, X2)
        check.close(nngp, ref.nngp, rtol=1e-9, atol=1e-12, what=f"NNGP, depth {depth}")
        check.close(ntk, ref.ntk, rtol=1e-9, atol=1e-12, what=f"NTK, depth {depth}")


# --- task 3: the NNGP posterior mean --------------------------------------------------------------------

def _toy(seed, n=7, m=4):
    rng = np.random.default_rng(seed)
    X, Xs = rng.uniform(-2, 2, (n, 2)), rng.uniform(-2, 2, (m, 2))
    net = reference.mlp(1, depth=2, W_std=1.5, b_std=0.5)
    return reference.kernel(net, X), reference.kernel(net, Xs, X), np.sin(2 * X[:, 0]) + X[:, 1]


@pytest.mark.points(2)
def test_nngp_posterior_mean_closed_form():
    k_train, k_test, y = _toy(0)
    mean = check.array(ex.nngp_posterior_mean(k_train.nngp, k_test.nngp, y, 0.05), shape=(4,))
    expected = k_test.nngp @ np.linalg.solve(k_train.nngp + 0.05 * np.eye(7), y)
    check.close(mean, expected, rtol=1e-8, what="posterior mean")
    # noise-free at the training inputs: the mean interpolates the data
    at_train = check.array(ex.nngp_posterior_mean(k_train.nngp, k_train.nngp, y, 1e-10), shape=(7,))
    check.close(at_train, y, atol=1e-4, what="posterior mean at the training inputs (noise 1e-10)")


@pytest.mark.points(1)
@pytest.mark.hidden
def test_nngp_posterior_mean_several_outputs():
    k_train, k_test, y = _toy(3)
    Y = np.c_[y, -y, 2 * y + 1]
    mean = check.array(ex.nngp_posterior_mean(k_train.nngp, k_test.nngp, Y, 0.3), shape=(4, 3))
    check.close(mean, reference.nngp_posterior(k_train.nngp, k_test.nngp, Y, noise=0.3), rtol=1e-8,
                what="posterior mean, three outputs")


# --- task 4: the NTK prediction at time t ---------------------------------------------------------------

@pytest.mark.points(2)
def test_ntk_mean_at_time_solves_the_flow():
    k_train, k_test, y = _toy(1)
    lr, t = 0.4, 25.0
    got = check.array(ex.ntk_mean_at_time(k_train.ntk, k_test.ntk, y, t, lr), shape=(4,))
    c = 2 * lr / 7
    expected = k_test.ntk @ np.linalg.solve(k_train.ntk, (np.eye(7) - expm(-c * t * k_train.ntk)) @ y)
    check.close(got, expected, rtol=1e-7, atol=1e-10, what="f_t at the test inputs")
    zero = check.array(ex.ntk_mean_at_time(k_train.ntk, k_test.ntk, y, 0.0, lr), shape=(4,))
    check.close(zero, np.zeros(4), atol=1e-12, what="f_0 (t = 0)")


@pytest.mark.points(1)
@pytest.mark.hidden
def test_ntk_mean_at_time_matches_minilib_and_converges():
    k_train, k_test, y = _toy(2, n=9, m=5)
    for t, lr in [(3.0, 1.0), (400.0, 0.2)]:
        got = check.array(ex.ntk_mean_at_time(k_train.ntk, k_test.ntk, y, t, lr), shape=(5,))
        check.close(got, reference.ntk_predict(k_train.ntk, k_test.ntk, y, t=t, lr=lr), rtol=1e-7, atol=1e-10,
                    what=f"f_t, t = {t}, lr = {lr}")
    at_train = check.array(ex.ntk_mean_at_time(k_train.ntk, k_train.ntk, y, 1e7, 1.0), shape=(9,))
    check.close(at_train, y, atol=1e-5, what="f_t at the training inputs after a very long time")


# --- task 5: end to end ---------------------------------------------------------------------------------

@pytest.mark.points(1)
def test_ntk_regression_small_problem():
    X = np.array([[1.0, 0.0], [0.6, 0.8], [-1.0, 0.5]])
    y = np.array([1.0, 0.0, -1.0])
    Xs = np.array([[0.0, 1.0], [0.8, 0.6]])
    got = check.array(ex.ntk_regression(X, y, Xs, 1, math.sqrt(2), 0.0, 10.0, 0.5), shape=(2,))
    net = reference.mlp(1, depth=1, W_std=math.sqrt(2))
    expected = reference.ntk_predict(reference.kernel(net, X).ntk, reference.kernel(net, Xs, X).ntk, y, t=10.0, lr=0.5)
    check.close(got, expected, rtol=1e-8, what="NTK prediction")


@pytest.mark.points(2)
@pytest.mark.hidden
def test_ntk_regression_hidden_seeded_problem():
    rng = np.random.default_rng(2026)
    X, Xs = rng.standard_normal((12, 5)), rng.standard_normal((6, 5))
    y = np.tanh(X @ rng.standard_normal(5))
    got = check.array(ex.ntk_regression(X, y, Xs, 3, 1.3, 0.2, 150.0, 0.7), shape=(6,))
    net = reference.mlp(1, depth=3, W_std=1.3, b_std=0.2)
    expected = reference.ntk_predict(reference.kernel(net, X).ntk, reference.kernel(net, Xs, X).ntk, y,
                                     t=150.0, lr=0.7)
    check.close(got, expected, rtol=1e-7, atol=1e-10, what="NTK prediction, depth 3")
