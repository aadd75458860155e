"""Chapter 05's tools around the search: weight inheritance (minilib.nas.morphism), the learned
performance predictor (minilib.nas.predictor), population diversity, and regret vs models evaluated
on any tabular benchmark (minilib.benchmarks.tabular.regret_by_evaluations)."""

import numpy as np
import pytest
import torch

from minilib.benchmarks.tabular import METRICS, TabularBenchmark, all_configs, regret_by_evaluations
from minilib.hpo import GridSearch
from minilib.nas import space as S
from minilib.nas.evolution import population_diversity
from minilib.nas.morphism import changed_edges, inherit_weights
from minilib.nas.predictor import RidgePredictor, features, kendall_tau, one_hot
from minilib.space import Choice, Space

PARENT = S.from_string("|conv3~0|+|none~0|skip~1|+|none~0|conv1~1|conv3~2|")


def _child(**changes):
    child = dict(PARENT)
    child.update(changes)
    return child


def _x(seed=0):
    return torch.randn(16, 40, generator=torch.Generator().manual_seed(seed))


# --- weight inheritance -------------------------------------------------------------------

def test_a_child_whose_new_edge_cannot_reach_the_output_computes_the_parents_function():
    # parent without 2->3: node 2 is dead, so an operation added on 0->2 cannot change the output. After
    # inheritance the child must compute exactly the parent's function in eval mode. Catches: BatchNorm
    # running statistics not copied, tensors of unchanged edges left at their initialisation.
    parent_config = _child(**{"2->3": "none"})
    parent = S.build(parent_config, seed=0)
    parent.train()
    parent(_x(1))                                    # move the running statistics away from (0, 1)
    parent.eval()
    child_config = dict(parent_config, **{"0->2": "conv3"})
    child = S.build(child_config, seed=1).eval()
    new = inherit_weights(child, parent)
    assert new and all(".edges.0_2." in name for name in new)
    torch.testing.assert_close(child(_x(2)), parent(_x(2)), rtol=0, atol=0)
    assert not torch.allclose(S.build(child_config, seed=1).eval()(_x(2)), parent(_x(2)))  # without it


def test_a_changed_operation_inherits_nothing_even_where_shapes_match():
    # conv3 -> conv1 on edge 0->1: the BatchNorm of the new op has the old one's shape but belongs to
    # another operation. Catches a name-and-shape-only rule.
    parent = S.build(PARENT, seed=0)
    child = S.build(_child(**{"0->1": "conv1"}), seed=1)
    assert changed_edges(child, parent) == [f"cells.{k}.edges.0_1." for k in (0, 2, 4)]
    new = inherit_weights(child, parent)
    bn = "cells.0.edges.0_1.2.running_var"
    assert bn in new and child.state_dict()[bn].shape == parent.state_dict()[bn].shape
    theirs = parent.state_dict()
    for name, tensor in child.state_dict().items():
        if name not in new:
            assert torch.equal(tensor, theirs[name]), name
        elif name.endswith("1.weight"):                       # the new convolution is freshly initialised
            assert tensor.shape != theirs[name].shape


# --- the performance predictor --------------------------------------------------------------

def test_encoding_shapes():
    configs = S.SPACE.sample(7, rng=np.random.default_rng(0))
    x = one_hot(configs, S.SPACE)
    assert x.shape == (7, 30) and np.array_equal(x.sum(axis=1), np.full(7, 6.0))
    first = S.OPS.index(configs[0]["0->1"])
    assert x[0, first] == 1 and x[0, :5].sum() == 1
    # 30 one-hot columns plus the 435 pairs minus the 6 x 10 pairs inside one edge
    assert features(configs, S.SPACE).shape == (7, 30 + 435 - 60)


