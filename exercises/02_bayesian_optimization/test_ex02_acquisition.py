"""Graded tests for ex02_acquisition.py (EI, PI, LCB)."""

import ex02_acquisition as ex
import excheck as check
import numpy as np
import pytest
from scipy.integrate import quad
from scipy.stats import norm

FORBIDDEN_IMPORTS = ["minilib.hpo.acquisition", "minilib.hpo.bayesopt"]


@pytest.mark.points(2)
def test_ei_reference_value():
    ei = ex.expected_improvement(0.0, 1.0, best=-0.5, xi=0.0)
    assert np.ndim(ei) == 0 or np.shape(ei) == ()
    assert float(ei) == pytest.approx(0.1977966, abs=1e-7)  # skopt's test value


@pytest.mark.points(2)
def test_ei_zero_where_sigma_is_zero_without_warnings():
    with np.errstate(all="raise"):
        ei = ex.expected_improvement(np.array([0.0, -1.0, 2.0]), np.array([0.0, 0.0, 1.0]), best=0.5)
    assert isinstance(ei, np.ndarray) and ei.shape == (3,)
    assert ei[0] == 0.0 and ei[1] == 0.0 and ei[2] > 0


@pytest.mark.points(1)
def test_pi_and_lcb_reference_values():
    assert float(ex.probability_of_improvement(0.0, 1.0, best=-0.5)) == pytest.approx(0.308538, abs=1e-6)
    assert float(ex.lower_confidence_bound(0.0, 1.0, kappa=0.3)) == pytest.approx(-0.3)
    assert float(ex.probability_of_improvement(0.0, 0.0, best=1.0)) == 0.0


@pytest.mark.points(1)
def test_ei_and_pi_use_xi_as_a_margin():
    # catches xi used only inside z (or not at all): EI(mu, sigma, best, xi) = EI(mu + xi, sigma, best, 0)
    ei = check.number(ex.expected_improvement(0.0, 1.0, best=-0.5, xi=0.3), "EI with xi = 0.3")
    check.approx(ei, 0.1202072, abs=1e-7, what="EI(0, 1, best=-0.5, xi=0.3)")  # (-0.8) Phi(-0.8) + phi(-0.8)
    shifted = check.number(ex.expected_improvement(0.3, 1.0, best=-0.5, xi=0.0), "EI with mu = 0.3")
    check.approx(ei, shifted, rel=1e-12, what="EI with xi = 0.3 against EI with mu shifted by 0.3")
    pi = check.number(ex.probability_of_improvement(0.0, 1.0, best=-0.5, xi=0.3), "PI with xi = 0.3")
    check.approx(pi, float(norm.cdf(-0.8)), rel=1e-9, what="PI(0, 1, best=-0.5, xi=0.3)")


@pytest.mark.points(1)
@pytest.mark.hidden
def test_pi_and_lcb_on_other_inputs():
    # catches hard-coded visible answers (PI = 0.308538, LCB = -0.3) and LCB with the wrong sign
    rng = np.random.default_rng(7)
    mu, sigma, best, xi = rng.normal(size=6), rng.random(6) + 0.05, 0.2, 0.05
    pi = check.array(ex.probability_of_improvement(mu, sigma, best, xi), shape=(6,))
    check.close(pi, norm.cdf((best - mu - xi) / sigma), rtol=1e-9, what="PI")
    lcb = check.array(ex.lower_confidence_bound(mu, sigma, kappa=2.5), shape=(6,))
    check.close(lcb, mu - 2.5 * sigma, rtol=1e-12, what="LCB")
    at_zero = check.array(ex.probability_of_improvement(mu, np.zeros(6), best), shape=(6,))
    check.equal(at_zero, np.zeros(6), what="PI where sigma == 0")


@pytest.mark.points(1)
def test_negative_sigma_and_kappa_raise():
    with pytest.raises(ValueError):
        ex.expected_improvement(0.0, -1.0, 0.0)
    with pytest.raises(ValueError):
        ex.probability_of_improvement(0.0, -0.1, 0.0)
    with pytest.raises(ValueError):
        ex.lower_confidence_bound(0.0, 1.0, kappa=-1.0)


@pytest.mark.points(2)
@pytest.mark.hidden
def test_ei_equals_the_expected_improvement_integral():
    rng = np.random.default_rng(0)
    for mu, sigma, best, xi in zip(rng.normal(size=5), rng.random(5) + 0.1, rng.normal(size=5), rng.random(5) * 0.2):
        def integrand(f, mu=mu, sigma=sigma, target=best - xi):
            return max(target - f, 0.0) * norm.pdf(f, mu, sigma)

        integral, _ = quad(integrand, mu - 12 * sigma, mu + 12 * sigma, points=[best - xi], limit=200)
        assert float(ex.expected_improvement(mu, sigma, best, xi)) == pytest.approx(integral, rel=1e-6, abs=1e-12)


@pytest.mark.points(1)
@pytest.mark.hidden
def test_ei_broadcasts_and_is_nonnegative():
    mu = np.linspace(-5, 5, 101)
    ei = ex.expected_improvement(mu, 0.5, best=0.0, xi=0.01)
    assert ei.shape == (101,) and np.all(ei >= 0) and np.all(np.diff(ei) <= 0)


@pytest.mark.points(1)
def test_next_point_picks_the_largest_ei():
    mu, sigma = np.array([0.0, -0.2, 0.5]), np.array([0.1, 0.1, 2.0])
    assert check.integer(ex.next_point(mu, sigma, best=0.0)) == 2
    # xi is passed on to EI: a sure but small gain (A) wins at xi = 0, an uncertain candidate (B) at xi = 0.4
    mu, sigma = np.array([-0.3, 0.5]), np.array([0.01, 1.0])
    assert check.integer(ex.next_point(mu, sigma, best=0.0, xi=0.0)) == 0
    assert check.integer(ex.next_point(mu, sigma, best=0.0, xi=0.4)) == 1


@pytest.mark.points(1)
@pytest.mark.hidden
def test_next_point_breaks_ties_by_mean_then_index():
    assert check.integer(ex.next_point(np.array([0.3, 0.1, 0.1]), np.zeros(3), best=0.0)) == 1
    assert check.integer(ex.next_point(np.array([2.0, 2.0]), np.zeros(2), best=0.0)) == 0
