"""Tests for minilib.kernels: closed-form NNGP/NTK, inference, Monte-Carlo estimates, ensemble training.

Oracles: Neural Tangents' values (REFERENCES.md §15), Gauss-Hermite quadrature of the Gaussian
expectations, Monte Carlo over random finite networks, independent autograd code, scipy's
matrix exponential, and sampling the Gaussian that ``ntk_ensemble`` claims to describe.
"""

import math

import numpy as np
import pytest
import torch
from scipy.linalg import expm
from scipy.special import erf

from minilib import kernels as K

# --- the Neural Tangents reference (one hidden ReLU layer, "ntk" parameterisation) -----------------
# Copied from /work/shared/REFERENCES.md §15 ("Reference values [C, and equal to neural-tangents 0.6.5
# to 6 decimals]"): stax.serial(Dense(w, W_std, b_std), Relu(), Dense(1, W_std, b_std)).kernel_fn(X, X).
X_REF = np.array([[1.0, 0.0], [0.6, 0.8], [-1.0, 0.5]])
NT_REFERENCE = {
    # (sigma_w^2, sigma_b^2): (NNGP, NTK)
    (2.0, 0.0): (np.array([[1, 0.677548, 0.011571], [0.677548, 1, 0.261591], [0.011571, 0.261591, 1.25]]),
                 np.array([[2, 1.100447, -0.136012], [1.100447, 2, 0.173041], [-0.136012, 0.173041, 2.5]])),
    (1.0, 0.1): (np.array([[0.4, 0.317632, 0.124945], [0.317632, 0.4, 0.20497], [0.124945, 0.20497, 0.4625]]),
                 np.array([[0.7, 0.464088, 0.066429], [0.464088, 0.7, 0.20497], [0.066429, 0.20497, 0.825]])),
}


@pytest.mark.parametrize("w2, b2", list(NT_REFERENCE))
def test_relu_kernels_equal_neural_tangents(w2, b2):
    # catches: W_std used as a variance, a missing 1/d on the inputs, the "standard" NTK update
    # (ntk = width * nngp + ...), a missing 1/(2 pi), Theta^1 != K^1 (input ntk not 0)
    net = K.serial(K.Dense(512, math.sqrt(w2), math.sqrt(b2)), K.Relu(), K.Dense(1, math.sqrt(w2), math.sqrt(b2)))
    k = K.kernel(net, X_REF)
    nngp, ntk = NT_REFERENCE[(w2, b2)]
    assert k.nngp.dtype == np.float64 and k.nngp.shape == (3, 3)
    np.testing.assert_allclose(k.nngp, nngp, atol=1e-6)
    np.testing.assert_allclose(k.ntk, ntk, atol=1e-6)
    np.testing.assert_allclose(k.cov1, np.diag(nngp), atol=1e-6)  # the carried variances stay consistent


