"""Power-law learning-curve extrapolation: exact recovery on noise-free curves, and the stop rule."""

import numpy as np
import pytest

from minilib.hpo.learning_curves import PowerLaw, fit_power_law, predict_final, should_stop


@pytest.mark.parametrize("a,b,c", [(0.2, 0.5, 0.7), (0.05, 1.0, 1.5), (0.4, 0.3, 0.2)])
def test_recovers_an_exact_power_law(a, b, c):
    t = np.arange(1, 10)
    fit = fit_power_law(t, a + b * t ** (-c))
    assert isinstance(fit, PowerLaw)
    np.testing.assert_allclose([fit.a, fit.b, fit.c], [a, b, c], rtol=1e-5, atol=1e-7)
    assert predict_final(a + b * t ** (-c), 27) == pytest.approx(a + b * 27 ** (-c), rel=1e-6)


def test_flat_or_rising_curve_predicts_its_mean():
    y = np.array([0.3, 0.31, 0.33, 0.36])
    fit = fit_power_law(np.arange(1, 5), y)
    assert fit.b == 0.0 and fit(100) == pytest.approx(y.mean())


def test_should_stop():
    t = np.arange(1, 6)
    bad = 0.5 + 0.3 * t ** -1.0            # heads for 0.5
    good = 0.1 + 0.6 * t ** -0.5           # heads for about 0.2 at epoch 27
    assert should_stop(bad, 27, incumbent=0.3)
    assert not should_stop(good, 27, incumbent=0.3)
    assert not should_stop(bad, 27, incumbent=0.3, margin=0.25)        # a cautious margin keeps it
    assert not should_stop(bad[:2], 27, incumbent=0.3)                   # too short to judge
    with pytest.raises(ValueError):
        fit_power_law(np.arange(1, 3), np.array([0.5, 0.4]))
    with pytest.raises(ValueError):
        fit_power_law(np.arange(0, 4), np.array([0.5, 0.4, 0.3, 0.2]))
