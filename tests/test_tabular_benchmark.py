"""The tabular MNIST-1D benchmark: file contents, lookups and cost accounting, and a retraining
check that the stored curves are what train_config produces (one CPU thread)."""

import json

import numpy as np
import pytest
import torch
from reproduction import statistical_mismatches, tight_mismatches

from minilib.benchmarks import load_tabular_mnist1d
from minilib.benchmarks.tabular import (
    EVALS_PER_EPOCH,
    MAX_EPOCHS,
    METRICS,
    SPACE,
    TABULAR_FILE,
    TRAIN_SEEDS,
    TabularBenchmark,
    all_configs,
    save_tables,
    step_values,
    train_config,
)
from minilib.data import load_mnist1d
from minilib.study import Trial


@pytest.fixture(scope="module")
def bench():
    return load_tabular_mnist1d()


def test_file_holds_every_config_seed_and_epoch(bench):
    assert bench.n_configs == len(all_configs(SPACE)) == SPACE.size() == 2016
    assert (bench.n_seeds, bench.max_budget, bench.evals_per_epoch) == (len(TRAIN_SEEDS), MAX_EPOCHS, EVALS_PER_EPOCH)
    assert bench.n_points == MAX_EPOCHS * EVALS_PER_EPOCH and bench.min_budget == pytest.approx(1 / 3)
    np.testing.assert_allclose(bench.budgets[[0, 2, -1]], [1 / 3, 1, 27])
    for m in METRICS:
        assert np.isfinite(bench.tables[m]).all(), m
    for m in ("val_accuracy", "test_accuracy"):
        assert ((bench.tables[m] >= 0) & (bench.tables[m] <= 1)).all()
    assert (bench.tables["seconds"] > 0).all()
    assert TABULAR_FILE.stat().st_size < 5e6
    assert bench.info["epochs"] == MAX_EPOCHS and bench.info["threads"] == 1
    # accuracies are stored as counts of correct predictions: exact multiples of 1/1000
    counts = bench.tables["val_accuracy"] * bench.info["n_val"]
    np.testing.assert_allclose(counts, np.rint(counts), atol=1e-6)


def test_objective_is_a_lookup_with_cost(bench):
    b = TabularBenchmark(bench.tables, seed=None, evals_per_epoch=3)
    config = b.configs[123]
    expected = 1 - bench.tables["val_accuracy"][123, :, 26].mean()     # 9 epochs = the 27th point
    assert b.objective(config, 9) == pytest.approx(expected)
    assert b.objective(config, 9.0) == pytest.approx(expected)
    assert b.elapsed == pytest.approx(2 * bench.tables["seconds"][123, :, :27].mean(axis=0).sum())
    assert b.n_calls == 2
    assert b.cost(config, 9, from_budget=3) == pytest.approx(bench.tables["seconds"][123, :, 9:27].mean(axis=0).sum())
    assert b.lookup(config, 1 / 3) == pytest.approx(1 - bench.tables["val_accuracy"][123, :, 0].mean())
    assert b.lookup(config, 27 / 81 * 2) == pytest.approx(1 - bench.tables["val_accuracy"][123, :, 1].mean())
    assert b.column(1) == 2 and b.column(27) == 80
    assert b.objective(config) == pytest.approx(1 - bench.tables["val_accuracy"][123, :, -1].mean())
    assert b.test_error(config, 27) == pytest.approx(1 - bench.tables["test_accuracy"][123, :, -1].mean())
    b.reset()
    assert (b.elapsed, b.n_calls) == (0.0, 0)


def test_seed_option_picks_one_training_run(bench):
    b1 = TabularBenchmark(bench.tables, seed=1, evals_per_epoch=3)
    config = b1.configs[7]
    assert b1.lookup(config, 27) == pytest.approx(1 - bench.tables["val_accuracy"][7, 1, -1])
    with pytest.raises(ValueError):
        TabularBenchmark(bench.tables, seed=2, evals_per_epoch=3)
    with pytest.raises(ValueError, match="evals_per_epoch"):
        TabularBenchmark(bench.tables, evals_per_epoch=2)          # 81 points are not whole epochs of 2


@pytest.mark.parametrize("budget", [0, 28, 1.5, 0.25, -3, float("nan"), float("inf")])
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