def test_cross_kernel_is_a_block_of_the_joint_kernel():
    # catches: cov2 taken from X1 (wrong normalisation of the cross terms when X1 != X2)
    rng = np.random.default_rng(0)
    X1, X2 = rng.standard_normal((4, 3)), 2 * rng.standard_normal((5, 3))
    for act in ("relu", "erf"):
        net = K.mlp(8, depth=3, activation=act, W_std=1.3, b_std=0.4)
        joint, cross = K.kernel(net, np.vstack([X1, X2])), K.kernel(net, X1, X2)
        np.testing.assert_allclose(cross.nngp, joint.nngp[:4, 4:], rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(cross.ntk, joint.ntk[:4, 4:], rtol=1e-12, atol=1e-12)


def _gauss_hermite_2d(f, kxx, kxy, kyy, n=120):
    """E[f(u, v)] for (u, v) ~ N(0, [[kxx, kxy], [kxy, kyy]]) by a Gauss-Hermite product rule."""
    z, w = np.polynomial.hermite_e.hermegauss(n)           # weight exp(-z^2 / 2)
    w = w / w.sum()
    L = np.linalg.cholesky(np.array([[kxx, kxy], [kxy, kyy]]))
    z1, z2 = np.meshgrid(z, z, indexing="ij")
    u, v = L[0, 0] * z1, L[1, 0] * z1 + L[1, 1] * z2
    return float((np.outer(w, w) * f(u, v)).sum())


@pytest.mark.parametrize("kxx, kxy, kyy", [(1.0, 0.3, 2.0), (0.5, -0.45, 0.5), (3.0, 0.0, 0.2)])
def test_erf_step_equals_quadrature(kxx, kxy, kyy):
    # catches: a wrong arcsine formula (1 + K instead of 1 + 2K, a missing 2/pi) or derivative kernel
    k = K.erf_kernel(K.Kernel(nngp=np.array([[kxy]]), ntk=np.ones((1, 1)), cov1=np.array([kxx]),
                              cov2=np.array([kyy])))
    derf = lambda u: 2 / math.sqrt(math.pi) * np.exp(-u**2)
    assert k.nngp[0, 0] == pytest.approx(_gauss_hermite_2d(lambda u, v: erf(u) * erf(v), kxx, kxy, kyy), abs=1e-9)
    assert k.ntk[0, 0] == pytest.approx(_gauss_hermite_2d(lambda u, v: derf(u) * derf(v), kxx, kxy, kyy), abs=1e-9)
    assert k.cov1[0] == pytest.approx(_gauss_hermite_2d(lambda u, v: erf(u) ** 2, kxx, kxy, kyy), abs=1e-9)


def test_relu_step_at_known_angles_and_edge_cases():
    # orthogonal inputs: E[relu relu] = 1/(2 pi), E[relu' relu'] = 1/4; opposite: 0 and 0;
    # identical inputs with cos = 1 + round-off and a zero input must not give NaN (the clip, the fill)
    k = K.relu_kernel(K.Kernel(nngp=np.array([[0.0, -1.0, 1.0 + 1e-15, 0.0]]), ntk=np.ones((1, 4)),
                               cov1=np.array([1.0]), cov2=np.array([1.0, 1.0, 1.0, 0.0])))
    np.testing.assert_allclose(k.nngp[0], [1 / (2 * np.pi), 0.0, 0.5, 0.0], atol=1e-12)
    np.testing.assert_allclose(k.ntk[0], [0.25, 0.0, 0.5, 0.25], atol=1e-7)
    assert np.isfinite(k.nngp).all() and np.isfinite(k.ntk).all()


def test_serial_composes_and_flattens():
    net = K.serial(K.serial(K.Dense(4, 1.5, 0.1), K.Relu()), K.Dense(2, 1.5, 0.1))
    flat = K.serial(K.Dense(4, 1.5, 0.1), K.Relu(), K.Dense(2, 1.5, 0.1))
    assert len(net.layers) == 3 and net.name == flat.name
    np.testing.assert_array_equal(K.kernel(net, X_REF).ntk, K.kernel(flat, X_REF).ntk)
    out_features, params = net.init_fn(2, torch.Generator().manual_seed(0), torch.float64)
    assert out_features == 2 and [len(p) for p in params] == [2, 0, 2]
    with pytest.raises(ValueError):
        K.Dense(0)
    with pytest.raises(ValueError):
        K.input_kernel(np.ones((2, 3)), np.ones((2, 4)))


# --- Monte Carlo: finite networks converge to the closed form --------------------------------------

X_MC = np.array([[1.0, 0.0, 0.5], [0.6, 0.8, -0.2], [-1.0, 0.5, 0.3], [0.2, -0.3, -1.0]])


@pytest.mark.parametrize("act", ["relu", "erf"])
def test_monte_carlo_nngp_matches_closed_form(act):
    # NT's Monte-Carlo test uses relative Frobenius error <= 0.02 with 200 networks x 256 outputs; we
    # use 60 x 256 at width 128, depth 2, where the measured error is 0.01-0.035 over seeds. A wrong
    # kernel map (a missing 1/2 for ReLU, sigma instead of sigma^2) is off by 0.3 or more.
    net = K.mlp(128, depth=2, out_features=256, activation=act, W_std=1.5, b_std=0.5)
    estimate = K.monte_carlo_nngp(net, X_MC, n_samples=60, seed=0)
    assert estimate.shape == (4, 4)
    assert K.relative_error(estimate, K.kernel(net, X_MC).nngp) < 0.07


@pytest.mark.parametrize("act", ["relu", "erf"])
def test_monte_carlo_ntk_matches_closed_form(act):
    # The empirical NTK of one width-w network deviates by ~1/sqrt(w); 8 networks of width 512, depth 2,
    # give 0.02-0.05 over seeds (0.03-0.07 at width 256). Catches the standard-parameterisation update
    # and a wrong derivative kernel (errors of 0.3 and more).
    net = K.mlp(512, depth=2, out_features=1, activation=act, W_std=1.5, b_std=0.5)
    estimate = K.monte_carlo_ntk(net, X_MC, n_samples=8, seed=0)
    assert K.relative_error(estimate, K.kernel(net, X_MC).ntk) < 0.1


def test_empirical_kernels_of_one_network_converge_like_one_over_sqrt_width():
    # error(64) / error(4096) should be about sqrt(64) = 8 for both kernels (slope -1/2 on a log-log plot);
    # a biased estimate (wrong scale in the forward pass) would stop improving with width.
    net_ref = K.mlp(1, activation="relu", W_std=math.sqrt(2), b_std=0.1)
    exact = K.kernel(net_ref, X_MC)
    errors = {}
    for width in (64, 4096):
        net = K.mlp(width, activation="relu", W_std=math.sqrt(2), b_std=0.1)
        gen = torch.Generator().manual_seed(1)
        e_nngp, e_ntk = [], []
        for _ in range(12):
            _, params = net.init_fn(3, gen, torch.float64)
            e_nngp.append(K.relative_error(K.empirical_nngp(net, params, X_MC), exact.nngp))
            e_ntk.append(K.relative_error(K.empirical_ntk(net, params, X_MC), exact.ntk))
        errors[width] = (np.mean(e_nngp), np.mean(e_ntk))
    for i in range(2):
        assert 4.0 < errors[64][i] / errors[4096][i] < 16.0, errors


def test_empirical_ntk_equals_per_example_autograd():
    # an independent computation: one backward pass per input, gradients stacked by hand
    net = K.mlp(16, depth=2, out_features=1, activation="erf", W_std=1.2, b_std=0.3)
    _, params = net.init_fn(3, torch.Generator().manual_seed(3), torch.float64)
    leaves = [p for layer in params for p in layer]
    for p in leaves:
        p.requires_grad_(True)
    grads = []
    for x in X_MC:
        out = net.apply_fn(params, torch.as_tensor(x[None, :]))[0, 0]
        grads.append(torch.cat([g.reshape(-1) for g in torch.autograd.grad(out, leaves)]))
    J = torch.stack(grads).numpy()
    detached = [[p.detach() for p in layer] for layer in params]
    np.testing.assert_allclose(K.empirical_ntk(net, detached, X_MC), J @ J.T, rtol=1e-10)
    np.testing.assert_allclose(K.empirical_ntk(net, detached, X_MC[:2], X_MC[2:]), J[:2] @ J[2:].T, rtol=1e-10)


def test_empirical_nngp_is_the_readout_covariance():
    # for fixed hidden layers, sample many readouts: their output covariance is empirical_nngp
    net = K.mlp(32, depth=1, out_features=20000, activation="relu", W_std=1.4, b_std=0.3)
    _, params = net.init_fn(3, torch.Generator().manual_seed(5), torch.float64)
    f = net.apply_fn(params, torch.as_tensor(X_MC)).numpy()     # 20000 readouts share the hidden layer
    sampled = f @ f.T / f.shape[1]
    assert K.relative_error(sampled, K.empirical_nngp(net, params, X_MC)) < 0.03
    with pytest.raises(ValueError):
        K.empirical_nngp(K.serial(K.Dense(4), K.Relu()), params[:2], X_MC)


# --- inference ---------------------------------------------------------------------------------


def _toy(seed=0, n=8, m=5):
    rng = np.random.default_rng(seed)
    X, Xs = rng.uniform(-2, 2, (n, 1)), rng.uniform(-2, 2, (m, 1))
    y = np.sin(2 * X[:, 0])
    net = K.mlp(1, depth=2, activation="erf", W_std=1.5, b_std=0.5)
    return X, Xs, y, K.kernel(net, X), K.kernel(net, Xs, X), K.kernel(net, Xs)


def test_nngp_posterior_equals_the_textbook_formula():
    # oracle: mean = K*X (K + s I)^-1 y and cov = K** - K*X (K + s I)^-1 KX* with an explicit inverse
    X, Xs, y, ktr, kte, ktt = _toy()
    mean, cov = K.nngp_posterior(ktr.nngp, kte.nngp, y, ktt.nngp, noise=0.05)
    inv = np.linalg.inv(ktr.nngp + 0.05 * np.eye(len(X)))
    assert mean.shape == (5,) and cov.shape == (5, 5)
    np.testing.assert_allclose(mean, kte.nngp @ inv @ y, rtol=1e-8)
    np.testing.assert_allclose(cov, ktt.nngp - kte.nngp @ inv @ kte.nngp.T, rtol=1e-7, atol=1e-10)
    # two outputs are two independent regressions; noise-free, the mean interpolates the data
    Y = np.c_[y, -2 * y]
    np.testing.assert_allclose(K.nngp_posterior(ktr.nngp, kte.nngp, Y, noise=0.05)[:, 1], -2 * mean, rtol=1e-10)
    np.testing.assert_allclose(K.nngp_posterior(ktr.nngp, ktr.nngp, y, noise=1e-10), y, atol=1e-4)


def test_ntk_predict_solves_the_gradient_flow():
    # oracle: f_t = f0 + Theta*X Theta^-1 (I - expm(-c Theta t)) (y - f0), c = 2 lr / n (MSE without 1/2)
    X, Xs, y, ktr, kte, _ = _toy()
    rng = np.random.default_rng(1)
    f0_tr, f0_te = rng.standard_normal(8), rng.standard_normal(5)
    c, t = 2 * 0.3 / 8, 40.0
    expected = f0_te + kte.ntk @ np.linalg.solve(ktr.ntk, (np.eye(8) - expm(-c * ktr.ntk * t)) @ (y - f0_tr))
    got = K.ntk_predict(ktr.ntk, kte.ntk, y, t=t, lr=0.3, f0_train=f0_tr, f0_test=f0_te)
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-8)
    # t = 0 is the initial function; t -> infinity is kernel regression with the NTK
    np.testing.assert_allclose(K.ntk_predict(ktr.ntk, kte.ntk, y, t=0, f0_train=f0_tr, f0_test=f0_te), f0_te)
    diag_reg = 1e-6
    inf = K.ntk_predict(ktr.ntk, kte.ntk, y, t=None, diag_reg=diag_reg)
    np.testing.assert_allclose(inf, kte.ntk @ np.linalg.solve(ktr.ntk + diag_reg * np.eye(8), y), rtol=1e-6)
    with pytest.raises(np.linalg.LinAlgError):
        K.ntk_predict(np.zeros((2, 2)), np.zeros((1, 2)), np.ones(2), t=None)


