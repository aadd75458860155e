"""TPE: Optuna's Parzen test vectors, the gamma split, densities, determinism, searches."""

import math

import numpy as np
import pytest
from scipy.integrate import quad

from minilib import minimize
from minilib.benchmarks.functions import BRANIN
from minilib.hpo.tpe import (
    TPE,
    ParzenEstimator,
    categorical_components,
    default_gamma,
    default_weights,
    from_internal,
    hyperopt_gamma,
    parzen_components,
    split_good_bad,
    to_internal,
)
from minilib.space import Choice, Float, Int, Space


# Optuna tests/samplers_tests/tpe_tests/test_parzen_estimator.py::test_calculate, domain [-1, 1]
@pytest.mark.parametrize("mus, endpoints, magic, weights, sigmas", [
    ([], True, False, [1.0], [2.0]),
    ([0.4], True, False, [0.5, 0.5], [1.4, 2.0]),
    ([-0.3, 0.3], True, False, [1 / 3] * 3, [0.7, 0.7, 2.0]),
    ([-0.3, 0.3], False, False, [1 / 3] * 3, [0.6, 0.6, 2.0]),
    ([-0.4, 0.4, 0.41, 0.42], True, False, [0.2] * 5, [0.8, 0.8, 0.01, 0.58, 2.0]),
    ([-0.4, 0.4, 0.41, 0.42], True, True, [0.2] * 5, [0.8, 0.8, 1 / 3, 0.58, 2.0]),
])
def test_optuna_parzen_vectors(mus, endpoints, magic, weights, sigmas):
    w, centres, s = parzen_components(mus, -1.0, 1.0, consider_magic_clip=magic, consider_endpoints=endpoints)
    np.testing.assert_allclose(w, weights)
    np.testing.assert_allclose(centres, list(mus) + [0.0])
    np.testing.assert_allclose(s, sigmas)


def test_gamma_weights_and_split():
    assert [default_gamma(n) for n in (1, 10, 11, 100, 250, 1000)] == [1, 1, 2, 10, 25, 25]
    assert [hyperopt_gamma(n) for n in (1, 16, 17, 100)] == [1, 1, 2, 3]
    np.testing.assert_array_equal(default_weights(3), [1, 1, 1])
    w = default_weights(30)
    assert len(w) == 30 and w[0] == pytest.approx(1 / 30) and np.all(w[-25:] == 1) and np.all(np.diff(w) >= 0)
    below, above = split_good_bad([5.0, 1.0, 3.0, 0.5, 4.0], 2)
    assert list(below) == [1, 3] and list(above) == [0, 2, 4]
    with pytest.raises(ValueError, match="n_below"):
        split_good_bad([1.0], 2)


def test_categorical_estimator_matches_optuna():
    # Optuna test_init_parzen_estimator: one observation of option 1 out of 3, prior on
    np.testing.assert_allclose(categorical_components([1], 3), [[0.2, 0.6, 0.2], [1 / 3, 1 / 3, 1 / 3]])
    np.testing.assert_allclose(categorical_components([1], 4), [[1 / 6, 0.5, 1 / 6, 1 / 6], [0.25] * 4])


def test_densities_integrate_to_one():
    space = Space({"x": Float(0.0, 1.0), "n": Int(1, 7), "m": Int(1, 50, log=True), "c": Choice(["a", "b", "c"])})
    X = np.array([to_internal(space, c) for c in space.sample(6, seed=0)])
    pe = ParzenEstimator(space, X[:, :1], dims=["x"])
    total, _ = quad(lambda x: math.exp(pe.log_pdf(np.array([[x]]))[0]), 0.0, 1.0)
    assert total == pytest.approx(1.0, abs=1e-6)
    for name, dim in (("n", space["n"]), ("m", space["m"])):
        pe = ParzenEstimator(space, X[:, [space.names.index(name)]], dims=[name])
        cells = np.array([[dim.to_unit(v)] for v in dim.values()])
        assert np.exp(pe.log_pdf(cells)).sum() == pytest.approx(1.0, abs=1e-9)
    pe = ParzenEstimator(space, X[:, 3:], dims=["c"])
    assert np.exp(pe.log_pdf(np.array([[0.0], [1.0], [2.0]]))).sum() == pytest.approx(1.0)


