"""Hyperband: the published bracket tables (both variants), totals, s_max by integer arithmetic,
and the searcher running exactly Algorithm 1's brackets."""

import math

import numpy as np
import pytest

from minilib import Choice, Float, Space, maximize
from minilib.hpo import SEARCHERS
from minilib.hpo.hyperband import Hyperband, hyperband_schedule, schedule_totals
from minilib.hpo.successive_halving import max_rung_index

# Li et al. 2018, Algorithm 1 with R = 81, eta = 3 (SMAC3's test_determine_HB pins the same n_i)
PSEUDOCODE_81 = [
    [(81, 1), (27, 3), (9, 9), (3, 27), (1, 81)],
    [(34, 3), (11, 9), (3, 27), (1, 81)],
    [(15, 9), (5, 27), (1, 81)],
    [(8, 27), (2, 81)],
    [(5, 81)],
]
# the paper's printed Table 1: n = floor((s_max + 1) / (s + 1)) * eta^s
TABLE_81 = [
    [(81, 1), (27, 3), (9, 9), (3, 27), (1, 81)],
    [(27, 3), (9, 9), (3, 27), (1, 81)],
    [(9, 9), (3, 27), (1, 81)],
    [(6, 27), (2, 81)],
    [(5, 81)],
]


def test_pseudocode_bracket_table_R81_eta3():
    assert hyperband_schedule(81, eta=3) == PSEUDOCODE_81
    assert schedule_totals(PSEUDOCODE_81) == (206, 1902)


def test_table_variant_R81_eta3():
    assert hyperband_schedule(81, eta=3, variant="table") == TABLE_81
    assert schedule_totals(TABLE_81) == (187, 1701)


def test_s_max_uses_integer_arithmetic():
    assert math.log(243, 3) < 5                      # the float trap the test guards against
    assert max_rung_index(243, 3) == 5
    assert len(hyperband_schedule(243, eta=3)) == 6
    assert max_rung_index(1000, 10) == 3
    assert max_rung_index(8.1 / 0.1, 3) == 4         # mlr3hyperband's example
    assert max_rung_index(80, 3) == 3 and max_rung_index(1, 3) == 0


def test_budgets_are_derived_downward_from_max_budget():
    brackets = hyperband_schedule(8.1, eta=3, min_budget=0.1)
    assert [r for _, r in brackets[0]] == [0.1, 0.3, 0.9, 2.7, 8.1]
    # R = 6, eta = 2 (SMAC's example): s_max = 2, largest bracket 4 configs at 1.5, 3, 6
    assert hyperband_schedule(6, eta=2)[0] == [(4, 1.5), (2, 3), (1, 6)]
    assert [b[-1][1] for b in hyperband_schedule(27)] == [27, 27, 27, 27]


@pytest.mark.parametrize("kwargs", [dict(eta=1), dict(eta=2.5), dict(eta=True), dict(variant="paper"),
                                    dict(min_budget=0), dict(min_budget=100)])
def test_bad_arguments_raise(kwargs):
    with pytest.raises(ValueError):
        hyperband_schedule(81, **kwargs)


SPACE = Space({"x": Float(0.0, 1.0), "c": Choice(["a", "b"])})


def _objective(config, budget):
    return (config["x"] - 0.3) ** 2 + (0.1 if config["c"] == "b" else 0.0)


def _run(searcher):
    while True:
        trial = searcher.ask()
        if trial is None:
            return
        searcher.tell(trial, _objective(trial.config, trial.budget))


def test_searcher_runs_algorithm_1_brackets_and_keeps_the_best():
    hb = Hyperband(SPACE, max_budget=27, eta=3, seed=0, n_iterations=1)
    _run(hb)
    assert hb.finished
    schedule = hyperband_schedule(27, eta=3)
    assert len(hb.trials) == schedule_totals(schedule)[0]
    for k, bracket in enumerate(schedule):
        for i, (n_i, r_i) in enumerate(bracket):
            rung = [t for t in hb.trials if t.meta["bracket_index"] == k and t.meta["rung"] == i]
            assert len(rung) == n_i and {t.budget for t in rung} == {r_i}
            assert {t.meta["bracket"] for t in rung} == {len(schedule) - 1 - k}
            if i > 0:  # survivors are exactly the best n_i of the rung below
                below = sorted((t for t in hb.trials if t.meta["bracket_index"] == k and t.meta["rung"] == i - 1),
                               key=lambda t: t.value)
                assert sorted(t.meta["config_id"] for t in rung) == sorted(t.meta["config_id"] for t in below[:n_i])
                assert all(t.meta["from_budget"] == bracket[i - 1][1] for t in rung)


