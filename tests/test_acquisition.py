"""Acquisition functions against skopt's reference values and closed-form properties."""

import numpy as np
import pytest
from scipy.integrate import quad
from scipy.stats import norm

from minilib.hpo.acquisition import (
    acquisition_score,
    expected_improvement,
    log_expected_improvement,
    log_probability_of_improvement,
    lower_confidence_bound,
    probability_of_improvement,
    upper_confidence_bound,
)


def test_skopt_reference_values():
    # skopt/tests/test_acquisition.py: constant surrogate mu = 0, sigma = 1, y_opt = -0.5, xi = 0
    assert expected_improvement(0.0, 1.0, best=-0.5, xi=0.0) == pytest.approx(0.1977966, abs=1e-7)
    assert probability_of_improvement(0.0, 1.0, best=-0.5, xi=0.0) == pytest.approx(0.308538, abs=1e-6)
    assert lower_confidence_bound(0.0, 1.0, kappa=0.3) == pytest.approx(-0.3)
    assert upper_confidence_bound(0.0, 1.0, kappa=0.3) == pytest.approx(0.3)


def test_ei_is_the_expectation_of_the_improvement():
    for mu, sigma, best, xi in [(0.3, 0.7, 0.1, 0.0), (-1.0, 2.0, 0.5, 0.2), (2.0, 0.1, 0.0, 0.01)]:
        def improvement(f, mu=mu, sigma=sigma, target=best - xi):
            return max(target - f, 0.0) * norm.pdf(f, mu, sigma)

        integral, _ = quad(improvement, mu - 12 * sigma, mu + 12 * sigma, points=[best - xi], limit=200)
        assert expected_improvement(mu, sigma, best, xi) == pytest.approx(integral, rel=1e-6, abs=1e-12)


def test_ei_nonnegative_and_zero_where_sigma_is_zero():
    rng = np.random.default_rng(0)
    mu, sigma = rng.normal(size=1000) * 5, rng.random(1000) * 3
    sigma[::7] = 0.0
    ei = expected_improvement(mu, sigma, best=0.0, xi=0.01)
    assert ei.shape == (1000,)
    assert np.all(ei >= 0)
    assert np.all(ei[::7] == 0.0)
    assert np.all(probability_of_improvement(mu, sigma, 0.0)[::7] == 0.0)
    assert np.all(np.isneginf(log_expected_improvement(mu, sigma, 0.0)[::7]))


def test_ei_monotone_in_mu_and_sigma():
    mus = np.linspace(-3, 3, 50)
    assert np.all(np.diff(expected_improvement(mus, 1.0, 0.0)) < 0)
    sigmas = np.linspace(0.01, 3, 50)
    assert np.all(np.diff(expected_improvement(0.5, sigmas, 0.0)) > 0)


def test_log_ei_matches_log_of_ei_and_does_not_underflow():
    z = np.linspace(-30, 5, 400)
    ei, log_ei = expected_improvement(-z, 1.0, 0.0), log_expected_improvement(-z, 1.0, 0.0)
    assert np.allclose(np.log(ei), log_ei, rtol=1e-8, atol=1e-8)
    far = log_expected_improvement(np.array([50.0, 100.0, 1e3]), 1.0, 0.0)
    assert np.all(np.isfinite(far)) and np.all(np.diff(far) < 0)
    # asymptotics: h(z) ~ phi(z) / z^2 for z -> -inf
    assert far[2] == pytest.approx(norm.logpdf(-1e3) - 2 * np.log(1e3), rel=1e-6)
    assert log_probability_of_improvement(100.0, 1.0, 0.0) == pytest.approx(norm.logcdf(-100.0))


def test_acquisition_score_orders_like_the_acquisition():
    mu, sigma = np.array([0.0, 0.5, -0.2]), np.array([1.0, 0.2, 0.5])
    for name, raw in [("ei", expected_improvement(mu, sigma, -0.1, 0.0)),
                      ("pi", probability_of_improvement(mu, sigma, -0.1, 0.0))]:
        score = acquisition_score(name, mu, sigma, best=-0.1, xi=0.0, kappa=1.5)
        assert list(np.argsort(score)) == list(np.argsort(raw))


def test_lcb_score_is_minus_the_bound_written_out():
    # The old "lcb" row compared acquisition_score with -lower_confidence_bound, i.e. the function
    # with itself. Here the bounds are written out: mu - 1.5 sigma = [-1.5, 0.2, -0.95], so the
    # score (to maximise) is [1.5, -0.2, 0.95] and point 0 wins; with kappa = 0 the bound is mu and
    # point 2 wins. Catches a sign error (maximising the bound picks point 1), an ignored kappa, and
    # kappa applied to the variance instead of sigma (sigma^2 gives [-1.5, 0.44, -0.575]: same
    # winner, but not the same values).
    mu, sigma = np.array([0.0, 0.5, -0.2]), np.array([1.0, 0.2, 0.5])
    score = acquisition_score("lcb", mu, sigma, best=-0.1, kappa=1.5)
    np.testing.assert_allclose(score, [1.5, -0.2, 0.95])
    assert int(np.argmax(score)) == 0
    assert int(np.argmax(acquisition_score("lcb", mu, sigma, best=-0.1, kappa=0.0))) == 2


def test_the_default_xi_is_the_same_everywhere():
    # acquisition_score's default was 0.01 while BayesOpt and the EI/PI functions used 0: one value
    # now, 0 (BayesOpt's docstring has the measurements behind the choice)
    import inspect

    from minilib.hpo.bayesopt import BayesOpt
    functions = (acquisition_score, expected_improvement, log_expected_improvement, probability_of_improvement,
                 log_probability_of_improvement, BayesOpt)
    assert {inspect.signature(f).parameters["xi"].default for f in functions} == {0.0}


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match="sigma"):
        expected_improvement(0.0, -1.0, 0.0)
    with pytest.raises(ValueError, match="kappa"):
        lower_confidence_bound(0.0, 1.0, kappa=-1)
    with pytest.raises(ValueError, match="unknown acquisition"):
        acquisition_score("ucb2", 0.0, 1.0, 0.0)
    with pytest.raises(ValueError, match="NaN"):
        probability_of_improvement(np.nan, 1.0, 0.0)