def test_log_pdf_equals_optuna_up_to_the_unit_cube_jacobian():
    from optuna import distributions as D
    from optuna.samplers._tpe.parzen_estimator import _ParzenEstimator, _ParzenEstimatorParameters
    from optuna.samplers._tpe.sampler import default_weights as optuna_weights

    space = Space({"a": Float(1.0, 100.0), "b": Float(1.0, 100.0, log=True), "d": Int(1, 100),
                   "e": Int(1, 100, log=True), "f": Choice(["x", "y", "z"])})
    dists = {"a": D.FloatDistribution(1.0, 100.0), "b": D.FloatDistribution(1.0, 100.0, log=True),
             "d": D.IntDistribution(1, 100), "e": D.IntDistribution(1, 100, log=True),
             "f": D.CategoricalDistribution(["x", "y", "z"])}
    train, test = space.sample(30, seed=0), space.sample(10, seed=1)

    def internal(configs):
        return {k: np.array([dists[k].to_internal_repr(c[k]) for c in configs]) for k in dists}

    params = _ParzenEstimatorParameters(1.0, True, False, optuna_weights, True)
    reference = _ParzenEstimator(internal(train), dists, params).log_pdf(internal(test))
    ours = ParzenEstimator(space, np.array([to_internal(space, c) for c in train]))
    ours_log_pdf = ours.log_pdf(np.array([to_internal(space, c) for c in test]))
    jacobian = math.log(99.0) + math.log(math.log(100.0))  # d(unit)/dx of the two float dimensions
    np.testing.assert_allclose(reference - ours_log_pdf, -jacobian, atol=1e-8)


def test_samples_are_valid_and_follow_the_density():
    space = Space({"x": Float(0.0, 1.0), "k": Int(2, 9), "c": Choice([1, "two", 3.0])})
    X = np.array([[0.2, space["k"].to_unit(4), 1.0], [0.25, space["k"].to_unit(5), 1.0]])
    pe = ParzenEstimator(space, X)
    draws = pe.sample(4000, np.random.default_rng(0))
    assert draws.shape == (4000, 3)
    for row in draws[:50]:
        space.validate(from_internal(space, row))
    # the marginals of the draws follow the marginal densities (a one-dimension estimator)
    marginal = ParzenEstimator(space, X[:, :1], dims=["x"])
    for q in (0.1, 0.2, 0.3, 0.5):
        cdf, _ = quad(lambda x: math.exp(marginal.log_pdf(np.array([[x]]))[0]), 0.0, q)
        assert np.mean(draws[:, 0] <= q) == pytest.approx(cdf, abs=0.03)
    options = ParzenEstimator(space, X[:, 2:], dims=["c"])
    probs = np.exp(options.log_pdf(np.array([[0.0], [1.0], [2.0]])))
    np.testing.assert_allclose([np.mean(draws[:, 2] == i) for i in range(3)], probs, atol=0.03)


def test_split_sizes_inside_the_searcher():
    space = Space({"x": Float(0.0, 1.0)})
    tpe = TPE(space, n_initial=3, seed=0)
    for n in range(1, 40):
        trial = tpe.ask()
        tpe.tell(trial, (trial.config["x"] - 0.3) ** 2)
        good, bad = tpe.split()
        assert len(good) == default_gamma(n) and len(good) + len(bad) == n
        assert max(t.value for t in good) <= min([t.value for t in bad], default=np.inf)
        assert [t.number for t in good] == sorted(t.number for t in good)


def test_failed_trials_are_ignored_and_pending_count_as_bad():
    space = Space({"x": Float(0.0, 1.0)})
    tpe = TPE(space, n_initial=2, seed=0)
    t0, t1, t2 = tpe.ask(), tpe.ask(), tpe.ask()
    tpe.tell(t0, 1.0)
    tpe.tell(t1, float("nan"))
    good, bad = tpe.split()
    assert good == [t0] and bad == [t2]
    assert tpe.ask().meta["phase"] == "initial"  # one success is fewer than n_initial = 2


def test_determinism_and_beating_random_on_branin():
    a = minimize(BRANIN, BRANIN.space, searcher=TPE(BRANIN.space, seed=3), n_trials=40, progress=False)
    b = minimize(BRANIN, BRANIN.space, searcher=TPE(BRANIN.space, seed=3), n_trials=40, progress=False)
    assert [t.config for t in a.trials] == [t.config for t in b.trials]
    assert [t.meta["phase"] for t in a.trials[:10]] == ["initial"] * 10
    assert a.trials[10].meta["phase"] == "model"
    tpe, rnd = [], []
    for seed in range(8):
        tpe.append(minimize(BRANIN, BRANIN.space, searcher=TPE(BRANIN.space, seed=seed), n_trials=40,
                            progress=False).best_value)
        rnd.append(minimize(BRANIN, BRANIN.space, searcher="random", seed=seed, n_trials=40, progress=False).best_value)
    assert np.median(tpe) < np.median(rnd)


