"""minilib.nas.evolution: regularized (aging) evolution, Algorithm 1 of Real et al. (2019), on the
paper's Appendix C toy, with hand-made populations, and with pending trials (parallel workers)."""

from collections import Counter

import numpy as np
import pytest

import minilib
from minilib.hpo.parallel import run_parallel, simulate
from minilib.nas.evolution import RegularizedEvolution
from minilib.space import Choice, Float, Space

DIM = 100
BITS = Space({f"b{i:02d}": Choice([0, 1]) for i in range(DIM)})


def toy_accuracy(seed):
    """Real et al., Appendix C: accuracy = share of ones + N(0, 0.01^2), clipped to [0, 1]."""
    rng = np.random.default_rng(seed)
    return lambda config: float(np.clip(sum(config.values()) / DIM + rng.normal(0.0, 0.01), 0.0, 1.0))


def ones_error(config):
    """A picklable objective for worker processes: the share of zeros (no noise)."""
    return 1.0 - sum(config.values()) / DIM


@pytest.mark.slow   # two searches of 1,000 models: a few seconds
def test_appendix_c_toy_evolution_climbs_random_search_stays_near_half():
    # The colab's demo: P = 100, S = 10, 1,000 models. Catches: a tournament that picks the
    # worst (it would sink), no mutation (stuck at the best random model, about 0.6-0.65),
    # or a population that never changes.
    evolution = minilib.maximize(toy_accuracy(0), BITS, RegularizedEvolution(BITS, 100, 10, seed=0),
                                 n_trials=1000, progress=False)
    random = minilib.maximize(toy_accuracy(0), BITS, "random", n_trials=1000, seed=0, progress=False)
    re_values, rs_values = evolution.values(), random.values()
    assert evolution.best_value > 0.85 and re_values[-100:].mean() > 0.8
    assert abs(rs_values.mean() - 0.5) < 0.01 and random.best_value < 0.75
    # the first P models are the random initial population: the same law as random search
    assert abs(re_values[:100].mean() - 0.5) < 0.03


def _told(searcher, values):
    """Ask one trial per value and tell it that value; return the trials."""
    trials = []
    for value in values:
        trial = searcher.ask()
        searcher.tell(trial, value)
        trials.append(trial)
    return trials


def test_aging_removes_the_oldest_non_aging_the_worst():
    # Population of P = 3 with values 0.1 (best, oldest), 0.5, 0.9 (worst); one child with 0.7.
    # Catches the classic bug of REFERENCES section 8: removing the worst under aging (or vice versa).
    space = Space({"x": Float(0.0, 1.0)})
    for aging, survivors in [(True, [1, 2, 3]), (False, [0, 1, 3])]:
        searcher = RegularizedEvolution(space, population_size=3, sample_size=2, aging=aging, seed=0)
        _told(searcher, [0.1, 0.5, 0.9])
        assert [t.number for t in searcher.population] == [0, 1, 2]
        child = _told(searcher, [0.7])[0]
        assert child.meta["kind"] == "child" and child.meta["parent"] in (0, 1, 2)
        assert [t.number for t in searcher.population] == survivors
        assert len(searcher.population) == 3                       # constant size after initialisation


def test_tournament_samples_with_replacement_and_the_child_is_one_mutation_away():
    # With S = P = 10 and sampling WITH replacement the best member is in the sample with probability
    # 1 - 0.9^10 = 0.651; without replacement it would always win (1.0). Each child differs from its
    # parent in exactly one bit.
    searcher = RegularizedEvolution(BITS, population_size=10, sample_size=10, seed=1)
    trials = _told(searcher, list(np.linspace(0.0, 0.9, 10)))         # trial 0 is the best
    parents = Counter()
    for _ in range(3000):
        child = searcher.ask()                                         # never told: population unchanged
        parent = trials[child.meta["parent"]]
        assert sum(child.config[k] != parent.config[k] for k in BITS.names) == 1
        parents[parent.number] += 1
    assert parents[0] / 3000 == pytest.approx(1 - 0.9 ** 10, abs=0.03)
    # the winner is the best of its sample: the second best wins when it is drawn and the best is not
    assert parents[1] / 3000 == pytest.approx(0.9 ** 10 - 0.8 ** 10, abs=0.03)


def test_pending_trials_wait_for_a_result_and_failed_ones_never_join():
    space = Space({"x": Float(0.0, 1.0)})
    searcher = RegularizedEvolution(space, population_size=2, sample_size=1, seed=0)
    a, b = searcher.ask(), searcher.ask()
    assert a.meta["kind"] == b.meta["kind"] == "random"
    assert searcher.ask() is None                # P random models asked, none back yet: wait
    searcher.tell(b, float("nan"))               # a failed model
    assert not searcher.population and searcher.ask() is None
    searcher.tell(a, 0.3)
    child = searcher.ask()                        # the tournament uses the population as it is now
    assert child.meta == {"kind": "child", "parent": a.number}
    assert len(searcher.trials) == 3
    # if every model so far failed and none is pending, start again from a random model (not None,
    # which would end a sequential search)
    searcher = RegularizedEvolution(space, population_size=1, sample_size=1, seed=0)
    searcher.tell(searcher.ask(), None, error="diverged")
    assert searcher.ask().meta["kind"] == "random"


def test_arguments_are_checked():
    space = Space({"x": Float(0.0, 1.0)})
    for kwargs in [{"population_size": 0}, {"population_size": 5, "sample_size": 6}, {"sample_size": 0},
                   {"population_size": 2.5}]:
        with pytest.raises(ValueError):
            RegularizedEvolution(space, **kwargs)


class ToyCost:
    """A tabular-benchmark stand-in for minilib.hpo.parallel.simulate: error = share of zeros,
    training time 1 + (number of ones) / 100 seconds, so children finish out of order."""

    max_budget = 1

    def lookup(self, config, budget):
        return ones_error(config)

    def cost(self, config, budget, from_budget=0):
        return 1.0 + sum(config.values()) / DIM


def test_asynchronous_workers_on_simulated_time():
    # The distributed version: 8 workers ask before earlier results are told. The population holds
    # only finished models, at most P; only the first P models are random; the search still climbs.
    searcher = RegularizedEvolution(BITS, population_size=20, sample_size=5, seed=0)
    study = simulate(searcher, ToyCost(), n_workers=8, max_trials=600)
    kinds = [t.meta["kind"] for t in searcher.trials]
    assert kinds[:20] == ["random"] * 20 and set(kinds[20:]) == {"child"}
    assert len(searcher.population) == 20 and all(t.ok for t in searcher.population)
    ends = [t.meta["end"] for t in searcher.population]
    assert ends == sorted(ends)                                    # oldest first: the order results came back
    assert min(t.value for t in study.trials[-50:]) < 0.25 < np.mean([t.value for t in study.trials[:20]])


@pytest.mark.slow   # starts two worker processes
def test_real_worker_processes():
    searcher = RegularizedEvolution(BITS, population_size=10, sample_size=3, seed=0)
    study = run_parallel(ones_error, searcher, n_trials=40, n_workers=2)
    assert len(study.trials) == 40 and all(t.ok for t in study.trials)
    assert min(t.value for t in study.trials[10:]) <= min(t.value for t in study.trials[:10])
    assert len(searcher.population) == 10