def test_ntk_ensemble_is_the_distribution_of_trained_linearised_networks():
    # oracle: draw f0 ~ GP(0, NNGP) on train + test points, apply f_t = f0 - Theta*X T (f0(X) - y),
    # and compare the sample mean and covariance with the closed form
    X, Xs, y, ktr, kte, ktt = _toy(2)
    t, lr = 30.0, 0.5
    mean, cov = K.ntk_ensemble(ktr, kte, ktt.nngp, y, t=t, lr=lr)
    joint = np.block([[ktr.nngp, kte.nngp.T], [kte.nngp, ktt.nngp]]) + 1e-10 * np.eye(13)
    f0 = np.random.default_rng(0).multivariate_normal(np.zeros(13), joint, size=40000)
    T = K.gd_operator(ktr.ntk, 1, t, lr)
    ft = f0[:, 8:] - (f0[:, :8] - y) @ T @ kte.ntk.T
    np.testing.assert_allclose(ft.mean(0), mean, atol=0.03)
    np.testing.assert_allclose(np.cov(ft.T), cov, atol=0.03)
    # t = 0: the prior; t -> infinity at the training points: the data, with no spread left
    m0, c0 = K.ntk_ensemble(ktr, kte, ktt.nngp, y, t=0)
    np.testing.assert_allclose(m0, 0, atol=1e-12)
    np.testing.assert_allclose(c0, ktt.nngp, atol=1e-12)
    m_inf, c_inf = K.ntk_ensemble(ktr, ktr, ktr.nngp, y, t=None)
    np.testing.assert_allclose(m_inf, y, atol=1e-6)
    np.testing.assert_allclose(c_inf, 0, atol=1e-6)


