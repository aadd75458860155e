"""minilib.ensembles.selection: Caruana et al.'s greedy forward selection with replacement, on a
hand-computed library and against a brute-force first step."""

import numpy as np
import pytest

from minilib.ensembles.metrics import nll
from minilib.ensembles.selection import ensemble_selection


def test_hand_computed_library():
    # MSE, y = 0, three constant models +1, -1, +0.5: picks 2, 1, 2 with losses 0.25, 0.0625, 0.
    # Catches selection without replacement (third pick would be 0) and averaging by the library size.
    preds = np.array([[1.0], [-1.0], [0.5]])
    sel = ensemble_selection(preds, np.zeros(1), ensemble_size=3, loss="mse")
    assert sel.picks == [2, 1, 2]
    np.testing.assert_allclose(sel.trajectory, [0.25, 0.0625, 0.0], atol=1e-15)
    np.testing.assert_allclose(sel.weights, [0, 1 / 3, 2 / 3])
    assert sel.size == 3 and sel.members == [1, 2]
    np.testing.assert_allclose(sel.predict(preds), [0.0], atol=1e-15)


def test_use_best_keeps_the_best_prefix():
    # one excellent model and a bad one that ties in accuracy but hurts NLL: after step 1 adding anything
    # other than the best model cannot help, so with use_best the weights stay on it
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 200)
    good = np.full((200, 3), 0.1)
    good[np.arange(200), y] = 0.8
    others = rng.dirichlet(np.ones(3), size=(5, 200))
    preds = np.concatenate([others, good[None]])
    sel = ensemble_selection(preds, y, ensemble_size=10, loss="nll")
    assert sel.picks[0] == 5                                          # step 1 = the best single model
    assert sel.trajectory[sel.size - 1] == min(sel.trajectory) <= nll(good, y)
    last = ensemble_selection(preds, y, ensemble_size=10, loss="nll", use_best=False)
    assert last.size == 10 and last.weights.sum() == pytest.approx(1.0)


def test_weights_and_first_step_on_a_random_library():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 4, 100)
    preds = rng.dirichlet(np.ones(4) * 0.5, size=(8, 100))
    sel = ensemble_selection(preds, y, ensemble_size=12, loss="nll")
    single = [nll(p, y) for p in preds]
    assert sel.picks[0] == int(np.argmin(single))
    assert sel.trajectory[sel.size - 1] <= min(single)
    np.testing.assert_allclose(sel.weights * sel.size, np.round(sel.weights * sel.size))   # multiples of 1/size
    assert sel.weights.sum() == pytest.approx(1.0) and np.all(sel.weights >= 0)
    assert sel.predict(preds).shape == (100, 4)
    # the greedy step: the second pick minimises the loss of the two-model average
    second = [nll((preds[sel.picks[0]] + p) / 2, y) for p in preds]
    assert sel.picks[1] == int(np.argmin(second))


def test_custom_loss_and_errors():
    preds = np.array([[0.0], [2.0]])
    sel = ensemble_selection(preds, np.array([1.0]), ensemble_size=2, loss=lambda f, y: float(abs(f - y).sum()))
    assert sel.trajectory[-1] == 0.0 and sorted(sel.picks) == [0, 1]
    with pytest.raises(ValueError):
        ensemble_selection(preds, np.array([1.0]), ensemble_size=0)
