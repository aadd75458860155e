"""Parallel runners: simulated workers (event queue) and real worker processes."""

import time

import numpy as np
import pytest

from minilib import Float, Space
from minilib.hpo.asha import ASHA
from minilib.hpo.hyperband import Hyperband, hyperband_schedule, schedule_totals
from minilib.hpo.parallel import run_parallel, simulate, worker_busy_fraction
from minilib.hpo.random import RandomSearch
from minilib.hpo.successive_halving import SuccessiveHalving

SPACE = Space({"x": Float(0.0, 1.0)})


class FakeBenchmark:
    """Cost = budget * (1 + x) seconds; value = (x - 0.3)^2 + 1 / budget."""

    max_budget = 27

    def lookup(self, config, budget):
        return (config["x"] - 0.3) ** 2 + 1 / budget

    def cost(self, config, budget, from_budget=0):
        return (budget - from_budget) * (1 + config["x"])


def _no_overlap(study, n_workers):
    for w in range(n_workers):
        spans = sorted((t.meta["start"], t.meta["end"]) for t in study.trials if t.meta["worker"] == w)
        assert all(a_end <= b_start + 1e-12 for (_, a_end), (b_start, _) in zip(spans, spans[1:]))


def test_one_worker_runs_trials_back_to_back():
    study = simulate(RandomSearch(SPACE, seed=0), FakeBenchmark(), n_workers=1, max_trials=5)
    costs = [27 * (1 + t.config["x"]) for t in study.trials]
    np.testing.assert_allclose([t.meta["end"] for t in study.trials], np.cumsum(costs))
    assert all(t.value == pytest.approx((t.config["x"] - 0.3) ** 2 + 1 / 27) for t in study.trials)


def test_sync_hyperband_finishes_its_schedule_on_workers():
    hb = Hyperband(SPACE, max_budget=27, eta=3, seed=1, n_iterations=1)
    study = simulate(hb, FakeBenchmark(), n_workers=4)
    assert len(study.trials) == schedule_totals(hyperband_schedule(27))[0] and hb.finished
    _no_overlap(study, 4)


def test_asha_keeps_workers_busier_than_synchronous_sh():
    bench = FakeBenchmark()
    sh = simulate(SuccessiveHalving(SPACE, max_budget=27, eta=3, seed=2), bench, n_workers=4)
    end = max(t.meta["end"] for t in sh.trials)
    asha = simulate(ASHA(SPACE, max_budget=27, eta=3, seed=2), bench, n_workers=4, time_limit=end)
    _no_overlap(sh, 4)
    _no_overlap(asha, 4)
    assert worker_busy_fraction(asha, 4, until=end) > 0.99 > 0.9 > worker_busy_fraction(sh, 4, until=end)
    assert len(asha.trials) > len(sh.trials)


def test_resume_charges_only_new_epochs_and_runs_are_reproducible():
    bench = FakeBenchmark()
    a = simulate(SuccessiveHalving(SPACE, max_budget=9, eta=3, seed=3), bench, n_workers=2, resume=True)
    b = simulate(SuccessiveHalving(SPACE, max_budget=9, eta=3, seed=3), bench, n_workers=2, resume=True)
    assert [(t.config, t.meta["end"], t.meta["worker"]) for t in a.trials] == \
           [(t.config, t.meta["end"], t.meta["worker"]) for t in b.trials]
    for t in a.trials:
        expected = (t.budget - t.meta["from_budget"]) * (1 + t.config["x"])
        assert t.duration == pytest.approx(expected)


def test_bad_arguments():
    with pytest.raises(ValueError):
        simulate(RandomSearch(SPACE, seed=0), FakeBenchmark(), n_workers=0, max_trials=3)
    with pytest.raises(ValueError):
        simulate(RandomSearch(SPACE, seed=0), FakeBenchmark())          # could run forever


def sleepy(config, budget=None):
    time.sleep(0.2)
    return config["x"]


def quick(config, budget):
    return (config["x"] - 0.3) ** 2 + 1 / budget


def test_real_processes_run_in_parallel():
    start = time.perf_counter()
    study = run_parallel(sleepy, RandomSearch(SPACE, seed=0), n_trials=6, n_workers=2)
    assert len(study.trials) == 6 and all(t.ok for t in study.trials)
    assert {t.meta["worker"] for t in study.trials} == {0, 1}
    assert sum(t.duration for t in study.trials) > 1.1
    spans = sorted((t.meta["start"], t.meta["end"]) for t in study.trials)
    assert any(b0 < a1 for (_, a1), (b0, _) in zip(spans, spans[1:]))   # some trials overlapped
    assert time.perf_counter() - start < 10


def test_real_processes_drive_a_synchronous_searcher():
    hb = Hyperband(SPACE, max_budget=9, eta=3, seed=4, n_iterations=1)
    study = run_parallel(quick, hb, n_trials=1000, n_workers=2)
    assert len(study.trials) == schedule_totals(hyperband_schedule(9))[0] and hb.finished
