"""Graded tests for ex04_asha.py (a successive-halving rung and ASHA's promotion rule)."""

import math

import ex04_asha as ex
import excheck as check
import numpy as np
import pytest

from minilib.hpo.successive_halving import top_k

FORBIDDEN_IMPORTS = ["minilib.hpo.successive_halving", "minilib.hpo.asha"]


@pytest.mark.points(1)
def test_survivors_example():
    assert check.int_list(ex.survivors([0.4, 0.1, 0.3, 0.2, 0.9, 0.5], eta=2), 3) == [1, 3, 2]


@pytest.mark.points(1)
def test_survivors_keep_floor_n_over_eta():
    assert check.int_list(ex.survivors([0.3, 0.2], eta=3)) == []
    assert len(ex.survivors(list(np.linspace(1, 0, 10)), eta=3)) == 3


@pytest.mark.points(1)
def test_survivors_failures_and_ties():
    assert check.int_list(ex.survivors([None, 0.5, math.nan, 0.5, 0.7, 0.1], eta=2)) == [5, 1, 3]


@pytest.mark.points(2)
@pytest.mark.hidden
def test_survivors_match_minilib_on_random_inputs():
    rng = np.random.default_rng(0)
    for n in (3, 9, 27, 30):
        values = [float(v) for v in rng.integers(0, 5, n)]           # many ties
        expected = top_k([(v, i) for i, v in enumerate(values)], n // 3)
        assert check.int_list(ex.survivors(values, eta=3), n // 3) == expected


@pytest.mark.points(1)
@pytest.mark.hidden
def test_survivors_with_nan_and_infinities_at_random_places():
    # catches a NaN-unaware sort (NaN compares false with everything, so sorted() leaves it anywhere)
    rng = np.random.default_rng(11)
    for trial in range(20):
        values = [float(v) for v in rng.integers(0, 6, 12) / 4]
        bad = rng.choice(12, size=4, replace=False)
        for k, i in enumerate(bad):
            values[i] = [math.nan, None, math.inf, -math.inf][(k + trial) % 4]
        expected = sorted(range(12), key=lambda i: (values[i] is None or math.isnan(values[i]),  # noqa: B023
                                                    0.0 if values[i] is None or math.isnan(values[i]) else values[i],
                                                    i))[:4]
        assert check.int_list(ex.survivors(values, eta=3), 4, f"survivors({values}, eta=3)") == expected


@pytest.mark.points(1)
def test_asha_waits_for_eta_results():
    rungs = [[(0, 0.5), (1, 0.2)], [], []]
    promoted = [set(), set(), set()]
    assert ex.asha_job(rungs, promoted, eta=3) is None
    rungs[0].append((2, 0.9))
    assert ex.asha_job(rungs, promoted, eta=3) == (1, 1)
    assert promoted[0] == {1}


@pytest.mark.points(2)
def test_asha_never_promotes_twice_and_scans_from_the_top():
    rungs = [[(i, 0.1 * (i + 1)) for i in range(9)], [(0, 0.3), (1, 0.1), (2, 0.2)], []]
    promoted = [{0, 1, 2}, set(), set()]
    assert ex.asha_job(rungs, promoted, eta=3) == (2, 1)          # rung 1 first: its best goes to rung 2
    assert ex.asha_job(rungs, promoted, eta=3) is None            # rung 1: top 1 taken; rung 0: top 3 taken
    assert promoted == [{0, 1, 2}, {1}, set()]


@pytest.mark.points(2)
@pytest.mark.hidden
def test_asha_failures_and_a_replay_against_minilib():
    rungs = [[(0, None), (1, math.nan), (2, math.inf)], []]
    assert ex.asha_job(rungs, [set(), set()], eta=3) is None       # nothing finite to promote
    from minilib import Float, Space
    from minilib.hpo.asha import ASHA

    asha = ASHA(Space({"x": Float(0.0, 1.0)}), max_budget=27, eta=3, seed=0)
    rungs, promoted = [[] for _ in asha.budgets], [set() for _ in asha.budgets]
    for _ in range(80):
        expected = ex.asha_job(rungs, promoted, eta=3)
        t = asha.ask()
        got = (t.meta["rung"], t.meta["config_id"]) if t.meta["rung"] > 0 else None
        assert expected == got
        value = round(abs(t.config["x"] - 0.4), 2) + 1 / t.budget
        asha.tell(t, value)
        rungs[t.meta["rung"]].append((t.meta["config_id"], value))


# --- task 6: a whole successive-halving run (end to end) ----------------------------------------------

def _reference_successive_halving(objective, n_configs, min_budget, eta):
    def key(values, i):
        v = values[i]
        return (v is None or math.isnan(v), 0.0 if v is None or math.isnan(v) else v, i)

    alive, budget, history = list(range(n_configs)), float(min_budget), []
    while True:
        values = [objective(c, budget) for c in alive]
        history += [(c, budget, v) for c, v in zip(alive, values)]
        order = sorted(range(len(alive)), key=lambda i: key(values, i))  # noqa: B023
        keep = order[: len(alive) // eta]
        if len(alive) == 1 or not keep:
            return alive[order[0]], history
        alive = [alive[j] for j in keep]
        budget *= eta


def _check_run(out, n_configs):
    best, history = check.sequence(out, 2)
    best = check.integer(best, "best")
    history = check.sequence(history, None, "history", kinds=(list,))
    calls = []
    for k, call in enumerate(history):
        config, budget, value = check.sequence(call, 3, f"history[{k}]")
        calls.append((check.integer(config, f"history[{k}][0]"), check.number(budget, f"history[{k}][1]"), value))
    assert 0 <= best < n_configs
    return best, calls


@pytest.mark.points(1)
def test_successive_halving_small_run():
    # 9 configurations, eta = 3: rung 0 at budget 1 (9 runs), rung 1 at 3 (3 runs), rung 2 at 9 (1 run)
    def objective(config, budget):
        return abs(config - 6) + 1.0 / budget

    best, calls = _check_run(ex.successive_halving(objective, 9, 1, eta=3), 9)
    assert best == 6
    assert [(c, b) for c, b, _ in calls] == [(i, 1.0) for i in range(9)] + [(6, 3.0), (5, 3.0), (7, 3.0), (6, 9.0)]


@pytest.mark.points(2)
@pytest.mark.hidden
def test_successive_halving_on_a_seeded_noisy_problem_with_failures():
    # catches a driver that evaluates in the wrong order, forgets to multiply the budget, lets a failed run
    # survive, or picks the best of the wrong rung
    for seed in (0, 1, 2):
        rng = np.random.default_rng(seed)
        centres, noise = rng.random(40), rng.normal(0.0, 0.05, size=(40, 8))
        broken = set(rng.choice(40, size=5, replace=False).tolist())

        def objective(config, budget, centres=centres, noise=noise, broken=broken):
            if config in broken:
                return math.nan if config % 2 else None
            level = int(round(math.log(budget / 0.5, 2)))
            return float((centres[config] - 0.3) ** 2 + noise[config, level] / budget)

        got = _check_run(ex.successive_halving(objective, 40, 0.5, eta=2), 40)
        best, history = _reference_successive_halving(objective, 40, 0.5, 2)
        assert got[0] == best
        assert [(c, b) for c, b, _ in got[1]] == [(c, b) for c, b, _ in history]
