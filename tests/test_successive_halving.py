"""Successive halving: SMAC3's rung example, the winner at max_budget, exact budgets, the
top-floor(n/eta) cut of successful trials, deterministic ties, and the sample_config hook
shared with Hyperband, BOHB and ASHA."""

import numpy as np
import pytest

from minilib import Float, Space
from minilib.benchmarks import load_tabular_mnist1d
from minilib.hpo import ASHA, BOHB, SEARCHERS, Hyperband
from minilib.hpo.successive_halving import SuccessiveHalving, max_rung_index, rung_budget, sh_rungs, top_k

SPACE = Space({"x": Float(0.0, 1.0)})


def test_smac_example_eta2_budgets_1_to_6():
    # SMAC3 tests/test_intensifier/test_successive_halving.py: configs [4, 2, 1], budgets [1.5, 3, 6]
    rungs = sh_rungs(None, max_budget=6, eta=2, min_budget=1)
    assert [n for n, _ in rungs] == [4, 2, 1]
    assert [r for _, r in rungs] == [1.5, 3.0, 6.0]


def test_general_rungs():
    assert sh_rungs(None, 27, eta=3) == [(27, 1), (9, 3), (3, 9), (1, 27)]
    assert sh_rungs(5, 81, eta=3, s=0) == [(5, 81)]
    with pytest.raises(ValueError):
        sh_rungs(0, 27)
    with pytest.raises(ValueError):
        sh_rungs(None, 27, s=4)
    with pytest.raises(ValueError, match="max_budget"):
        sh_rungs(2, 27, eta=3, s=2)                  # 2 < 3**2: nobody would reach max_budget


def test_the_last_rung_is_always_at_max_budget():
    # the examples: 4 configurations with R = 27 used to stop at budgets [1, 3], and
    # sh_rungs(2, 81) had its only rung at budget 1; s = min(s_max, floor(log_eta n)) fixes both
    assert sh_rungs(4, 27, eta=3) == [(4, 9), (1, 27)]
    assert sh_rungs(10, 27, eta=3) == [(10, 3), (3, 9), (1, 27)]
    assert sh_rungs(2, 81, eta=3) == [(2, 81)]
    for eta in (2, 3, 4):
        for max_budget, min_budget in ((27, 1), (81, 1), (6, 1), (8.1, 0.1), (27, 1 / 3)):
            for n in range(1, 90):
                rungs = sh_rungs(n, max_budget, eta, min_budget)
                assert rungs[-1][1] == max_budget and rungs[-1][0] >= 1, (n, max_budget, eta)
                assert rungs[0][1] >= min_budget * (1 - 1e-12) and rungs[0][0] == n
                assert len(rungs) == 1 + min(max_rung_index(max_budget / min_budget, eta), max_rung_index(n, eta))
    # the searcher: its winner is trained at max_budget (catches a driver that stops when one is left)
    sh = SuccessiveHalving(SPACE, max_budget=27, eta=3, n_configs=4, seed=0)
    while (t := sh.ask()) is not None:
        sh.tell(t, t.config["x"])
    assert [t.budget for t in sh.trials] == [9] * 4 + [27] and sh.finished
    assert sh.trials[-1].config["x"] == min(t.config["x"] for t in sh.trials[:4])


def test_rung_budgets_are_exact():
    # catches float round-off of max_budget / eta**k and its decimal clean-up (the old _nice rounded 1/3
    # to 0.333333333333, which the tabular benchmark could only accept with a tolerance)
    assert rung_budget(27, 3, 4) == 1 / 3 and rung_budget(8.1, 3, 4) == 0.1 and rung_budget(6, 2, 2) == 1.5
    assert rung_budget(27.0, 3, 1) == 9 and isinstance(rung_budget(27.0, 3, 1), int)
    bench = load_tabular_mnist1d()
    columns = list(bench.budgets)
    budgets = {r for _, r in SuccessiveHalving(bench.space, 27, 1 / 3, eta=3).rungs}
    budgets |= {r for b in Hyperband(bench.space, 27, 1 / 3, eta=3).schedule for _, r in b}
    budgets |= set(ASHA(bench.space, 27, 1 / 3, eta=3).budgets)
    assert budgets == {1 / 3, 1, 3, 9, 27} and all(b in columns for b in budgets)   # == on floats, no tolerance
    for b in budgets:
        assert bench.column(b) == columns.index(b)
    with pytest.raises(ValueError, match="budget"):
        bench.column(0.333333333333)                   # a rounded third is not a column any more


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


def _full_run(searcher):
    while (t := searcher.ask()) is not None:
        searcher.tell(t, abs(t.config["x"] - 0.3) + 1 / t.budget)
    return [(t.config["x"], t.budget, t.value) for t in searcher.trials]