def test_ask_returns_none_while_a_rung_waits():
    hb = Hyperband(SPACE, max_budget=9, eta=3, seed=1)
    first = [hb.ask() for _ in range(9)]
    assert all(t is not None and t.budget == 1 for t in first)
    assert hb.ask() is None and not hb.finished
    for t in first:
        hb.tell(t, _objective(t.config, t.budget))
    nxt = hb.ask()
    assert nxt is not None and nxt.budget == 3 and nxt.meta["rung"] == 1


def test_failed_trials_are_never_promoted():
    hb = Hyperband(SPACE, max_budget=9, eta=3, seed=2, n_iterations=1)
    trials = [hb.ask() for _ in range(9)]
    for j, t in enumerate(trials):
        hb.tell(t, float("nan") if j < 6 else 1.0 + j)   # six failures, three finite values
    promoted = [hb.ask() for _ in range(3)]
    assert sorted(t.meta["config_id"] for t in promoted) == [6, 7, 8]


def test_same_seed_same_run():
    a, b = Hyperband(SPACE, 27, seed=5, n_iterations=1), Hyperband(SPACE, 27, seed=5, n_iterations=1)
    _run(a)
    _run(b)
    assert [t.config for t in a.trials] == [t.config for t in b.trials]
    assert "hyperband" in SEARCHERS


def test_maximize_promotes_the_largest_values_and_the_winner_is_trained_at_max_budget():
    # Replaces a test that restated Study.best_trial's definition. Through maximize() the searcher
    # must promote the *largest* values (catches a driver that hands it the values un-negated: it
    # would promote the 9 smallest), and the answer must be a max-budget trial although the
    # 1-epoch values are all larger (catches a best trial taken over every budget).
    def score(config, budget):
        return -(config["x"] - 0.3) ** 2 + 10 / budget

    study = maximize(score, SPACE, searcher="hyperband", n_trials=40, seed=0, progress=False)
    rung0, rung1 = study.trials[:27], study.trials[27:36]
    assert {t.budget for t in rung0} == {1} and {t.budget for t in rung1} == {3}
    top9 = sorted(rung0, key=lambda t: -t.value)[:9]
    assert [t.config for t in rung1] == [t.config for t in top9]
    assert max(t.value for t in study.trials) > 9 > study.best_value    # a 1-epoch value is larger
    at_27 = [t for t in study.trials if t.budget == 27]                   # 27 + 9 + 3 + 1: one reached 27
    assert len(at_27) == 1 and study.best_trial is at_27[0]
    assert at_27[0].config == max(rung1, key=lambda t: t.value).config   # the ranking is the same at every budget


def test_finished_is_set_by_the_last_tell():
    # catches a Hyperband that only notices the end at the next ask (SH sets it in tell)
    hb = Hyperband(SPACE, max_budget=9, eta=3, seed=4, n_iterations=1)
    total = schedule_totals(hyperband_schedule(9, eta=3))[0]
    for _ in range(total):
        t = hb.ask()
        assert t is not None and not hb.finished
        hb.tell(t, _objective(t.config, t.budget))
    assert hb.finished and hb.ask() is None


def test_meta_names_the_bracket_by_index_and_by_s():
    hb = Hyperband(SPACE, max_budget=9, eta=3, seed=6, n_iterations=2)
    _run(hb)
    per_iteration = schedule_totals(hyperband_schedule(9, eta=3))[0]
    ks = [t.meta["bracket_index"] for t in hb.trials]
    assert ks == sorted(ks) and set(ks) == set(range(6))
    assert all(t.meta["s"] == t.meta["bracket"] == 2 - t.meta["bracket_index"] % 3 for t in hb.trials)
    assert [t.meta["iteration"] for t in hb.trials] == [0] * per_iteration + [1] * per_iteration


def test_second_iteration_starts_with_the_largest_bracket_again():
    hb = Hyperband(SPACE, max_budget=9, eta=3, seed=3, n_iterations=2)
    _run(hb)
    per_iteration = schedule_totals(hyperband_schedule(9, eta=3))[0]
    assert len(hb.trials) == 2 * per_iteration
    assert hb.trials[per_iteration].meta["iteration"] == 1 and hb.trials[per_iteration].meta["bracket"] == 2
    assert np.isfinite([t.value for t in hb.trials]).all()
