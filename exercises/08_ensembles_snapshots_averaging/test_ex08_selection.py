"""Graded tests for ex08_selection.py (greedy selection with replacement, and selection end to end)."""

import ex08_selection as ex
import excheck as check
import numpy as np
import pytest

from minilib.ensembles.selection import ensemble_selection

FORBIDDEN_IMPORTS = ["minilib.ensembles.selection"]


def _library(seed, n_models=8, n=120, k=4):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    preds = rng.dirichlet(np.ones(k) * 0.7, size=(n_models, n))
    preds[:, np.arange(n), y] += rng.uniform(0, 0.6, size=(n_models, 1))      # models of varying quality
    return preds / preds.sum(-1, keepdims=True), y


@pytest.mark.points(2)
def test_hand_computed_library_with_replacement():
    # MSE, y = 0, constant models +1, -1, +0.5: picks 2, 1, 2 with losses 0.25, 0.0625, 0
    picks, trajectory = ex.greedy_selection(np.array([[1.0], [-1.0], [0.5]]), np.zeros(1), 3, loss="mse")
    assert check.int_list(picks, 3) == [2, 1, 2]
    check.close(check.array(np.asarray(check.sequence(trajectory, 3, kinds=(list,)), dtype=float), shape=(3,)),
                [0.25, 0.0625, 0.0], atol=1e-15, what="trajectory")


@pytest.mark.points(1)
def test_nll_first_pick_is_the_best_single_model():
    preds, y = _library(0)
    picks, trajectory = ex.greedy_selection(preds, y, 5, loss="nll")
    picks = check.int_list(picks, 5)
    single = [ex.nll(p, y) for p in preds]
    assert picks[0] == int(np.argmin(single))
    check.approx(check.number(trajectory[0]), min(single), rel=1e-12, what="loss after step 1")


@pytest.mark.points(2)
@pytest.mark.hidden
def test_greedy_matches_minilib():
    for seed in (1, 2, 3):
        preds, y = _library(seed)
        ref = ensemble_selection(preds, y, ensemble_size=15, loss="nll", use_best=False)
        picks, trajectory = ex.greedy_selection(preds, y, 15, loss="nll")
        assert check.int_list(picks, 15) == ref.picks
        check.close(np.asarray([check.number(v) for v in trajectory]), ref.trajectory, rtol=1e-12)


@pytest.mark.points(1)
def test_select_ensemble_small():
    preds = np.array([[1.0], [-1.0], [0.5]])
    weights, test = ex.select_ensemble(preds, np.zeros(1), 10 * preds, ensemble_size=5, loss="mse")
    check.close(check.array(weights, shape=(3,)), [0, 1 / 3, 2 / 3], atol=1e-12, what="weights (best prefix: 3 steps)")
    check.close(check.array(test, shape=(1,)), [0.0], atol=1e-12, what="weighted test prediction")


@pytest.mark.points(2)
@pytest.mark.hidden
def test_select_ensemble_end_to_end_matches_minilib():
    for seed in (4, 5):
        val, y = _library(seed, n_models=10)
        test, _ = _library(seed + 100, n_models=10)
        ref = ensemble_selection(val, y, ensemble_size=20, loss="nll")
        weights, out = ex.select_ensemble(val, y, test, ensemble_size=20, loss="nll")
        check.close(check.array(weights, shape=(10,)), ref.weights, atol=1e-12, what="weights")
        check.close(check.array(out, shape=test.shape[1:]), ref.predict(test), atol=1e-12, what="test prediction")
