"""Graded tests for ex09_dropout.py (inverted dropout, mask probabilities, entropy, MC dropout, all masks)."""

import ex09_dropout as ex
import excheck as check
import numpy as np
import pytest
import torch
from torch import nn

from minilib.ensembles import dropout as reference

FORBIDDEN_IMPORTS = ["minilib.ensembles.dropout"]


def _net(seed, p=0.5, bn=True, hidden=6):
    torch.manual_seed(seed)
    layers = [nn.Linear(4, hidden)] + ([nn.BatchNorm1d(hidden)] if bn else [])
    layers += [nn.ReLU(), nn.Dropout(p), nn.Linear(hidden, 3)]
    net = nn.Sequential(*layers)
    with torch.no_grad():
        net(torch.randn(64, 4) * 2 + 1)            # move the BN running statistics away from 0 / 1
    return net


# --- task 1: inverted dropout ------------------------------------------------------------------

@pytest.mark.points(1)
def test_inverted_dropout_with_a_mask():
    x = np.array([[1.0, -2.0, 3.0], [0.5, 0.5, 0.5]])
    mask = np.array([[1, 0, 1], [0, 1, 1]])
    out = check.array(ex.inverted_dropout(x, 0.2, mask), shape=(2, 3))
    check.close(out, [[1.25, 0.0, 3.75], [0.0, 0.625, 0.625]], rtol=1e-12, what="inverted dropout")
    check.close(check.array(ex.inverted_dropout(x, 0.0, np.ones((2, 3))), shape=(2, 3)), x, rtol=0, what="p = 0")
    with pytest.raises(ValueError):
        ex.inverted_dropout(x, 1.0, mask)


@pytest.mark.points(1)
@pytest.mark.hidden
def test_inverted_dropout_replays_torch():
    torch.manual_seed(3)
    x = torch.rand(20, 7) + 0.5
    out = nn.Dropout(0.35).train()(x)
    mask = (out != 0).double().numpy()
    got = check.array(ex.inverted_dropout(x.double().numpy(), 0.35, mask), shape=(20, 7))
    check.close(got, out.double().numpy(), rtol=1e-6, what="torch.nn.Dropout's output with its own mask")


# --- task 2: the probability of a mask --------------------------------------------------------------

@pytest.mark.points(1)
def test_mask_probability():
    check.approx(check.number(ex.mask_probability(np.array([1, 0, 1, 1]), 0.2)), 0.8 ** 3 * 0.2, rel=1e-12)
    check.approx(check.number(ex.mask_probability(np.array([0, 0]), 0.5)), 0.25, rel=1e-12)


@pytest.mark.points(1)
@pytest.mark.hidden
def test_mask_probabilities_sum_to_one():
    masks = reference.all_masks(5).numpy()
    got = np.array([check.number(ex.mask_probability(m, 0.3)) for m in masks])
    check.close(got, reference.mask_probabilities(torch.tensor(masks), 0.3).numpy(), rtol=1e-6)
    check.approx(float(got.sum()), 1.0, rel=1e-12, what="sum over all masks")


# --- task 3: predictive entropy -------------------------------------------------------------------

@pytest.mark.points(1)
def test_entropy():
    probs = np.array([[0.25, 0.25, 0.25, 0.25], [1.0, 0.0, 0.0, 0.0], [0.5, 0.5, 0.0, 0.0]])
    check.close(check.array(ex.predictive_entropy(probs), shape=(3,)), [np.log(4), 0.0, np.log(2)], atol=1e-12)


@pytest.mark.points(1)
@pytest.mark.hidden
def test_entropy_random_rows():
    rng = np.random.default_rng(4)
    probs = rng.dirichlet(np.ones(5) * 0.3, size=40)
    probs[0] = [0, 0, 1, 0, 0]
    expected = -np.sum(np.where(probs > 0, probs * np.log(np.where(probs > 0, probs, 1)), 0), axis=1)
    check.close(check.array(ex.predictive_entropy(probs), shape=(40,)), expected, rtol=1e-10, atol=1e-12)


# --- task 4: MC dropout -----------------------------------------------------------------------------

