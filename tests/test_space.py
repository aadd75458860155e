import math

import numpy as np
import pytest

from minilib.space import Choice, Float, Int, Space


def make_space():
    return Space({
        "lr": Float(1e-4, 1e-1, log=True),
        "momentum": Float(0.0, 0.99),
        "width": Int(16, 256, log=True),
        "depth": Int(1, 4),
        "batch": Int(32, 256, step=32),
        "act": Choice(["relu", "tanh", "gelu"]),
    })


@pytest.mark.parametrize("build, message", [
    (lambda: Float(1.0, 0.0), "low .* must be smaller than high"),
    (lambda: Float(1.0, 1.0), "must be smaller"),
    (lambda: Float(float("nan"), 1.0), "finite"),
    (lambda: Float(0.0, float("inf")), "finite"),
    (lambda: Float(0.0, 1.0, log=True), "log=True needs low > 0"),
    (lambda: Float(-1.0, 1.0, log=True), "log=True"),
    (lambda: Int(5, 1), "smaller"),
    (lambda: Int(0, 10, step=0), "step must be positive"),
    (lambda: Int(0, 10, step=-2), "step must be positive"),
    (lambda: Int(0, 10, log=True), "log=True needs low >= 1"),
    (lambda: Int(1, 10, step=2, log=True), "step=1"),
    (lambda: Int(0.5, 10), "integer"),
    (lambda: Choice([]), "at least one option"),
    (lambda: Choice(["a", "b", "a"]), "'a' appears twice"),
    (lambda: Choice("abc"), "must be a list"),
    (lambda: Choice([1.0, float("nan")]), "NaN"),
])
def test_invalid_dimensions_raise_when_built(build, message):
    # Optuna and scikit-optimize refuse a bad dimension at once; a Space-only check let
    # Float(1.0, 0.0) live (and sample garbage) until it was put into a Space.
    with pytest.raises(ValueError, match=message):
        build()


@pytest.mark.parametrize("dims, message", [
    ({"z": [1, 2, 3]}, "'z'.*expected Float, Int or Choice"),
    ({}, "non-empty"),
])
def test_invalid_definitions_name_the_dimension(dims, message):
    with pytest.raises(ValueError, match=message):
        Space(dims)


def test_space_names_a_dimension_that_went_bad_after_it_was_built():
    dim = Float(0.0, 1.0)
    object.__setattr__(dim, "low", 2.0)      # frozen dataclasses can still be forced
    with pytest.raises(ValueError, match="dimension 'x': Float low"):
        Space({"x": dim})


def test_choice_distinguishes_types():
    Space({"c": Choice([1, True, "1"])})  # equal under ==, but different options


def test_sample_types_bounds_and_determinism():
    space = make_space()
    a, b = space.sample(200, seed=3), space.sample(200, seed=3)
    assert a == b
    assert a != space.sample(200, seed=4)
    for config in a:
        space.validate(config)
        assert type(config["width"]) is int and type(config["depth"]) is int
        assert type(config["lr"]) is float
        assert config["batch"] % 32 == 0
        assert config["act"] in ("relu", "tanh", "gelu")


def test_sample_with_rng_advances_generator():
    space = make_space()
    rng = np.random.default_rng(0)
    first, second = space.sample(1, rng=rng), space.sample(1, rng=rng)
    assert first != second
    with pytest.raises(ValueError, match="seed or rng"):
        space.sample(1, seed=0, rng=rng)


def test_log_uniform_sampling_is_uniform_in_log_space():
    space = Space({"lr": Float(1e-5, 1e-1, log=True)})
    logs = np.log10([c["lr"] for c in space.sample(20000, seed=0)])
    counts, _ = np.histogram(logs, bins=4, range=(-5, -1))  # one bin per decade
    assert np.all(np.abs(counts / 20000 - 0.25) < 0.02)


def test_int_log_gives_each_integer_its_share_of_the_log_axis():
    space = Space({"n": Int(1, 8, log=True)})
    values = np.array([c["n"] for c in space.sample(40000, seed=1)])
    edges = np.log(np.arange(0.5, 9.0))
    expected = np.diff(edges) / (edges[-1] - edges[0])
    observed = np.bincount(values, minlength=9)[1:] / len(values)
    np.testing.assert_allclose(observed, expected, atol=0.01)


def test_every_option_and_integer_is_reachable():
    space = Space({"c": Choice(["a", "b", "c"]), "n": Int(0, 3)})
    configs = space.sample(500, seed=0)
    assert {c["c"] for c in configs} == {"a", "b", "c"}
    assert {c["n"] for c in configs} == {0, 1, 2, 3}


def test_grid_counts_order_and_geometric_log_scale():
    space = Space({"lr": Float(1e-3, 1e-1, log=True), "act": Choice(["relu", "tanh"])})
    grid = space.grid(3)
    assert len(grid) == 6
    np.testing.assert_allclose([g["lr"] for g in grid[::2]], [1e-3, 1e-2, 1e-1])
    assert [g["act"] for g in grid[:2]] == ["relu", "tanh"]  # last dimension varies fastest
    assert grid[0]["lr"] == 1e-3 and grid[-1]["lr"] == 1e-1  # exact ends


