"""Graded tests for ex05_evolution.py (mutation, tournament, aging, the whole search)."""

import ex05_evolution as ex
import excheck as check
import numpy as np
import pytest

from minilib.nas import space as S
from minilib.nas.evolution import RegularizedEvolution
from minilib.study import minimize

FORBIDDEN_IMPORTS = ["minilib.nas.evolution"]

PARENT = {"0->1": "conv3", "0->2": "skip", "1->2": "conv3", "0->3": "none", "1->3": "avgpool", "2->3": "conv1"}


def _cell(value):
    out = check.mapping(value, "the cell")
    assert list(out) == list(ex.EDGES), f"keys must be {list(ex.EDGES)} in that order"
    assert all(type(op) is str for op in out.values())
    return {edge: str(op) for edge, op in out.items()}


def _population(value, length):
    out = check.sequence(value, length, "the population", kinds=(list,))
    members = []
    for member in out:
        cell, v = check.sequence(member, 2, "a member", kinds=(tuple,))
        members.append((_cell(cell), check.number(v)))
    return members


# --- task 3: mutation ------------------------------------------------------------------------

@pytest.mark.points(1)
def test_mutation_changes_exactly_one_edge_to_another_op():
    rng = np.random.default_rng(0)
    before = dict(PARENT)
    for _ in range(50):
        child = _cell(ex.mutate(PARENT, rng))
        changed = [e for e in ex.EDGES if child[e] != PARENT[e]]
        assert len(changed) == 1 and child[changed[0]] in ex.OPS
    assert PARENT == before, "mutate must not change its input"


@pytest.mark.points(2)
@pytest.mark.hidden
def test_mutation_replays_minilibs_draws_and_is_uniform():
    # oracle: minilib's Space.mutate makes the same two draws. Catches drawing the op from all five
    # (a no-op mutation 1 time in 5) or from a different order of the others.
    for seed in range(20):
        for cell in S.SPACE.sample(5, rng=np.random.default_rng(100 + seed)):
            expected = S.SPACE.mutate(cell, np.random.default_rng(seed))
            assert _cell(ex.mutate(cell, np.random.default_rng(seed))) == expected
    rng = np.random.default_rng(1)
    counts = {op: 0 for op in ex.OPS}
    for _ in range(4000):
        child = _cell(ex.mutate(PARENT, rng))
        counts[child["0->1"]] += child["0->1"] != "conv3"
    share = np.array([counts[op] for op in ex.OPS if op != "conv3"]) / 4000
    assert np.allclose(share, 1 / 24, atol=0.015)                 # 1/6 edge x 1/4 op; sd ~0.003


# --- task 4: one cycle ---------------------------------------------------------------------------

@pytest.mark.points(1)
def test_tournament_draws_with_replacement_and_picks_the_smallest():
    population = [(dict(PARENT), v) for v in (0.5, 0.2, 0.9, 0.4)]
    k = check.integer(ex.tournament(population, 3, np.random.default_rng(0)))
    draws = np.random.default_rng(0).integers(4, size=3)
    assert k == min(draws, key=lambda d: population[d][1])


@pytest.mark.points(1)
@pytest.mark.hidden
def test_tournament_ties_and_samples_larger_than_the_population():
    population = [(dict(PARENT), v) for v in (0.3, 0.3, 0.3, 0.1, 0.3)]
    for seed in range(30):
        k = check.integer(ex.tournament(population, 8, np.random.default_rng(seed)))  # S > P: replacement
        draws = np.random.default_rng(seed).integers(5, size=8)
        assert k == int(min(draws, key=lambda d: population[d][1]))


@pytest.mark.points(2)
def test_aging_removes_the_oldest_and_non_aging_the_worst():
    cells = [dict(PARENT, **{"0->1": op}) for op in ex.OPS]
    population = [(cells[0], 0.1), (cells[1], 0.9), (cells[2], 0.5)]
    child = (cells[3], 0.7)
    aged = _population(ex.add_child(population, child, 3, aging=True), 3)
    assert [v for _, v in aged] == [0.9, 0.5, 0.7]
    kept = _population(ex.add_child(population, child, 3, aging=False), 3)
    assert [v for _, v in kept] == [0.1, 0.5, 0.7]
    assert len(population) == 3, "add_child must not change its input"
    grown = _population(ex.add_child(population, child, 5), 4)      # not full yet: nothing removed
    assert [v for _, v in grown] == [0.1, 0.9, 0.5, 0.7]


@pytest.mark.points(1)
@pytest.mark.hidden
def test_non_aging_removes_the_oldest_of_equally_bad_ones():
    cells = [dict(PARENT, **{"2->3": op}) for op in ex.OPS]
    population = [(cells[0], 0.8), (cells[1], 0.2), (cells[2], 0.8)]
    kept = _population(ex.add_child(population, (cells[3], 0.8), 3, aging=False), 3)
    assert [c["2->3"] for c, _ in kept] == [ex.OPS[1], ex.OPS[2], ex.OPS[3]]


# --- task 5: the whole search (end to end) -------------------------------------------------------

def _objective(seed):
    weights = np.random.default_rng(seed).normal(size=(6, 5))
    return lambda cell: float(sum(weights[k, ex.OPS.index(cell[e])] for k, e in enumerate(ex.EDGES)))


def _sample_cell(rng):
    return S.SPACE.sample(1, rng=rng)[0]


@pytest.mark.points(2)
def test_evolution_improves_on_its_random_start():
    history = _population(ex.regularized_evolution(_objective(0), _sample_cell, 10, 3, 120, seed=0), 120)
    values = [v for _, v in history]
    assert min(values[10:]) < min(values[:10])
    for k in range(10, 120):                      # every child is one edge away from an earlier model
        child = history[k][0]
        assert any(sum(child[e] != c[e] for e in ex.EDGES) == 1 for c, _ in history[:k]), k


@pytest.mark.points(3)
@pytest.mark.hidden
def test_evolution_replays_minilib_on_hidden_seeded_problems():
    # oracle: minilib's RegularizedEvolution driven by minimize makes the same draws from one generator
    for seed, (p, s, aging) in enumerate([(10, 3, True), (5, 5, True), (8, 2, False), (4, 4, True)]):
        objective = _objective(50 + seed)
        history = _population(ex.regularized_evolution(objective, _sample_cell, p, s, 60, seed=seed, aging=aging), 60)
        study = minimize(objective, S.SPACE, RegularizedEvolution(S.SPACE, p, s, aging=aging, seed=seed),
                         n_trials=60, progress=False)
        assert [c for c, _ in history] == [t.config for t in study.trials]
        assert np.allclose([v for _, v in history], [t.value for t in study.trials])
