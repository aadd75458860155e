"""Graded tests for ex01_search.py (the ask/tell loop and the best-so-far curve)."""

import math

import ex01_search as ex
import excheck as check
import numpy as np
import pytest

from minilib.hpo import GridSearch, RandomSearch
from minilib.plot import best_so_far as reference_best_so_far
from minilib.space import Float, Int, Space
from minilib.study import minimize

FORBIDDEN_IMPORTS = ["minilib.study", "minilib.plot", "minilib.hpo.random", "minilib.hpo.grid"]


def _result(out, n=None):
    config, value, values = check.sequence(out, 3, "(best_config, best_value, values)")
    config, value = check.mapping(config, "best_config"), check.number(value, "best_value")
    values = check.sequence(values, None, "values", kinds=(list,))
    values = [check.number(v, f"values[{i}]") for i, v in enumerate(values)]
    if n is not None:
        assert len(values) == n
    return dict(config), float(value), values


@pytest.mark.points(1)
def test_grid_search_finds_the_minimum_and_stops():
    space = Space({"x": Int(0, 10)})
    searcher = GridSearch(space, points_per_dim=11)
    config, value, values = _result(ex.run_search(lambda c: (c["x"] - 3) ** 2, searcher, n_trials=50), n=11)
    assert config == {"x": 3} and value == 0.0
    assert values == [float((x - 3) ** 2) for x in range(11)]
    assert all(t.status == "ok" for t in searcher.trials), "tell the searcher every result"


@pytest.mark.points(1)
def test_failures_are_told_and_the_search_goes_on():
    space = Space({"x": Int(0, 5)})
    searcher = GridSearch(space, points_per_dim=6)

    def objective(config):
        if config["x"] == 1:
            raise RuntimeError("diverged")
        return float(config["x"])

    config, value, values = _result(ex.run_search(objective, searcher, n_trials=4), n=4)
    assert config == {"x": 0} and value == 0.0
    assert math.isnan(values[1]) and values[2:] == [2.0, 3.0]
    assert [t.status for t in searcher.trials] == ["ok", "failed", "ok", "ok"]
    assert "diverged" in (searcher.trials[1].error or "")


@pytest.mark.points(2)
@pytest.mark.hidden
def test_random_search_matches_minilib_minimize():
    space = Space({"lr": Float(1e-4, 1.0, log=True), "u": Float(-1.0, 1.0)})

    def objective(config):
        if config["u"] > 0.8:
            return float("nan")                       # a diverged run: not a valid value
        return (math.log10(config["lr"]) + 2) ** 2 + 0.1 * config["u"]

    searcher = RandomSearch(space, seed=3)
    config, value, values = _result(ex.run_search(objective, searcher, n_trials=40), n=40)
    study = minimize(objective, space, RandomSearch(space, seed=3), n_trials=40, progress=False)
    assert config == study.best_config and value == pytest.approx(study.best_value)
    np.testing.assert_array_equal(np.array(values), study.values())
    assert [t.status for t in searcher.trials] == [t.status for t in study.trials]


@pytest.mark.points(1)
@pytest.mark.hidden
def test_no_success_raises_value_error():
    searcher = GridSearch(Space({"x": Int(0, 2)}), points_per_dim=3)

    def objective(config):
        raise ZeroDivisionError("always")

    with pytest.raises(ValueError):
        ex.run_search(objective, searcher, n_trials=3)
    assert [t.status for t in searcher.trials] == ["failed"] * 3


def _curve(values, maximize=False):
    return check.array(ex.best_so_far(values, maximize=maximize), shape=(len(values),), what="the curve")


@pytest.mark.points(1)
def test_best_so_far_example():
    np.testing.assert_array_equal(_curve([3.0, math.nan, 1.0, 2.0]), [3.0, 3.0, 1.0, 1.0])
    np.testing.assert_array_equal(_curve([0.2, 0.5, 0.1, 0.9], maximize=True), [0.2, 0.5, 0.5, 0.9])


@pytest.mark.points(1)
def test_best_so_far_leading_nans():
    got = _curve([math.nan, math.nan, 4.0, math.nan, 5.0, 1.0])
    assert np.isnan(got[:2]).all()
    np.testing.assert_array_equal(got[2:], [4.0, 4.0, 4.0, 1.0])


@pytest.mark.points(1)
@pytest.mark.hidden
def test_best_so_far_matches_minilib():
    rng = np.random.default_rng(0)
    for maximize in (False, True):
        values = rng.normal(size=50)
        values[rng.random(50) < 0.3] = np.nan
        np.testing.assert_array_equal(_curve(values, maximize), reference_best_so_far(values, maximize=maximize))
    assert _curve([]).shape == (0,)
    assert np.isnan(_curve([math.nan])).all()
