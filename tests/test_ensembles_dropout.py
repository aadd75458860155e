"""minilib.ensembles.dropout against torch.nn.Dropout (fixed masks and moments), the weight-scaling
identity for one layer, and MC dropout against the exact average over every mask."""

import numpy as np
import pytest
import torch
from torch import nn

from minilib.ensembles.dropout import (
    Dropout,
    all_masks,
    arithmetic_mean,
    dropout,
    geometric_mean,
    keep_mask,
    mask_probabilities,
    mc_dropout_mode,
    mc_dropout_predict,
    subnetwork_logits,
)


def test_inverted_dropout_with_torch_mask_equals_torch():
    # recover torch's mask from its output (x has no zeros) and replay it: catches scaling by p instead of
    # 1/(1-p), or dropping with probability 1-p
    torch.manual_seed(0)
    x = torch.rand(50, 20) + 0.5
    out = nn.Dropout(0.3).train()(x)
    mask = (out != 0).float()
    torch.testing.assert_close(dropout(x, 0.3, training=True, mask=mask), out)
    torch.testing.assert_close(dropout(x, 0.3, training=True, inverted=False, mask=mask), x * mask)


def test_eval_mode_identity_and_paper_scaling():
    x = torch.randn(4, 5)
    assert torch.equal(Dropout(0.4).eval()(x), x)                        # inverted: identity at test time
    assert torch.equal(nn.Dropout(0.4).eval()(x), x)
    torch.testing.assert_close(Dropout(0.4, inverted=False).eval()(x), 0.6 * x)   # paper: scale by keep prob
    torch.testing.assert_close(dropout(x, 0.0, training=True), x)       # p = 0 is the identity
    with pytest.raises(ValueError):
        Dropout(1.0)


@pytest.mark.parametrize("inverted", [True, False])
def test_moments_match_torch_and_closed_form(inverted):
    # inverted: E = x, Var = x^2 p / (1 - p); paper: E = (1 - p) x = its test-time output, Var = x^2 p (1 - p).
    # 3e5 draws; means within 5 standard errors. Catches a mask with keep probability p.
    p, x, n = 0.3, 2.0, 300_000
    gen = torch.Generator().manual_seed(0)
    ours = Dropout(p, inverted=inverted, generator=gen).train()(torch.full((n,), x)).double()
    scale = 1 / (1 - p) if inverted else 1.0
    mean, var = (1 - p) * x * scale, x**2 * p * (1 - p) * scale**2
    assert abs(ours.mean().item() - mean) < 5 * np.sqrt(var / n)
    assert ours.var().item() == pytest.approx(var, rel=0.02)
    assert (ours == 0).double().mean().item() == pytest.approx(p, abs=5 * np.sqrt(p * (1 - p) / n))
    if inverted:
        torch.manual_seed(1)
        ref = nn.Dropout(p).train()(torch.full((n,), x)).double()
        assert abs(ours.mean().item() - ref.mean().item()) < 5 * np.sqrt(2 * var / n)
        assert ours.var().item() == pytest.approx(ref.var().item(), rel=0.03)


def test_keep_mask_is_reproducible():
    a = keep_mask((1000,), 0.5, torch.Generator().manual_seed(3))
    b = keep_mask((1000,), 0.5, torch.Generator().manual_seed(3))
    assert torch.equal(a, b) and set(a.unique().tolist()) == {0.0, 1.0}


def small_net(p, seed=0, hidden=4):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(3, hidden), nn.ReLU(), nn.Dropout(p), nn.Linear(hidden, 3))


def test_mc_dropout_mode_switches_only_dropout_and_restores():
    # catches model.train() for MC dropout (BatchNorm would use batch statistics)
    net = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Dropout(0.5), Dropout(0.2), nn.Linear(4, 2)).train()
    with mc_dropout_mode(net):
        assert [m.training for m in net] == [False, False, True, True, False]
    assert all(m.training for m in net.modules())


def test_mc_dropout_mean_converges_to_the_average_over_all_masks():
    # the oracle: enumerate all 2^4 masks of the dropout layer, weight each sub-network's softmax by its
    # probability. Catches MC dropout run in eval mode (variance 0, mean = weight scaling) and a missing
    # 1/(1-p) at prediction time.
    p = 0.5
    net = small_net(p)
    X = torch.randn(6, 3, generator=torch.Generator().manual_seed(1)) * 2
    with torch.no_grad():
        hidden = net[1](net[0](X))
    masks = all_masks(4)
    probs = torch.softmax(subnetwork_logits(hidden, net[3], masks, p), dim=-1).double()
    exact = arithmetic_mean(probs, mask_probabilities(masks, p).double()).numpy()
    # 20 passes over 1000 copies of each input (a fresh mask per row): 20,000 samples per input
    mc = mc_dropout_predict(net, X.repeat(1000, 1), n_samples=20, seed=0)
    assert mc["mean"].shape == (6000, 3) and mc["variance"].shape == (6000, 3)
    mean = mc["mean"].reshape(1000, 6, 3).mean(axis=0)
    np.testing.assert_allclose(mean, exact, atol=0.01)                  # SE <= 0.5 / sqrt(20000) = 0.0035
    with torch.no_grad():
        weight_scaling = torch.softmax(net.eval()(X), dim=-1).numpy()
    net.train()
    assert np.abs(exact - weight_scaling).max() > 0.03                # so eval-mode "MC dropout" would fail
    assert mc["variance"].max() > 1e-3
    again = mc_dropout_predict(net, X, n_samples=50, seed=0)["mean"]
    np.testing.assert_array_equal(again, mc_dropout_predict(net, X, n_samples=50, seed=0)["mean"])
    assert net.training


def test_mc_dropout_without_dropout_has_zero_variance():
    net = small_net(0.0).eval()
    X = torch.randn(5, 3)
    mc = mc_dropout_predict(net, X, n_samples=4, task="regression", return_samples=True)
    assert mc["samples"].shape == (4, 5, 3)
    np.testing.assert_allclose(mc["variance"], 0.0, atol=1e-12)
    np.testing.assert_allclose(mc["mean"], net(X).detach().double().numpy(), rtol=1e-6)


def test_weight_scaling_is_the_geometric_mean_for_one_layer():
    # Baldi & Sadowski: for a softmax layer after dropout, the eval-mode network (weight scaling) gives exactly
    # the normalised geometric mean of all sub-networks; the arithmetic mean differs. Catches mask weights that
    # do not sum to 1 and a geometric mean that is not renormalised.
    p = 0.3
    net = small_net(p, hidden=6)
    X = torch.randn(8, 3)
    with torch.no_grad():
        hidden = net[1](net[0](X))
        scaled = torch.softmax(net.eval()(X), dim=-1).double()
    masks = all_masks(6)
    weights = mask_probabilities(masks, p).double()
    assert masks.shape == (64, 6) and weights.sum().item() == pytest.approx(1.0)
    probs = torch.softmax(subnetwork_logits(hidden, net[3], masks, p).double(), dim=-1)
    torch.testing.assert_close(geometric_mean(probs, weights), scaled, rtol=1e-5, atol=1e-6)
    assert not torch.allclose(arithmetic_mean(probs, weights), scaled, atol=1e-4)
