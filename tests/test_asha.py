"""ASHA: rung budgets, the promotion rule (top floor(n/eta), top rung first, never twice),
Optuna's variant, and determinism."""

import pytest

from minilib import Float, Space
from minilib.hpo import SEARCHERS
from minilib.hpo.asha import ASHA

SPACE = Space({"x": Float(0.0, 1.0)})


def test_rung_budgets():
    assert ASHA(SPACE, max_budget=27, eta=3).budgets == [1, 3, 9, 27]
    assert ASHA(SPACE, max_budget=6, eta=2).budgets == [1.5, 3, 6]
    with pytest.raises(ValueError):
        ASHA(SPACE, rule="eager")


def test_promotes_only_from_the_top_third_once_a_rung_has_eta_results():
    asha = ASHA(SPACE, max_budget=9, eta=3, seed=0)
    t0 = asha.ask()
    asha.tell(t0, 0.5)
    t1 = asha.ask()                           # 1 result: floor(1/3) = 0, nothing promotable
    assert t1.meta["rung"] == 0
    asha.tell(t1, 0.2)
    t2 = asha.ask()
    assert t2.meta["rung"] == 0
    asha.tell(t2, 0.9)
    t3 = asha.ask()                           # 3 results: the best (0.2) goes up
    assert t3.meta["rung"] == 1 and t3.config == t1.config and t3.budget == 3 and t3.meta["from_budget"] == 1
    t4 = asha.ask()                           # the top 1 of 3 is promoted already: a new config
    assert t4.meta["rung"] == 0 and t4.meta["config_id"] == 3


def test_no_double_promotion_and_each_promotion_from_the_top_third():
    asha = ASHA(SPACE, max_budget=9, eta=3, seed=1)
    values = iter([0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1] * 10)
    seen = set()
    for _ in range(60):
        snapshot = [sorted((v, n, c) for v, n, c in rung) for rung in asha.rungs]
        t = asha.ask()
        key = (t.meta["config_id"], t.meta["rung"])
        assert key not in seen                # a config reaches each rung at most once
        seen.add(key)
        k = t.meta["rung"] - 1
        if k >= 0:                            # promoted from rung k: it was in its top floor(n / 3) just now
            top = [c for _, _, c in snapshot[k][: len(snapshot[k]) // 3]]
            assert t.meta["config_id"] in top
        asha.tell(t, next(values))
    assert asha.rung_sizes()[2] > 0
    # later results can push an early promotion out of the top third: ASHA's "mis-promotions"
    assert len(asha.promoted[0]) > len(asha.rungs[0]) // 3


def test_scans_rungs_from_the_top():
    asha = ASHA(SPACE, max_budget=9, eta=3, seed=2)
    rung0 = [asha.ask() for _ in range(9)]
    for j, t in enumerate(rung0):
        asha.tell(t, 0.1 * (j + 1))           # config 0 best, then 1, 2
    up = [asha.ask() for _ in range(3)]       # 9 results: top 3 promotable, best first
    assert [t.meta["config_id"] for t in up] == [0, 1, 2] and all(t.meta["rung"] == 1 for t in up)
    for t in up:
        asha.tell(t, 0.05)
    top = asha.ask()                          # rung 1 has 3 results: its best goes to rung 2 before rung 0 grows
    assert top.meta["rung"] == 2 and top.meta["config_id"] == 0


def test_optuna_rule_promotes_the_best_of_a_young_rung():
    asha = ASHA(SPACE, max_budget=9, eta=3, seed=0, rule="optuna")
    t0 = asha.ask()
    asha.tell(t0, 0.5)
    t1 = asha.ask()                           # Optuna: promotable index max(1 // 3 - 1, 0) = 0 -> the best
    assert t1.meta["rung"] == 1 and t1.config == t0.config


def test_failed_results_are_not_promoted_and_seed_fixes_the_run():
    asha = ASHA(SPACE, max_budget=9, eta=3, seed=3)
    for _ in range(3):
        asha.tell(asha.ask(), float("inf"))
    assert asha.ask().meta["rung"] == 0
    runs = []
    for _ in range(2):
        a = ASHA(SPACE, max_budget=27, eta=3, seed=11)
        for _ in range(40):
            t = a.ask()
            a.tell(t, abs(t.config["x"] - 0.3) + 1 / t.budget)
        runs.append([(t.config["x"], t.budget) for t in a.trials])
    assert runs[0] == runs[1]
    assert SEARCHERS["asha"] is ASHA


def test_max_configs_stops_new_configs():
    asha = ASHA(SPACE, max_budget=9, eta=3, seed=4, max_configs=3)
    trials = [asha.ask() for _ in range(3)]
    assert asha.ask() is None and not asha.finished      # pending results may still promote
    for t, v in zip(trials, [0.3, 0.2, 0.1]):
        asha.tell(t, v)
    t = asha.ask()
    assert t.meta["rung"] == 1
    asha.tell(t, 0.1)
    assert asha.ask() is None and asha.finished
