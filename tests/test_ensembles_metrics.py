"""minilib.ensembles.metrics: accuracy, NLL, Brier, ECE and diversity against closed forms and
independent implementations (torch's cross-entropy, a loop version of Guo et al.'s _ECELoss)."""

import numpy as np
import pytest
import torch

from minilib.ensembles.metrics import (
    accuracy,
    ambiguity_decomposition,
    brier,
    disagreement,
    disagreement_matrix,
    entropy,
    expected_calibration_error,
    nll,
    reliability_bins,
)


def random_probs(n=500, k=4, seed=0, sharp=3.0):
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, k)) * sharp
    p = np.exp(z - z.max(1, keepdims=True))
    return p / p.sum(1, keepdims=True), rng.integers(0, k, n)


def test_accuracy_nll_brier_against_torch_and_closed_forms():
    # catches: NLL with log10 or of the max class, Brier without the one-hot target
    p, y = random_probs()
    assert accuracy(p, y) == pytest.approx(np.mean(p.argmax(1) == y))
    ref = torch.nn.functional.nll_loss(torch.log(torch.tensor(p)), torch.tensor(y)).item()
    assert nll(p, y) == pytest.approx(ref, rel=1e-10)
    assert brier(np.eye(3)[[0, 1]], np.array([0, 1])) == 0.0
    assert brier(np.full((1, 2), 0.5), np.array([0])) == pytest.approx(0.5)
    assert entropy(np.full((2, 5), 0.2)) == pytest.approx([np.log(5)] * 2)
    with pytest.raises(ValueError):
        nll(p, y[:-1])


def ece_loop(p, y, n_bins=15):
    """Guo et al.'s _ECELoss (gpleiss/temperature_scaling), written as a loop: bins (lower, upper]."""
    conf, pred = p.max(1), p.argmax(1)
    edges = np.linspace(0, 1, n_bins + 1)
    total = 0.0
    for lo, hi in zip(edges[:-1], edges[1:]):
        inside = (conf > lo) & (conf <= hi)
        if inside.any():
            total += inside.mean() * abs((pred[inside] == y[inside]).mean() - conf[inside].mean())
    return total


@pytest.mark.parametrize("seed,n_bins", [(0, 15), (1, 10), (2, 3)])
def test_ece_matches_the_reference_loop(seed, n_bins):
    p, y = random_probs(seed=seed)
    assert expected_calibration_error(p, y, n_bins) == pytest.approx(ece_loop(p, y, n_bins), abs=1e-12)


def test_ece_closed_forms_and_bin_edges():
    # constant confidence 0.8 with accuracy 0.6 -> ECE 0.2 for any number of bins; all right at confidence 1 -> 0
    p = np.array([[0.8, 0.2]] * 10)
    y = np.array([0] * 6 + [1] * 4)
    for m in (1, 5, 15):
        assert expected_calibration_error(p, y, m) == pytest.approx(0.2)
    assert expected_calibration_error(np.eye(3), np.arange(3)) == 0.0
    # a confidence exactly on an edge belongs to the bin below it: (lower, upper]
    bins = reliability_bins(np.array([[0.6, 0.4], [0.55, 0.45]]), np.array([0, 0]), n_bins=5)
    assert bins["count"].tolist() == [0, 0, 2, 0, 0]


def test_disagreement():
    a = np.array([0, 1, 2, 3])
    assert disagreement(a, a) == 0.0 and disagreement(a, np.array([0, 1, 0, 0])) == 0.5
    p, _ = random_probs(n=50)
    m = disagreement_matrix(np.stack([p, p[::-1], p]))
    assert m.shape == (3, 3) and np.allclose(np.diag(m), 0) and np.allclose(m, m.T) and m[0, 2] == 0


def test_ambiguity_decomposition_is_exact():
    # Krogh & Vedelsby: E = E_bar - A_bar, for scalar outputs and for probability vectors; A_bar >= 0
    rng = np.random.default_rng(0)
    f, y = rng.normal(size=(5, 30)), rng.normal(size=30)
    w = rng.dirichlet(np.ones(5))
    d = ambiguity_decomposition(f, y, w)
    assert d["ensemble_error"] == pytest.approx(np.mean((y - w @ f) ** 2))
    assert d["ensemble_error"] == pytest.approx(d["mean_member_error"] - d["ambiguity"], abs=1e-12)
    probs = np.stack([random_probs(n=40, k=3, seed=s)[0] for s in range(4)])
    onehot = np.eye(3)[random_probs(n=40, k=3, seed=9)[1]]
    d = ambiguity_decomposition(probs, onehot)
    assert d["ensemble_error"] == pytest.approx(np.mean(np.sum((onehot - probs.mean(0)) ** 2, 1)))
    assert d["ensemble_error"] == pytest.approx(d["mean_member_error"] - d["ambiguity"], abs=1e-12)
    assert d["ambiguity"] > 0
    with pytest.raises(ValueError):
        ambiguity_decomposition(f, y, np.ones(5))
