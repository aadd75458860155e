"""minilib.pipeline: chapter 12's joint space, its Dask-ready trial, NetScore and the final-model helpers."""

import math

import numpy as np
import pytest
import torch

from minilib import pipeline as P
from minilib.ensembles.selection import ensemble_selection
from minilib.nas.space import SPACE as CELL_SPACE
from minilib.study import Trial

GOOD_CELL = {"0->1": "conv3", "0->2": "skip", "1->2": "conv1", "0->3": "conv3", "1->3": "avgpool", "2->3": "skip"}


def config(**hyper):
    return {**GOOD_CELL, "lr": 0.01, "weight_decay": 1e-4, "dropout": 0.1, **hyper}


def test_netscore_closed_form():
    # Wong (2019), eq. 1: 100 % accuracy, 1 M parameters and 1 M MACs give 20 * log10(100**2) = 80;
    # doubling the parameters costs 20 * 0.5 * log10(2) = 3.01 (catches a missing percent or million scale)
    assert P.netscore(1.0, 1e6, 1e6) == pytest.approx(80.0)
    assert P.netscore(1.0, 2e6, 1e6) == pytest.approx(80.0 - 10 * math.log10(2))
    assert P.netscore(0.5, 1e6, 4e6, alpha=1.0, beta=1.0, gamma=0.25) == pytest.approx(
        20 * (math.log10(50) - 0.25 * math.log10(4)))


@pytest.mark.parametrize("bad", [dict(accuracy=0.0), dict(accuracy=95.0), dict(params=0), dict(macs=-1.0)])
def test_netscore_rejects_bad_input(bad):
    # an accuracy given in percent (95.0) would otherwise give a silently wrong, larger score
    args = dict(accuracy=0.9, params=1e4, macs=1e5) | bad
    with pytest.raises(ValueError):
        P.netscore(**args)


def test_space_joins_the_cell_and_the_training_hyperparameters():
    assert set(P.SPACE.names) == set(CELL_SPACE.names) | {"lr", "weight_decay", "dropout"}
    with pytest.raises(ValueError):
        P.build_model(config(lr=1.0))              # outside the space: a clear error, not a diverged trial


def test_build_model_has_dropout_before_the_head():
    model = P.build_model(config(dropout=0.3))
    assert isinstance(model.head[0], torch.nn.Dropout) and model.head[0].p == pytest.approx(0.3)
    model.eval()
    x = torch.randn(4, 40)
    assert torch.equal(model(x), model(x))         # no dropout at prediction time


def test_train_trial_returns_what_the_pipeline_needs():
    threads = torch.get_num_threads()
    result = P.train_trial(config(), 1)
    assert torch.get_num_threads() == threads      # the caller's thread setting is restored
    data = P.load_data()
    probs = result["val_probs"]
    assert probs.shape == (len(data.y_val), 10) and probs.dtype == np.float32
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    # the objective is the validation error of exactly these probabilities
    assert result["value"] == pytest.approx(np.mean(probs.argmax(axis=1) != data.y_val))
    assert 0.0 < result["value"] < 0.9            # one epoch of a good cell learns something
    assert result["epochs"] == 1 and result["params"] > 0 and result["flops"] > 0 and result["train_seconds"] > 0
    # the stored weights rebuild the same model (same process, same kernels: exact)
    trial = Trial(0, config(), budget=1, value=result["value"], status="ok", user_attrs=result)
    np.testing.assert_array_equal(P.trial_probs(trial, data.X_val), probs)


@pytest.mark.parametrize("budget", [0, 1.5, -3])
def test_train_trial_rejects_budgets_that_are_not_whole_epochs(budget):
    with pytest.raises(ValueError, match="whole number of epochs"):
        P.train_trial(config(), budget)


def _fake_trials(seed=0, n=6, n_val=50):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 10, n_val)
    trials = []
    for i in range(n):
        probs = rng.dirichlet(np.ones(10), n_val).astype(np.float32)
        trials.append(Trial(i, config(), budget=1 + i % 3, value=float(np.mean(probs.argmax(1) != y)), status="ok",
                            user_attrs={"val_probs": probs}))
    trials.append(Trial(n, config(), budget=9, status="failed", error="KilledWorker"))
    return trials, y


def test_best_trial_prefers_lower_error_then_longer_training():
    trials = [Trial(0, config(), 1, 0.2, "ok"), Trial(1, config(), 3, 0.1, "ok"), Trial(2, config(), 9, 0.1, "ok"),
              Trial(3, config(), 9, None, "failed")]
    assert P.best_trial(trials).number == 2
    with pytest.raises(ValueError):
        P.best_trial([Trial(0, config(), 1, None, "failed")])


def test_select_ensemble_is_caruana_on_the_finished_trials():
    trials, y = _fake_trials()
    selection = P.select_ensemble(trials, y, ensemble_size=10)
    reference = ensemble_selection(np.stack([t.user_attrs["val_probs"] for t in trials if t.ok]), y, 10, "nll")
    assert selection.picks == reference.picks      # the failed trial is not a candidate
    np.testing.assert_allclose(selection.weights.sum(), 1.0)
    with pytest.raises(ValueError):
        P.select_ensemble([trials[-1]], y)