# --- training ----------------------------------------------------------------------------------


def test_train_ensemble_members_are_independent():
    # member 0 trained with two others equals member 0 trained alone (same seed, same first draw);
    # catches a loss averaged over members (each gradient divided by M)
    X, Xs, y, *_ = _toy(3)
    net = K.mlp(32, activation="relu", W_std=1.5, b_std=0.5)
    together = K.train_ensemble(net, X, y, Xs, n_members=3, steps=20, lr=0.1, seed=7)
    alone = K.train_ensemble(net, X, y, Xs, n_members=1, steps=20, lr=0.1, seed=7)
    assert together.test_outputs.shape == (2, 3, 5, 1) and together.steps == [0, 20]
    np.testing.assert_allclose(together.test_outputs[:, 0], alone.test_outputs[:, 0], rtol=1e-10)
    assert together.train_loss[-1] < together.train_loss[0]
    member = K.TrainedEnsemble.member(together.final_params, 0)
    np.testing.assert_allclose(net.apply_fn(member, torch.as_tensor(Xs)).numpy(), together.test_outputs[-1, 0],
                               rtol=1e-12)


def test_wide_network_trained_by_gd_follows_its_linearisation():
    # Lee et al. 2019: a wide network after t steps of GD ~ ntk_predict with its own initial NTK and
    # outputs. This pins the time constant c = 2 lr / (n k): with c off by 2 the gap is ~10x larger.
    X, Xs, y, *_ = _toy(4)
    net = K.mlp(4096, activation="erf", W_std=1.5, b_std=0.5)
    run = K.train_ensemble(net, X, y, Xs, n_members=1, steps=60, lr=0.2, seed=0)
    params = K.TrainedEnsemble.member(run.initial_params, 0)
    lin = K.ntk_predict(K.empirical_ntk(net, params, X), K.empirical_ntk(net, params, Xs, X), y, t=60, lr=0.2,
                        f0_train=run.train_outputs[0, 0, :, 0], f0_test=run.test_outputs[0, 0, :, 0])
    moved = np.abs(run.test_outputs[-1, 0, :, 0] - run.test_outputs[0, 0, :, 0]).max()
    gap = np.abs(run.test_outputs[-1, 0, :, 0] - lin).max()
    assert moved > 0.3 and gap < 0.05 * moved, (moved, gap)


def test_network_module_runs_apply_fn():
    net = K.mlp(8, activation="erf")
    module = K.Network(net, in_features=3, seed=2, dtype=torch.float64)
    _, params = net.init_fn(3, torch.Generator().manual_seed(2), torch.float64)
    x = torch.as_tensor(X_MC, dtype=torch.float32)                 # fit feeds float32: cast inside
    np.testing.assert_allclose(module(x).detach().numpy(), net.apply_fn(params, x.double()).numpy(), rtol=1e-12)
    assert sum(p.numel() for p in module.parameters()) == 3 * 8 + 8 + 8 + 1
