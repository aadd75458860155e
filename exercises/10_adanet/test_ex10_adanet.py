"""Graded tests for ex10_adanet.py (soft threshold, objective, proximal step, weights, choice, the loop)."""

import ex10_adanet as ex
import excheck as check
import numpy as np
import pytest
import torch
from sklearn.linear_model import Lasso
from torch import nn

from minilib.ensembles.adanet import AdaNet, Candidate, adanet_objective
from minilib.ensembles.adanet import soft_threshold as reference_threshold

FORBIDDEN_IMPORTS = ["minilib.ensembles.adanet"]


def _problem(seed, n=4, m=200, true_w=(1.5, 0.0, -0.7, 0.05), noise=0.3):
    rng = np.random.default_rng(seed)
    H = rng.standard_normal((n, m))
    y = np.asarray(true_w[:n]) @ H + noise * rng.standard_normal(m)
    return H, y


def _lasso(H, y, gamma):
    # F(w) = (1/m)||y - H^T w||^2 + sum_j gamma_j |w_j| is sklearn's lasso after v_j = (gamma_j / 2) w_j
    scale = np.asarray(gamma, dtype=float) / 2
    model = Lasso(alpha=1.0, fit_intercept=False, tol=1e-12, max_iter=100000).fit(H.T / scale, y)
    return model.coef_ / scale


# --- task 1: soft threshold ----------------------------------------------------------------

@pytest.mark.points(2)
def test_soft_threshold_small():
    out = check.array(ex.soft_threshold(np.array([-3.0, -0.2, 0.0, 0.3, 2.5]), 0.5), shape=(5,))
    check.close(out, [-2.5, 0.0, 0.0, 0.0, 2.0], atol=1e-12, what="soft_threshold")
    assert np.count_nonzero(out) == 2                        # exactly zero, not 1e-17
    per_weight = check.array(ex.soft_threshold(np.array([1.0, 1.0, -1.0]), np.array([0.25, 2.0, 0.5])), shape=(3,))
    check.close(per_weight, [0.75, 0.0, -0.5], atol=1e-12, what="one threshold per weight")


@pytest.mark.points(1)
@pytest.mark.hidden
def test_soft_threshold_matches_minilib():
    rng = np.random.default_rng(7)
    v, t = 3 * rng.standard_normal(50), rng.uniform(0, 2, 50)
    got = check.array(ex.soft_threshold(v, t), shape=(50,))
    check.close(got, reference_threshold(torch.tensor(v), torch.tensor(t)).numpy(), atol=1e-12)
    assert np.array_equal(got == 0, np.abs(v) <= t)


# --- task 2: the regularised objective ----------------------------------------------------------

@pytest.mark.points(2)
def test_objective_by_hand():
    H = np.array([[1.0, 2.0], [0.0, 4.0]])                   # 2 subnetworks, 2 examples
    y = np.array([1.0, 1.0])
    w = np.array([0.5, -0.25])                               # f = [0.5, 0.0]
    loss, penalty = check.sequence(ex.regularized_objective(w, H, y, [1.0, 2.0], lam=0.1, beta=0.05), 2)
    check.approx(check.number(loss), (0.25 + 1.0) / 2, rel=1e-12, what="loss")
    check.approx(check.number(penalty), (0.1 * 1 + 0.05) * 0.5 + (0.1 * 2 + 0.05) * 0.25, rel=1e-12, what="penalty")
    _, zero = check.sequence(ex.regularized_objective(w, H, y, [1.0, 2.0], lam=0.0, beta=0.0), 2)
    check.approx(check.number(zero), 0.0, abs=0.0, what="penalty with lam = beta = 0")


@pytest.mark.points(1)
@pytest.mark.hidden
def test_objective_matches_minilib():
    H, y = _problem(3)
    w, r = np.array([0.3, -1.2, 0.0, 0.8]), [1.0, 2 ** 0.5, 3 ** 0.5, 2.0]
    loss, penalty = check.sequence(ex.regularized_objective(w, H, y, r, lam=0.3, beta=0.01), 2)
    gamma = torch.tensor([0.3 * ri + 0.01 for ri in r], dtype=torch.float64)
    ref = adanet_objective(torch.tensor(w), torch.tensor(H)[:, :, None], torch.tensor(y), gamma, task="regression")
    check.approx(check.number(loss), ref[0], rel=1e-10, what="loss")
    check.approx(check.number(penalty), ref[1], rel=1e-10, what="penalty")


# --- task 3: one proximal step ---------------------------------------------------------------

@pytest.mark.points(1)
def test_proximal_step_scales_the_threshold_by_lr():
    out = check.array(ex.proximal_step(np.array([1.0, 0.2]), np.array([1.0, -1.0]), 0.5, np.array([0.4, 0.4])),
                      shape=(2,))
    # w - lr * grad = [0.5, 0.7]; threshold lr * gamma = 0.2
    check.close(out, [0.3, 0.5], atol=1e-12, what="proximal_step")


@pytest.mark.points(1)
@pytest.mark.hidden
def test_proximal_step_other_inputs():
    rng = np.random.default_rng(11)
    w, g, gamma = rng.standard_normal(6), rng.standard_normal(6), rng.uniform(0, 1, 6)
    out = check.array(ex.proximal_step(w, g, 0.3, gamma), shape=(6,))
    check.close(out, reference_threshold(torch.tensor(w - 0.3 * g), torch.tensor(0.3 * gamma)).numpy(), atol=1e-12)


# --- task 4: fitting the weights ---------------------------------------------------------------