def test_a_seed_fixes_the_whole_run():
    # the old test compared only the first ask. This one catches a seed that fixes the first draw
    # only (a sampler on the global RNG after it), a sampler that reseeds at each draw (every
    # configuration the same), and a seed that is ignored (two seeds, the same run)
    assert SEARCHERS["sh"] is SuccessiveHalving
    a, b = _full_run(SuccessiveHalving(SPACE, seed=7)), _full_run(SuccessiveHalving(SPACE, seed=7))
    np.random.seed(0)                                   # the global RNG must not matter
    c = _full_run(SuccessiveHalving(SPACE, seed=7))
    assert a == b == c and len(a) == 27 + 9 + 3 + 1
    assert len({x for x, _, _ in a}) == 27              # 27 different configurations
    assert _full_run(SuccessiveHalving(SPACE, seed=8)) != a


def test_repeated_brackets_use_new_configs():
    sh = SuccessiveHalving(SPACE, max_budget=9, eta=3, seed=2, n_brackets=2)
    while (t := sh.ask()) is not None:
        sh.tell(t, t.config["x"])
    assert sh.finished and len(sh.trials) == 2 * (9 + 3 + 1)
    first = {t.config["x"] for t in sh.trials if t.meta["bracket_index"] == 0}
    second = {t.config["x"] for t in sh.trials if t.meta["bracket_index"] == 1}
    assert len(first) == len(second) == 9 and not first & second


def _searchers(**kwargs):
    return {"sh": lambda: SuccessiveHalving(SPACE, max_budget=9, eta=3, **kwargs),
            "hyperband": lambda: Hyperband(SPACE, max_budget=9, eta=3, **kwargs),
            "asha": lambda: ASHA(SPACE, max_budget=9, eta=3, **kwargs)}


@pytest.mark.parametrize("name", ["sh", "hyperband", "asha"])
def test_failed_trials_are_never_promoted_even_when_too_few_succeed(name):
    # SH and Hyperband used to fill rung 1 with failed trials when fewer than floor(9 / 3) = 3
    # succeeded, while ASHA never promoted one; now all three promote only successes
    searcher = _searchers(seed=0)[name]()
    rung0 = [searcher.ask() for _ in range(9)]
    assert all(t.meta["rung"] == 0 for t in rung0)
    for j, t in enumerate(rung0):
        searcher.tell(t, 0.5 if j == 4 else float("nan"))      # one success, eight failures
    nxt = searcher.ask()
    assert nxt.meta["rung"] == 1 and nxt.config == rung0[4].config
    searcher.tell(nxt, 0.4)
    after = searcher.ask()                                     # nothing else is promoted from rung 0
    assert after is None or after.meta["rung"] != 1
    if name != "asha":                                         # the bracket's rung 1 ran one job only
        assert after.meta["rung"] == 2 and after.config == rung0[4].config


def test_a_bracket_with_no_success_ends_without_promotions():
    sh = SuccessiveHalving(SPACE, max_budget=9, eta=3, seed=0)
    for t in [sh.ask() for _ in range(9)]:
        sh.tell(t, float("inf"))
    assert sh.finished and sh.ask() is None and len(sh.trials) == 9


def _grid_sampler(rng):
    return {"x": float(rng.integers(0, 5)) / 4}                # only 0, 0.25, ..., 1


class _Corner(ASHA):
    def sample_config(self, budget):
        self.phase = "corner"
        return {"x": 1.0}


class _CornerHyperband(Hyperband):
    def sample_config(self, budget):
        self.phase = "corner"
        return {"x": 1.0}


@pytest.mark.parametrize("name", ["sh", "hyperband", "asha"])
def test_a_passed_sampler_decides_the_new_configurations(name):
    # catches a searcher that ignores sampler= and draws from the space itself (uniform x in [0, 1])
    searcher = _searchers(seed=1, sampler=_grid_sampler)[name]()
    for _ in range(40):
        t = searcher.ask()
        if t is None:
            break
        searcher.tell(t, t.config["x"])
    new = [t for t in searcher.trials if t.meta["rung"] == 0]
    assert len(new) >= 9 and all(t.config["x"] in (0.0, 0.25, 0.5, 0.75, 1.0) for t in new)
    assert all(t.meta["phase"] == "random" for t in new)


@pytest.mark.parametrize("cls", [_Corner, _CornerHyperband])
def test_a_subclass_of_sample_config_changes_what_asha_and_hyperband_propose(cls):
    # catches a searcher that samples new configurations somewhere else than in sample_config
    searcher = cls(SPACE, max_budget=9, eta=3, seed=2)
    trials = [searcher.ask() for _ in range(5)]
    assert [t.config for t in trials] == [{"x": 1.0}] * 5
    assert [t.meta["phase"] for t in trials] == ["corner"] * 5


def test_bohb_takes_its_new_configurations_through_the_same_hook():
    bohb = BOHB(SPACE, max_budget=9, eta=3, seed=3, sampler=_grid_sampler, random_fraction=1.0)
    trials = [bohb.ask() for _ in range(9)]
    assert all(t.config["x"] in (0.0, 0.25, 0.5, 0.75, 1.0) for t in trials)
    assert [t.meta["phase"] for t in trials] == ["random"] * 9 and not any(t.meta["model_based"] for t in trials)