def test_interactions_capture_what_one_hot_cannot():
    # A target that is additive in (edge, op) is ranked perfectly by both; a target that needs two ops
    # together (a path) is ranked far better with the pairwise products. Catches missing or same-edge pairs.
    rng = np.random.default_rng(1)
    configs = S.SPACE.sample(600, rng=rng)
    scores = rng.normal(size=30)
    additive = one_hot(configs, S.SPACE) @ scores
    pair = np.array([(c["0->1"] == "conv3") * (c["1->3"] == "conv3") for c in configs], dtype=float)
    train, test = slice(0, 400), slice(400, None)
    for interactions in (False, True):
        model = RidgePredictor(S.SPACE, lam=1e-3, interactions=interactions).fit(configs[train], additive[train])
        assert kendall_tau(model.predict(configs[test]), additive[test]) > 0.99
    linear = RidgePredictor(S.SPACE, lam=1e-3, interactions=False).fit(configs[train], pair[train])
    quadratic = RidgePredictor(S.SPACE, lam=1e-3, interactions=True).fit(configs[train], pair[train])
    error_linear = np.abs(linear.predict(configs[test]) - pair[test]).mean()
    error_quadratic = np.abs(quadratic.predict(configs[test]) - pair[test]).mean()
    assert error_quadratic < 0.05 < error_linear


def test_kendall_tau_by_hand_and_bad_input():
    # pairs of (1, 2, 3, 4) vs (1, 3, 2, 4): 5 concordant, 1 discordant -> (5 - 1) / 6
    assert kendall_tau([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(4 / 6)
    assert kendall_tau([1, 2, 3], [3, 2, 1]) == pytest.approx(-1)
    with pytest.raises(ValueError):
        RidgePredictor(S.SPACE).fit(S.SPACE.sample(3, rng=np.random.default_rng(0)), [0.1, 0.2])
    with pytest.raises(ValueError):
        RidgePredictor(S.SPACE, lam=0.0).fit(S.SPACE.sample(2, rng=np.random.default_rng(0)), [0.1, 0.2])


# --- population diversity ------------------------------------------------------------------------

def test_population_diversity():
    a = dict(PARENT)
    b = _child(**{"0->1": "skip", "2->3": "none"})
    assert population_diversity([a, a, a]) == 0.0
    assert population_diversity([a, b]) == 2.0
    assert population_diversity([a, b, a]) == pytest.approx((2 + 0 + 2) / 3)
    # random cells differ on each edge with probability 4/5 -> 4.8 (Monte Carlo, 300 cells: sd ~0.03)
    assert population_diversity(S.SPACE.sample(300, rng=np.random.default_rng(2))) == pytest.approx(4.8, abs=0.1)


# --- regret vs models evaluated --------------------------------------------------------------

def test_regret_by_evaluations_follows_the_incumbent_by_validation_error():
    # a 4-config table; grid order a0, a1, a2, a3 with val errors 0.5, 0.3, 0.4, 0.1 and test errors
    # chosen so that the best-by-test config is a2: test regret must follow the *validation* incumbent.
    space = Space({"a": Choice([0, 1, 2, 3])})
    val = np.array([0.5, 0.7, 0.6, 0.9])
    test = np.array([0.5, 0.6, 0.8, 0.7])
    tables = {m: np.ones((4, 1, 2)) for m in METRICS}
    tables["val_accuracy"] = np.repeat(val[:, None, None], 2, axis=2)
    tables["test_accuracy"] = np.repeat(test[:, None, None], 2, axis=2)
    bench = TabularBenchmark(tables, space)
    assert [c["a"] for c in all_configs(space)] == [0, 1, 2, 3]
    grid = regret_by_evaluations(lambda s: GridSearch(space, 4), bench, seeds=[0], n_evaluations=4)
    np.testing.assert_allclose(grid[0], [0.4, 0.2, 0.2, 0.0])
    test_regret = regret_by_evaluations(lambda s: GridSearch(space, 4), bench, [0], 4, metric="test_error")
    np.testing.assert_allclose(test_regret[0], [0.3, 0.2, 0.2, 0.1])
