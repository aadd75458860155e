"""Successive halving: SMAC3's rung example, the top-floor(n/eta) cut, deterministic ties."""

import pytest

from minilib import Float, Space
from minilib.hpo import SEARCHERS
from minilib.hpo.successive_halving import SuccessiveHalving, sh_rungs, top_k

SPACE = Space({"x": Float(0.0, 1.0)})


def test_smac_example_eta2_budgets_1_to_6():
    # SMAC3 tests/test_intensifier/test_successive_halving.py: configs [4, 2, 1], budgets [1.5, 3, 6]
    rungs = sh_rungs(None, max_budget=6, eta=2, min_budget=1)
    assert [n for n, _ in rungs] == [4, 2, 1]
    assert [r for _, r in rungs] == [1.5, 3.0, 6.0]


def test_general_rungs():
    assert sh_rungs(None, 27, eta=3) == [(27, 1), (9, 3), (3, 9), (1, 27)]
    assert sh_rungs(10, 27, eta=3) == [(10, 1), (3, 3), (1, 9)]          # stops when one is left
    assert sh_rungs(5, 81, eta=3, s=0) == [(5, 81)]
    with pytest.raises(ValueError):
        sh_rungs(0, 27)
    with pytest.raises(ValueError):
        sh_rungs(None, 27, s=4)


def test_top_k_ties_and_failures():
    results = [(0.5, 3), (None, 0), (0.2, 5), (0.5, 1), (0.2, 4)]
    assert top_k(results, 3) == [4, 2, 3]     # 0.2 (trial 4), 0.2 (trial 5), 0.5 (trial 1)
    assert top_k(results, 5)[-1] == 1         # the failed one is last


def test_synchronous_rungs_keep_the_best():
    sh = SuccessiveHalving(SPACE, max_budget=6, min_budget=1, eta=2, seed=0)
    rung0 = [sh.ask() for _ in range(4)]
    assert [t.budget for t in rung0] == [1.5] * 4
    assert sh.ask() is None and not sh.finished          # waits for the rung
    values = [0.4, 0.1, 0.3, 0.2]
    for t, v in zip(rung0, values):
        sh.tell(t, v)
    rung1 = [sh.ask(), sh.ask()]
    assert [t.budget for t in rung1] == [3, 3]
    assert [t.config for t in rung1] == [rung0[1].config, rung0[3].config]   # 0.1 and 0.2
    assert all(t.meta["from_budget"] == 1.5 for t in rung1)
    assert sh.ask() is None
    sh.tell(rung1[0], 0.5)
    sh.tell(rung1[1], 0.05)
    last = sh.ask()
    assert last.budget == 6 and last.config == rung0[3].config
    sh.tell(last, 0.01)
    assert sh.ask() is None and sh.finished


def test_ties_promote_the_earlier_trial():
    sh = SuccessiveHalving(SPACE, max_budget=9, eta=3, seed=1)
    trials = [sh.ask() for _ in range(9)]
    for t in trials:
        sh.tell(t, 1.0)
    promoted = [sh.ask() for _ in range(3)]
    assert [t.meta["config_id"] for t in promoted] == [0, 1, 2]


def test_registered_and_seeded():
    assert SEARCHERS["sh"] is SuccessiveHalving
    a = [SuccessiveHalving(SPACE, seed=7).ask().config for _ in range(2)]
    assert a[0] == a[1]


def test_repeated_brackets_use_new_configs():
    sh = SuccessiveHalving(SPACE, max_budget=9, eta=3, seed=2, n_brackets=2)
    while (t := sh.ask()) is not None:
        sh.tell(t, t.config["x"])
    assert sh.finished and len(sh.trials) == 2 * (9 + 3 + 1)
    first = {t.config["x"] for t in sh.trials if t.meta["bracket_index"] == 0}
    second = {t.config["x"] for t in sh.trials if t.meta["bracket_index"] == 1}
    assert len(first) == len(second) == 9 and not first & second
