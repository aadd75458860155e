"""The tabular MNIST-1D benchmark: file contents, lookups and cost accounting, and a retraining
check that the stored curves are what train_config produces (one CPU thread)."""

import json

import numpy as np
import pytest
import torch

from minilib.benchmarks import load_tabular_mnist1d
from minilib.benchmarks.tabular import (
    MAX_EPOCHS,
    METRICS,
    SPACE,
    TABULAR_FILE,
    TRAIN_SEEDS,
    TabularBenchmark,
    all_configs,
    step_values,
    train_config,
)
from minilib.data import load_mnist1d
from minilib.study import Trial


@pytest.fixture(scope="module")
def bench():
    return load_tabular_mnist1d()


def test_file_holds_every_config_seed_and_epoch(bench):
    assert bench.n_configs == len(all_configs(SPACE)) == SPACE.size() == 480
    assert (bench.n_seeds, bench.max_budget) == (len(TRAIN_SEEDS), MAX_EPOCHS)
    for m in METRICS:
        assert np.isfinite(bench.tables[m]).all(), m
    for m in ("val_accuracy", "test_accuracy"):
        assert ((bench.tables[m] >= 0) & (bench.tables[m] <= 1)).all()
    assert (bench.tables["seconds"] > 0).all()
    assert TABULAR_FILE.stat().st_size < 5e6
    assert bench.info["epochs"] == MAX_EPOCHS and bench.info["threads"] == 1


def test_objective_is_a_lookup_with_cost(bench):
    b = TabularBenchmark(bench.tables, seed=None)
    config = b.configs[123]
    expected = 1 - bench.tables["val_accuracy"][123, :, 8].mean()
    assert b.objective(config, 9) == pytest.approx(expected)
    assert b.objective(config, 9.0) == pytest.approx(expected)
    assert b.elapsed == pytest.approx(2 * bench.tables["seconds"][123, :, :9].mean(axis=0).sum())
    assert b.n_calls == 2
    assert b.cost(config, 9, from_budget=3) == pytest.approx(bench.tables["seconds"][123, :, 3:9].mean(axis=0).sum())
    assert b.objective(config) == pytest.approx(1 - bench.tables["val_accuracy"][123, :, -1].mean())
    assert b.test_error(config, 27) == pytest.approx(1 - bench.tables["test_accuracy"][123, :, -1].mean())
    b.reset()
    assert (b.elapsed, b.n_calls) == (0.0, 0)


def test_seed_option_picks_one_training_run(bench):
    b1 = TabularBenchmark(bench.tables, seed=1)
    config = b1.configs[7]
    assert b1.lookup(config, 27) == pytest.approx(1 - bench.tables["val_accuracy"][7, 1, -1])
    with pytest.raises(ValueError):
        TabularBenchmark(bench.tables, seed=2)


@pytest.mark.parametrize("budget", [0, 28, 1.5, -3])
def test_bad_budgets_raise(bench, budget):
    with pytest.raises(ValueError):
        bench.lookup(bench.configs[0], budget)


def test_bad_configs_raise(bench):
    config = dict(bench.configs[0], width=100)
    with pytest.raises(ValueError):
        bench.lookup(config, 3)
    with pytest.raises(TypeError):
        bench.lookup(bench.configs[0], "three")


def test_best_value_and_regret(bench):
    final = 1 - bench.tables["val_accuracy"][:, :, -1].mean(axis=1)
    assert bench.best_value == pytest.approx(final.min())
    assert bench.regret(bench.lookup(bench.best_config)) == pytest.approx(0.0)
    assert (bench.regret(final) >= -1e-12).all()


def test_trajectory_follows_the_largest_budget(bench):
    c = bench.configs
    trials = [Trial(0, c[0], budget=1, value=0.1, status="ok", meta={"end": 1.0}),
              Trial(1, c[1], budget=3, value=0.9, status="ok", meta={"end": 2.0}),
              Trial(2, c[2], budget=3, value=0.5, status="ok", meta={"end": 3.0}),
              Trial(3, c[3], budget=1, value=0.0, status="ok", meta={"end": 4.0})]
    times, regret = bench.trajectory(trials)
    np.testing.assert_allclose(times, [1, 2, 3, 4])
    expected = [bench.regret(bench.lookup(c[i])) for i in (0, 1, 2, 2)]
    np.testing.assert_allclose(regret, expected)
    np.testing.assert_allclose(step_values(times, regret, [0.5, 1, 2.5, 10]),
                               [np.nan, expected[0], expected[1], expected[3]])


@pytest.mark.parametrize("row", [0, 171, 477])
def test_retraining_reproduces_the_stored_curves(bench, row):
    """Same config, same seed, one CPU thread: the first epochs of the stored curves come back."""
    config, epochs = all_configs(SPACE)[row], 4
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        data = load_mnist1d()
        again = train_config(config, epochs, seed=TRAIN_SEEDS[1], data=data, device=torch.device("cpu"))
        other = train_config(config, epochs, seed=TRAIN_SEEDS[0], data=data, device=torch.device("cpu"))
    finally:
        torch.set_num_threads(threads)
    for m in ("val_loss", "test_loss", "train_loss"):
        np.testing.assert_allclose(again[m], bench.tables[m][row, 1, :epochs], rtol=1e-4)
    for m in ("val_accuracy", "test_accuracy"):     # at most one of 1000 predictions may flip
        np.testing.assert_allclose(again[m], bench.tables[m][row, 1, :epochs], atol=1.5e-3)
    # the oracle can fail: the other training seed is far outside the tolerance
    assert np.abs(other["val_loss"] - bench.tables["val_loss"][row, 1, :epochs]).max() > 1e-3


def test_grid_in_file_matches_space():
    with np.load(TABULAR_FILE) as f:
        assert json.loads(str(f["grid"])) == all_configs(SPACE)