def test_multivariate_tpe_keeps_correlations_that_independent_tpe_loses():
    # Replaces "TPE finds < 0.5", which random search passed in 83 of 100 seeds and which held for
    # both modes. f(x, y) = -(x - 0.5)(y - 0.5) is good in two opposite quadrants. After a
    # symmetric 8 x 8 grid of results, the good trials sit in both good corners: their marginals
    # are the same for x and y in either quadrant pairing. One product kernel per observation
    # (multivariate, Optuna >= 5) proposes inside a good quadrant; one estimator per dimension
    # (independent, Bergstra et al. 2011) pairs an x of one corner with a y of the other about
    # half the time or worse; random search lands in a good quadrant half the time. Catches
    # multivariate=True silently running independent TPE, and a model that proposes at random.
    space = Space({"x": Float(0.0, 1.0), "y": Float(0.0, 1.0)})

    def f(config):
        return -(config["x"] - 0.5) * (config["y"] - 0.5)

    grid = [{"x": (i + 0.5) / 8, "y": (j + 0.5) / 8} for i in range(8) for j in range(8)]

    def share_in_good_quadrants(multivariate):
        hits = []
        for seed in range(40):
            tpe = TPE(space, multivariate=multivariate, seed=seed)
            for config in grid:                                   # replay a fixed history
                tpe.tell(tpe._new_trial(config), f(config))
            proposal = tpe.ask()
            assert proposal.meta["phase"] == "model"
            hits.append(f(proposal.config) < 0)
        return np.mean(hits)

    assert share_in_good_quadrants(True) >= 0.9      # measured: 1.0 (binomial(40, 0.5) >= 36: p < 1e-6)
    assert share_in_good_quadrants(False) <= 0.6     # measured: 0.25


def test_both_modes_propose_valid_configurations_on_a_mixed_space():
    # catches a proposal decoded outside the space (an integer off its grid, a log scale undone twice)
    space = Space({"lr": Float(1e-4, 1e-1, log=True), "width": Int(8, 256, log=True), "act": Choice(["relu", "tanh"])})

    def objective(c):
        return (math.log10(c["lr"]) + 2) ** 2 + (c["act"] == "tanh") + abs(c["width"] - 64) / 64

    for multivariate in (True, False):
        study = minimize(objective, space, searcher=TPE(space, multivariate=multivariate, seed=0), n_trials=30,
                         progress=False)
        for trial in study.trials:
            space.validate(trial.config)


def test_n_startup_is_the_older_name_of_n_initial():
    space = Space({"x": Float(0.0, 1.0)})
    with pytest.warns(DeprecationWarning, match="n_initial"):
        tpe = TPE(space, n_startup=3)
    assert tpe.n_initial == tpe.n_startup == 3 and TPE(space).n_startup == 10


def test_no_repeats_in_a_small_discrete_space_until_needed():
    space = Space({"a": Int(0, 2), "b": Choice(["x", "y"])})
    tpe = TPE(space, n_initial=2, seed=0)
    seen = []
    for _ in range(6):
        trial = tpe.ask()
        tpe.tell(trial, float(trial.config["a"]))
        seen.append((trial.config["a"], trial.config["b"]))
    assert len(set(seen[2:])) == len(seen[2:])  # model-phase proposals avoid repeats


def test_bad_arguments_raise():
    space = Space({"x": Float(0.0, 1.0)})
    with pytest.raises(ValueError, match="gamma"):
        TPE(space, gamma=1.5)
    with pytest.raises(TypeError, match="gamma"):
        TPE(space, gamma="quarter")
    with pytest.raises(ValueError, match="n_candidates"):
        TPE(space, n_candidates=0)
    with pytest.raises(ValueError, match="prior_weight"):
        parzen_components([0.1], 0.0, 1.0, prior_weight=0.0)
    with pytest.raises(ValueError, match="weights"):
        parzen_components([0.1, 0.2], 0.0, 1.0, weights=[1.0, -1.0])
    assert TPE(space, gamma=0.25).gamma(10) == 3
