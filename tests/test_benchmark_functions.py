"""Benchmark functions: known optima at known minimisers (skopt's tests, Surjanovic & Bingham)."""

import math

import numpy as np
import pytest
from scipy.optimize import minimize as scipy_minimize

from minilib import minimize
from minilib.benchmarks import functions as bf
from minilib.benchmarks.functions import BRANIN, FORRESTER, FUNCTIONS, HARTMANN3, HARTMANN6, get_function


@pytest.mark.parametrize("point", [(-math.pi, 12.275), (math.pi, 2.275), (9.42478, 2.475)])
def test_branin_minimum_at_its_three_minimisers(point):
    assert BRANIN.evaluate(np.array(point)) == pytest.approx(0.397887, abs=1e-6)


def test_published_optima():
    assert HARTMANN6.evaluate(np.array([0.20169, 0.15001, 0.476874, 0.275332, 0.311652, 0.6573])) == pytest.approx(
        -3.32237, abs=1e-5)
    assert FORRESTER.evaluate(np.array([0.757249])) == pytest.approx(-6.020740, abs=1e-6)
    assert HARTMANN3.evaluate(np.array([0.114614, 0.555649, 0.852547])) == pytest.approx(-3.862780, abs=1e-5)
    assert BRANIN.optimum == pytest.approx(0.3978873577, abs=1e-10)
    assert HARTMANN6.optimum == pytest.approx(-3.3223680114, abs=1e-9)


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_each_minimiser_is_a_local_minimum_with_the_stated_value(name):
    f = get_function(name)
    for point in f.minimizers:
        assert f.evaluate(np.array(point)) == pytest.approx(f.optimum, abs=1e-5)
        result = scipy_minimize(f.evaluate, np.array(point), method="L-BFGS-B", bounds=f.bounds)
        assert result.fun >= f.optimum - 1e-7  # no lower value next to the stated minimiser


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_no_random_point_beats_the_optimum(name):
    f = get_function(name)
    low, high = np.array(f.bounds).T
    X = low + np.random.default_rng(0).random((20000, f.dim)) * (high - low)
    values = f.evaluate(X)
    assert values.shape == (20000,)
    assert values.min() >= f.optimum - 1e-9
    assert np.all(f.regret(values) >= -1e-9)


def test_config_interface_and_minimize():
    study = minimize(BRANIN, BRANIN.space, searcher="random", n_trials=5, seed=0, progress=False)
    assert len(study.trials) == 5
    config = study.trials[0].config
    assert study.trials[0].value == pytest.approx(BRANIN.evaluate(np.array([config["x1"], config["x2"]])))
    assert BRANIN.space.names == ["x1", "x2"]
    assert BRANIN.regret(1.0) == pytest.approx(1.0 - 0.3978873577)


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match="unknown test function"):
        get_function("nope")
    with pytest.raises(ValueError, match="dimension 2"):
        BRANIN.evaluate(np.zeros(3))
    with pytest.raises(ValueError, match="missing"):
        BRANIN({"x1": 0.0})
    with pytest.raises(TypeError):
        BRANIN([0.0, 1.0])
    assert isinstance(bf.SIX_HUMP_CAMEL.space.size(), float)