@pytest.mark.points(2)
def test_fit_weights_matches_lasso():
    H, y = _problem(0)
    gamma = np.array([0.05, 0.2, 0.1, 0.3])
    w = check.array(ex.fit_weights(H, y, gamma, steps=500), shape=(4,))
    expected = _lasso(H, y, gamma)
    check.close(w, expected, atol=1e-6, what="weights")
    assert np.array_equal(w == 0, expected == 0)              # the same weights are exactly zero


@pytest.mark.points(2)
@pytest.mark.hidden
def test_fit_weights_hidden_problems():
    for seed in (5, 6):
        H, y = _problem(seed, true_w=(0.9, -0.4, 0.0, 0.0), noise=0.5)
        gamma = np.array([0.1, 0.1, 0.2, 0.2])
        w = check.array(ex.fit_weights(H, y, gamma, steps=500), shape=(4,))
        check.close(w, _lasso(H, y, gamma), atol=1e-6, what=f"weights (seed {seed})")
    # a threshold above every gradient at w = 0: all weights exactly zero
    grad0 = np.abs(2 / H.shape[1] * H @ y).max()
    w = check.array(ex.fit_weights(H, y, np.full(4, 1.01 * grad0), steps=500), shape=(4,))
    assert np.count_nonzero(w) == 0


# --- task 5: choosing the candidate -----------------------------------------------------------

@pytest.mark.points(2)
def test_choose_candidate():
    assert check.integer(ex.choose_candidate(1.0, [0.9, 0.5, 0.7], [0.3, 0.2, 0.1])) == 1
    assert ex.choose_candidate(1.0, [1.0, 1.2], [0.3, 0.2]) is None                 # nothing lowers F
    assert ex.choose_candidate(1.0, [0.9, 0.5], [0.3, 0.0]) is None                 # the best one got w = 0
    assert check.integer(ex.choose_candidate(1.0, [0.5, 0.5], [0.3, 0.2])) == 0     # ties: the first


@pytest.mark.points(1)
@pytest.mark.hidden
def test_choose_candidate_tolerance():
    assert ex.choose_candidate(2.0, [1.9999], [0.1], rel_tol=1e-4) is None           # not lower by enough
    assert check.integer(ex.choose_candidate(2.0, [1.9999], [0.1], rel_tol=1e-6)) == 0
    assert check.integer(ex.choose_candidate(-1.0, [-1.5, -1.2], [0.1, -0.4])) == 0  # negative F: |F| in the tol


# --- task 6: the whole loop ---------------------------------------------------------------------

def _candidates(seed, m=120):
    rng = np.random.default_rng(seed)
    y = rng.standard_normal(m)
    good = y + 0.3 * rng.standard_normal(m)
    better = y + 0.1 * rng.standard_normal(m)
    noise = [rng.standard_normal(m) for _ in range(3)]
    return y, [[(noise[0], 0.0), (good, 1.0)], [(good, 1.0), (better, 2 ** 0.5)], [(noise[1], 2 ** 0.5),
                                                                                  (noise[2], 3 ** 0.5)]]


@pytest.mark.points(2)
def test_adanet_search_small():
    y, candidates = _candidates(0)
    chosen, w = ex.adanet_search(candidates, y, lam=0.01, beta=0.001)
    chosen = [check.sequence(c, 2) for c in check.sequence(chosen, 2, kinds=(list,))]
    assert [(check.integer(t), check.integer(k)) for t, k in chosen] == [(0, 1), (1, 1)]
    w = check.array(w, shape=(2,))
    assert w[1] > w[0] > -0.5 and w[1] > 0.5                  # the better subnetwork carries the ensemble
    nothing, w0 = ex.adanet_search(candidates, y, lam=100.0, beta=1.0)
    assert check.sequence(nothing, 0, kinds=(list,)) == () and check.array(w0).shape == (0,)


class _Fixed(nn.Module):
    def __init__(self, out):
        super().__init__()
        self.out = nn.Parameter(torch.tensor(out, dtype=torch.float32)[:, None])

    def forward(self, X):
        return self.out[X[:, 0].long()]


@pytest.mark.points(3)
@pytest.mark.hidden
def test_adanet_search_replays_minilib():
    for seed, lam in ((1, 0.02), (2, 0.0), (3, 0.3)):
        y, candidates = _candidates(seed)
        chosen, w = ex.adanet_search(candidates, y, lam=lam, beta=0.001)
        chosen = [check.sequence(c, 2) for c in check.sequence(chosen, len(chosen), kinds=(list,))]

        def generator(t, previous, s, candidates=candidates):
            return [Candidate(f"{t}/{k}", _Fixed(out), r) for k, (out, r) in enumerate(candidates[t])]

        ref = AdaNet(generator, lam=lam, beta=0.001, max_iterations=3, task="regression",
                     train=lambda *a: None, device=torch.device("cpu"))
        ref.fit(np.arange(len(y), dtype=np.float32)[:, None], y.astype(np.float32))
        expected = [(r.t, r.chosen) for r in ref.history if r.chosen is not None]
        assert [(check.integer(t), check.integer(k)) for t, k in chosen] == expected, (seed, lam)
        # the weights of the final ensemble: minilib stops when F stops falling in float32, so the exact optimum
        # comes from sklearn's lasso on the chosen subnetworks (1e-4: 500 fixed ISTA steps on correlated members)
        H = np.array([candidates[t][k][0] for t, k in expected])
        gamma = np.array([lam * candidates[t][k][1] + 0.001 for t, k in expected])
        check.close(check.array(w, shape=(len(expected),)), _lasso(H, y, gamma), atol=1e-4, what=f"w (seed {seed})")