def test_grid_on_ints_and_per_dimension_counts():
    space = Space({"n": Int(1, 10), "m": Int(0, 2), "x": Float(0.0, 1.0)})
    grid = space.grid({"n": 4, "m": 10, "x": 2})
    assert sorted({g["n"] for g in grid}) == [1, 4, 7, 10]
    assert sorted({g["m"] for g in grid}) == [0, 1, 2]
    assert len(grid) == 4 * 3 * 2
    with pytest.raises(ValueError, match="'x'.*points per dimension"):
        space.grid({"x": 0})


def test_size_and_discreteness():
    assert Space({"n": Int(0, 9), "c": Choice(["a", "b"])}).size() == 20
    assert Space({"n": Int(0, 10, step=5)}).size() == 3
    assert make_space().size() == math.inf and not make_space().is_discrete()


def test_unit_cube_round_trip():
    space = make_space()
    for config in space.sample(300, seed=2):
        u = space.to_unit(config)
        assert u.shape == (6,) and np.all((u >= 0) & (u <= 1))
        back = space.from_unit(u)
        assert back["width"] == config["width"] and back["depth"] == config["depth"]
        assert back["batch"] == config["batch"] and back["act"] == config["act"]
        assert back["lr"] == pytest.approx(config["lr"], rel=1e-12)


def test_from_unit_covers_the_bounds_and_clips():
    space = Space({"x": Float(-2.0, 3.0), "n": Int(1, 5), "c": Choice(["a", "b"])})
    assert space.from_unit([0, 0, 0]) == {"x": -2.0, "n": 1, "c": "a"}
    assert space.from_unit([1, 1, 1]) == {"x": 3.0, "n": 5, "c": "b"}
    assert space.from_unit([-5, 7, 2]) == {"x": -2.0, "n": 5, "c": "b"}
    with pytest.raises(ValueError, match="length 3"):
        space.from_unit([0.5, 0.5])
    with pytest.raises(ValueError, match="NaN"):
        space.from_unit([np.nan, 0.5, 0.5])


def test_validate_rejects_unknown_missing_and_out_of_range():
    space = make_space()
    good = space.sample(1, seed=0)[0]
    with pytest.raises(ValueError, match="unknown key.*'bogus'"):
        space.validate({**good, "bogus": 1})
    with pytest.raises(ValueError, match="unknown key"):
        space.to_unit({**good, "bogus": 1})
    with pytest.raises(ValueError, match="missing.*'lr'"):
        space.validate({k: v for k, v in good.items() if k != "lr"})
    with pytest.raises(ValueError, match="'depth'"):
        space.validate({**good, "depth": 7})
    with pytest.raises(ValueError, match="'batch'"):
        space.validate({**good, "batch": 33})
    with pytest.raises(ValueError, match="'act'"):
        space.validate({**good, "act": "swish"})
    with pytest.raises(ValueError, match="'depth'"):
        space.validate({**good, "depth": 2.0})


def test_neighbors_stay_valid_move_and_stay_close():
    # Catches a neighbour that returns the same value, leaves the dimension, or jumps anywhere
    # (a fresh sample is not a mutation: its mean distance would be about 1/3 of the range).
    rng = np.random.default_rng(0)
    f, i, c = Float(0.0, 10.0), Int(1, 1024, log=True), Choice(["a", "b", "c"])
    steps = [f.neighbor(5.0, rng) for _ in range(2000)]
    assert all(f.contains(v) for v in steps) and 0.7 < np.std(steps) < 1.3      # scale 0.1 of the range
    ints = [i.neighbor(32, rng) for _ in range(500)]
    assert all(i.contains(v) and v != 32 for v in ints)
    assert 10 < np.median(ints) < 100                                           # a step on the log axis
    assert all(Int(0, 3).neighbor(0, rng) in (1, 2, 3) for _ in range(50))
    assert Int(0, 10, step=5).neighbor(10, rng) in (0, 5)
    others = [c.neighbor("b", rng) for _ in range(300)]
    assert set(others) == {"a", "c"} and abs(others.count("a") - 150) < 40      # uniform over the others
    assert Choice(["only"]).neighbor("only", rng) == "only"


def test_mutate_changes_exactly_one_dimension_and_is_seeded():
    space = make_space()
    parent = space.sample(1, seed=0)[0]
    changed = []
    for seed in range(300):
        child = space.mutate(parent, np.random.default_rng(seed))
        space.validate(child)
        diff = [k for k in parent if child[k] != parent[k]]
        assert len(diff) == 1               # Real et al.: one edge / one hyperparameter per mutation
        changed += diff
    assert set(changed) == set(space.names)  # every dimension can be the one that mutates
    assert space.mutate(parent, np.random.default_rng(5)) == space.mutate(parent, np.random.default_rng(5))
    fixed = Space({"a": Choice(["x"]), "b": Choice([1, 2])})
    assert all(fixed.mutate({"a": "x", "b": 1}, np.random.default_rng(s))["b"] == 2 for s in range(10))
    with pytest.raises(ValueError):
        space.mutate({"lr": 1.0}, np.random.default_rng(0))


def test_int_round_and_config_key():
    from minilib.space import config_key
    assert Int(0, 10, step=3).round(10) == 9            # 10 is not on the grid 0, 3, 6, 9
    np.testing.assert_array_equal(Int(1, 5).round(np.array([-3.0, 2.4, 2.6, 99.0])), [1, 2, 3, 5])
    assert type(Int(1, 5).round(2.2)) is int
    assert config_key({"a": 1, "b": "x"}) == config_key({"b": "x", "a": 1})
    assert config_key({"a": 1}) != config_key({"a": 1.5})