@pytest.mark.points(2)
def test_mc_dropout_matches_minilib_and_keeps_batchnorm_in_eval():
    # replays minilib's MC dropout with the same seed: a model.train() (BN on batch statistics) fails here
    net = _net(0).train()
    X = torch.randn(10, 4, generator=torch.Generator().manual_seed(1))
    mean, var = ex.mc_dropout_predict(net, X, n_samples=30, seed=5)
    mean, var = check.array(mean, shape=(10, 3), what="mean"), check.array(var, shape=(10, 3), what="variance")
    ref = reference.mc_dropout_predict(net, X, n_samples=30, seed=5)
    check.close(mean, ref["mean"], rtol=1e-5, atol=1e-7, what="MC mean")
    check.close(var, ref["variance"], rtol=1e-4, atol=1e-8, what="MC variance")
    assert all(m.training for m in net.modules())                       # flags restored


@pytest.mark.points(1)
def test_mc_dropout_without_dropout_is_deterministic():
    net = _net(1, p=0.0).eval()
    X = torch.randn(5, 4)
    mean, var = ex.mc_dropout_predict(net, X, n_samples=4, seed=0)
    check.close(check.array(var, shape=(5, 3)), np.zeros((5, 3)), atol=1e-12, what="variance with p = 0")
    with torch.no_grad():
        expected = torch.softmax(net(X), -1).double().numpy()
    check.close(check.array(mean, shape=(5, 3)), expected, rtol=1e-6, what="mean with p = 0")
    assert not any(m.training for m in net.modules())


@pytest.mark.points(2)
@pytest.mark.hidden
def test_mc_dropout_other_models():
    for seed, p, bn in ((2, 0.3, False), (3, 0.7, True)):
        net = _net(seed, p=p, bn=bn).eval()
        X = torch.randn(7, 4, generator=torch.Generator().manual_seed(seed))
        mean, var = ex.mc_dropout_predict(net, X, n_samples=25, seed=seed)
        ref = reference.mc_dropout_predict(net, X, n_samples=25, seed=seed)
        check.close(check.array(mean, shape=(7, 3)), ref["mean"], rtol=1e-5, atol=1e-7)
        check.close(check.array(var, shape=(7, 3)), ref["variance"], rtol=1e-4, atol=1e-8)
        assert not any(m.training for m in net.modules())


# --- task 5: every mask of a layer (end to end) ---------------------------------------------------------

def _reference_averages(hidden, W, b, p):
    head = nn.Linear(W.shape[1], W.shape[0]).double()
    with torch.no_grad():
        head.weight.copy_(torch.tensor(W))
        head.bias.copy_(torch.tensor(b))
    masks = reference.all_masks(W.shape[1]).double()
    probs = torch.softmax(reference.subnetwork_logits(torch.tensor(hidden), head, masks, p), dim=-1)
    w = reference.mask_probabilities(masks, p)
    return reference.arithmetic_mean(probs, w).numpy(), reference.geometric_mean(probs, w).numpy()


@pytest.mark.points(2)
def test_geometric_mean_is_weight_scaling():
    # Baldi & Sadowski: for the layer before the softmax, the geometric mean over all masks equals the
    # network with dropout switched off; the arithmetic mean does not
    rng = np.random.default_rng(0)
    hidden, W, b = rng.uniform(0, 2, (6, 4)), rng.normal(size=(3, 4)), rng.normal(size=3)
    arithmetic, geometric = ex.all_mask_averages(hidden, W, b, 0.4)
    arithmetic, geometric = check.array(arithmetic, shape=(6, 3)), check.array(geometric, shape=(6, 3))
    z = hidden @ W.T + b
    switched_off = np.exp(z - z.max(1, keepdims=True))
    check.close(geometric, switched_off / switched_off.sum(1, keepdims=True), rtol=1e-9, atol=1e-12,
                what="geometric mean")
    check.close(arithmetic.sum(1), np.ones(6), rtol=1e-12, what="rows of the arithmetic mean")
    assert np.abs(arithmetic - geometric).max() > 1e-3


@pytest.mark.points(2)
@pytest.mark.hidden
def test_all_mask_averages_on_seeded_layers():
    for seed, (n, H, K), p in ((1, (5, 6, 4), 0.5), (2, (3, 8, 2), 0.2)):
        rng = np.random.default_rng(seed)
        hidden, W, b = rng.uniform(0, 1.5, (n, H)), rng.normal(size=(K, H)), rng.normal(size=K)
        ref_a, ref_g = _reference_averages(hidden, W, b, p)
        arithmetic, geometric = ex.all_mask_averages(hidden, W, b, p)
        check.close(check.array(arithmetic, shape=(n, K)), ref_a, rtol=1e-9, atol=1e-12, what="arithmetic mean")
        check.close(check.array(geometric, shape=(n, K)), ref_g, rtol=1e-7, atol=1e-10, what="geometric mean")
