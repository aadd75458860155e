"""Graded tests for ex01_sampling.py (log-uniform sampling, grid points, grid enumeration)."""

import math

import ex01_sampling as ex
import excheck as check
import numpy as np
import pytest
from scipy import stats

from minilib.space import Float, Int, Space

FORBIDDEN_IMPORTS = ["minilib.space"]


def _samples(low, high, n, seed):
    out = check.array(ex.log_uniform(low, high, n, np.random.default_rng(seed)), shape=(n,), what="the samples")
    assert np.all(np.isfinite(out))
    assert np.all((out >= low) & (out <= high)), "samples outside [low, high]"
    return out


@pytest.mark.points(1)
def test_log_uniform_bounds_and_decades():
    x = _samples(1e-4, 1e-1, 3000, seed=0)
    per_decade = np.histogram(np.log10(x), bins=[-4, -3, -2, -1])[0] / len(x)
    np.testing.assert_allclose(per_decade, 1 / 3, atol=0.04)


@pytest.mark.points(1)
def test_log_uniform_is_uniform_in_log_ks():
    low, high = 1e-5, 1.0
    x = _samples(low, high, 2000, seed=1)
    u = (np.log(x) - math.log(low)) / (math.log(high) - math.log(low))
    assert stats.kstest(u, "uniform").pvalue > 1e-3, "log(x) is not uniform"
    assert stats.kstest((x - low) / (high - low), "uniform").pvalue < 1e-6, "looks uniform in x, not in log(x)"


@pytest.mark.points(1)
@pytest.mark.hidden
def test_log_uniform_seeded_and_validated():
    a = _samples(2.0, 2000.0, 500, seed=5)
    b = _samples(2.0, 2000.0, 500, seed=5)
    c = _samples(2.0, 2000.0, 500, seed=6)
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    u = (np.log(a) - math.log(2.0)) / (math.log(2000.0) - math.log(2.0))
    assert stats.kstest(u, "uniform").pvalue > 1e-3
    for low, high in [(0.0, 1.0), (-1.0, 1.0), (1.0, 1.0), (2.0, 1.0)]:
        with pytest.raises(ValueError):
            ex.log_uniform(low, high, 3, np.random.default_rng(0))


def _points(low, high, k, log):
    out = check.sequence(ex.grid_points(low, high, k, log=log), k, "the grid points", kinds=(list,))
    return [check.number(v, f"grid point {i}") for i, v in enumerate(out)]


@pytest.mark.points(1)
def test_grid_points_linear_and_log():
    assert _points(0.0, 1.0, 5, log=False) == [0.0, 0.25, 0.5, 0.75, 1.0]
    got = _points(1e-4, 1.0, 5, log=True)
    np.testing.assert_allclose(got, [1e-4, 1e-3, 1e-2, 1e-1, 1.0], rtol=1e-12)
    assert got[0] == 1e-4 and got[-1] == 1.0, "the ends must be exact"
    np.testing.assert_allclose(np.diff(np.log(got)), math.log(10.0), rtol=1e-9)


@pytest.mark.points(1)
@pytest.mark.hidden
def test_grid_points_match_minilib():
    for low, high, k, log in [(1e-3, 0.3, 7, True), (16, 256, 3, True), (-2.0, 3.0, 4, False), (0.1, 10.0, 1, True),
                              (0.0, 4.0, 1, False), (3e-5, 3e-2, 2, True)]:
        got = _points(low, high, k, log)
        np.testing.assert_allclose(got, Float(low, high, log=log).grid(k), rtol=1e-12)
        if k > 1:
            assert got[0] == low and got[-1] == high


def _configs(values):
    out = check.sequence(ex.grid(values), None, "the configurations", kinds=(list,))
    configs = [check.mapping(c, f"configuration {i}") for i, c in enumerate(out)]
    for c in configs:      # values are the options given (numbers or strings), never look-alike objects
        assert all(type(v) in (int, float, str) or type(v) in check.INT_TYPES + check.FLOAT_TYPES
                   for v in c.values()), f"configuration values should be the given options, got {c!r}"
    return [{str(k): v for k, v in c.items()} for c in configs]


@pytest.mark.points(1)
def test_grid_count_and_keys():
    values = {"lr": [1e-3, 1e-2, 1e-1], "width": [16, 64], "act": ["relu", "tanh"]}
    configs = _configs(values)
    assert len(configs) == 3 * 2 * 2
    assert all(list(c) == ["lr", "width", "act"] for c in configs)
    assert len({tuple(c.values()) for c in configs}) == 12, "every combination exactly once"


@pytest.mark.points(1)
def test_grid_order_last_fastest():
    configs = _configs({"a": [1, 2], "b": ["x", "y", "z"]})
    assert [(c["a"], c["b"]) for c in configs] == [(1, "x"), (1, "y"), (1, "z"), (2, "x"), (2, "y"), (2, "z")]


@pytest.mark.points(1)
@pytest.mark.hidden
def test_grid_matches_minilib_space_grid():
    space = Space({"lr": Float(1e-4, 1e-1, log=True), "depth": Int(1, 4), "width": Int(8, 128, log=True)})
    values = {name: dim.grid(3) for name, dim in space.dimensions.items()}
    expected = space.grid(3)
    got = _configs(values)
    assert len(got) == len(expected)
    for a, b in zip(got, expected):
        assert list(a) == list(b)
        assert [float(a[k]) for k in a] == [float(b[k]) for k in b]
    assert _configs({"only": [7]}) == [{"only": 7}]