# --- retraining reproduces the table, on any x86-64 CPU ------------------------------------------
# The table was built on one CPU; another CPU runs other float kernels (AVX2 vs AVX-512), so sums are
# rounded differently in the last bit. Measured on an AVX-512 Xeon against the stored (AVX2-built)
# table, 40 random rows x 27 epochs (datasets/README.md): rows with lr <= 3e-3 stay within the float16
# storage precision for 3 epochs (and end within 0.007 accuracy), but rows with lr >= 1e-2 amplify the
# difference: their curves leave the stored ones after 7 to 49 thirds of an epoch, by up to 0.09
# accuracy, about as far as another training seed. Hence two kinds of checks:
#   * stable rows: every point of 3 epochs to float16 precision (rtol 1e-3, one flipped prediction);
#   * an unstable row (lr = 0.1): the first third of an epoch tightly (no divergence was ever seen there),
#     the rest only on average (mean |accuracy difference| <= 0.05, mean relative loss difference <= 0.1).
#     Forcing PyTorch's kernels with ATEN_CPU_CAPABILITY=default/avx2/avx512 on one machine (three
#     "CPUs") gave 0.005-0.023 and 0.008-0.026 for rows 2015 and 1705: a 2-4x margin.
# Both checks can fail: a wrong seed and a wrong configuration are refused by the same functions.

STABLE_ROWS = [0, 777, 1076]     # lr 1e-4, 1e-3, 3e-3
UNSTABLE_ROW = 2015              # lr 0.1, width 128, depth 3, dropout 0.5, batch 256, wd 1e-2


def _retrain(config, epochs, seed):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return train_config(config, epochs, seed=seed, data=load_mnist1d(), device=torch.device("cpu"),
                            evals_per_epoch=EVALS_PER_EPOCH)
    finally:
        torch.set_num_threads(threads)


def _stored(bench, row, seed):
    return {m: bench.tables[m][row, seed] for m in METRICS}


def _tight_mismatches(again, bench, row, seed, points):
    return tight_mismatches(again, _stored(bench, row, seed), points)


def _statistical_mismatches(again, bench, row, seed):
    return statistical_mismatches(again, _stored(bench, row, seed))



@pytest.mark.parametrize("row", STABLE_ROWS)
def test_stable_rows_reproduce_the_stored_curves(bench, row):
    config = all_configs(SPACE)[row]
    assert config["lr"] <= 3e-3
    for seed, train_seed in enumerate(TRAIN_SEEDS):
        again = _retrain(config, 3, train_seed)
        assert _tight_mismatches(again, bench, row, seed, 3 * EVALS_PER_EPOCH) == []
    # the check can fail: the curve of the other training seed is refused
    assert _tight_mismatches(again, bench, row, 0, 3 * EVALS_PER_EPOCH) != []


def test_unstable_row_reproduces_its_start_exactly_and_the_rest_on_average(bench):
    config = all_configs(SPACE)[UNSTABLE_ROW]
    assert config["lr"] == 0.1
    again = _retrain(config, 3, TRAIN_SEEDS[0])
    assert _tight_mismatches(again, bench, UNSTABLE_ROW, 0, 1) == []
    assert _statistical_mismatches(again, bench, UNSTABLE_ROW, 0) == []


def test_the_reproduction_checks_refuse_a_wrong_seed_or_configuration(bench):
    # Without these, a check loose enough to pass on any CPU might pass for anything.
    config = all_configs(SPACE)[UNSTABLE_ROW]
    wrong_seed = _retrain(config, 3, TRAIN_SEEDS[0] + 1000)
    assert _tight_mismatches(wrong_seed, bench, UNSTABLE_ROW, 0, 1) != []
    other_lr = next(r for r, c in enumerate(all_configs(SPACE)) if c == {**config, "lr": 0.03})
    wrong_config = _retrain(all_configs(SPACE)[other_lr], 3, TRAIN_SEEDS[0])
    assert _tight_mismatches(wrong_config, bench, UNSTABLE_ROW, 0, 1) != []
    assert _statistical_mismatches(wrong_config, bench, UNSTABLE_ROW, 0) != []


def test_grid_in_file_matches_space():
    with np.load(TABULAR_FILE) as f:
        assert json.loads(str(f["grid"])) == all_configs(SPACE)


def test_saved_tables_keep_accuracies_exact_and_refuse_other_values(tmp_path):
    rng = np.random.default_rng(0)
    shape = (SPACE.size(), 1, 3)
    tables = {m: rng.random(shape) for m in METRICS}
    for m in ("val_accuracy", "test_accuracy"):
        tables[m] = rng.integers(0, 1001, shape) / 1000
    info = {"n_val": 1000, "n_test": 1000, "evals_per_epoch": 3}
    save_tables(tmp_path / "t.npz", tables, info)
    loaded = load_tabular_mnist1d(tmp_path / "t.npz")
    assert loaded.max_budget == 1 and loaded.min_budget == pytest.approx(1 / 3)
    np.testing.assert_array_equal(loaded.tables["val_accuracy"], tables["val_accuracy"])
    np.testing.assert_allclose(loaded.tables["val_loss"], tables["val_loss"], rtol=1e-3)
    tables["test_accuracy"][5, 0, 1] = 0.4567     # not a count out of 1000
    with pytest.raises(ValueError, match="test_accuracy"):
        save_tables(tmp_path / "u.npz", tables, info)
