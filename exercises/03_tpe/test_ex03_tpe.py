"""Graded tests for ex03_tpe.py (split, bandwidths, Parzen density, l/g choice)."""

import math

import ex03_tpe as ex
import excheck as check
import numpy as np
import pytest
from scipy.integrate import quad
from scipy.stats import norm, truncnorm

from minilib.hpo.tpe import ParzenEstimator
from minilib.space import Float, Space

FORBIDDEN_IMPORTS = ["minilib.hpo.tpe"]


@pytest.mark.points(1)
def test_split_small():
    good, bad = check.sequence(ex.split_good_bad([5.0, 1.0, 3.0]), 2, "(good, bad)")
    assert check.int_list(good, what="good") == [1] and check.int_list(bad, what="bad") == [0, 2]


@pytest.mark.points(2)
def test_split_sizes_follow_optunas_gamma():
    rng = np.random.default_rng(0)
    for n, n_good in [(1, 1), (10, 1), (11, 2), (57, 6), (300, 25)]:
        values = list(rng.random(n))
        good, bad = ex.split_good_bad(values)
        assert len(good) == n_good and len(bad) == n - n_good
        assert max(values[i] for i in good) <= min([values[i] for i in bad], default=np.inf)
        assert good == sorted(good) and bad == sorted(bad)


@pytest.mark.points(1)
@pytest.mark.hidden
def test_split_skips_failed_trials_and_breaks_ties_by_index():
    values = [2.0, None, float("nan"), 1.0, 1.0] + [3.0] * 9  # 12 finished -> 2 good
    good, bad = ex.split_good_bad(values)
    assert good == [3, 4]
    assert 1 not in good + bad and 2 not in good + bad and len(bad) == 10
    assert ex.split_good_bad([1.0] * 11)[0] == [0, 1]


# Optuna tests/samplers_tests/tpe_tests/test_parzen_estimator.py (domain [-1, 1], prior kernel excluded)
@pytest.mark.points(2)
def test_bandwidths_optuna_vectors():
    np.testing.assert_allclose(ex.bandwidths([0.4], -1.0, 1.0, magic_clip=False, endpoints=True), [1.4])
    np.testing.assert_allclose(ex.bandwidths([-0.3, 0.3], -1.0, 1.0, magic_clip=False, endpoints=True), [0.7, 0.7])
    np.testing.assert_allclose(ex.bandwidths([-0.3, 0.3], -1.0, 1.0, magic_clip=False, endpoints=False), [0.6, 0.6])


@pytest.mark.points(2)
def test_bandwidths_magic_clip_and_order():
    mus = [0.42, -0.4, 0.41, 0.4]  # unsorted on purpose
    no_clip = check.array(ex.bandwidths(mus, -1.0, 1.0, magic_clip=False, endpoints=True), shape=(4,),
                          what="the widths")
    np.testing.assert_allclose(no_clip, [0.58, 0.8, 0.01, 0.8])
    np.testing.assert_allclose(ex.bandwidths(mus, -1.0, 1.0, magic_clip=True, endpoints=True), [0.58, 0.8, 1 / 3, 0.8])


@pytest.mark.points(1)
@pytest.mark.hidden
def test_bandwidths_defaults_on_another_domain():
    mus = np.array([3.0, 5.0, 5.5, 9.0, 1.0])
    got = ex.bandwidths(mus, 0.0, 10.0)
    # sorted 1, 3, 5, 5.5, 9 -> [2, 2, 2, 3.5, 3.5]; endpoints off: first 2, last 3.5; min 10/7
    np.testing.assert_allclose(got, [2.0, 2.0, 3.5, 3.5, 2.0])
    assert ex.bandwidths([0.5], 0.0, 1.0)[0] == pytest.approx(0.5)


@pytest.mark.points(2)
def test_parzen_pdf_integrates_to_one():
    mus = [0.1, 0.15, 0.7]
    check.array(ex.parzen_pdf(np.array([0.2, 0.5]), mus, 0.0, 1.0), shape=(2,), what="the density")
    total, _ = quad(lambda x: float(ex.parzen_pdf(np.array([x]), mus, 0.0, 1.0)[0]), 0.0, 1.0, limit=200)
    assert total == pytest.approx(1.0, abs=1e-6)
    prior_only = ex.parzen_pdf(np.array([0.0, 0.5]), [], 0.0, 1.0)
    assert prior_only[1] > prior_only[0] > 0


@pytest.mark.points(1)
def test_parzen_pdf_mixes_in_the_prior_kernel_with_its_weight():
    # catches a mixture without the prior kernel, or a prior weight that is ignored or not normalised:
    # one observation at 0.5 on [0, 1] (width max(0.5, 0.5) = 0.5) and the prior N(0.5, 1), both truncated
    xs = np.array([0.05, 0.5, 0.95])
    observation = truncnorm.pdf(xs, (0 - 0.5) / 0.5, (1 - 0.5) / 0.5, loc=0.5, scale=0.5)
    prior = truncnorm.pdf(xs, -0.5, 0.5, loc=0.5, scale=1.0)
    for weight in (1.0, 3.0):
        got = check.array(ex.parzen_pdf(xs, [0.5], 0.0, 1.0, prior_weight=weight), shape=(3,))
        check.close(got, (observation + weight * prior) / (1 + weight), rtol=1e-9,
                    what=f"parzen_pdf with prior_weight={weight:g}")


@pytest.mark.points(2)
@pytest.mark.hidden
def test_parzen_pdf_matches_minilib():
    rng = np.random.default_rng(3)
    space = Space({"x": Float(0.0, 1.0)})
    for n in (1, 4, 20):  # fewer than 25: every observation weighs 1, as in parzen_pdf
        mus = rng.random(n)
        xs = np.linspace(0, 1, 17)
        reference = np.exp(ParzenEstimator(space, mus[:, None]).log_pdf(xs[:, None]))
        np.testing.assert_allclose(ex.parzen_pdf(xs, mus, 0.0, 1.0), reference, rtol=1e-9)


@pytest.mark.points(1)
@pytest.mark.hidden
def test_parzen_pdf_prior_weight_and_domain():
    mus = [2.0, 2.5]
    heavy = ex.parzen_pdf(np.array([9.0]), mus, 0.0, 10.0, prior_weight=10.0)
    light = ex.parzen_pdf(np.array([9.0]), mus, 0.0, 10.0, prior_weight=0.1)
    assert heavy[0] > light[0]
    total, _ = quad(lambda x: float(ex.parzen_pdf(np.array([x]), mus, 0.0, 10.0)[0]), 0.0, 10.0, limit=200)
    assert total == pytest.approx(1.0, abs=1e-6)


@pytest.mark.points(2)
def test_choose_candidate_prefers_good_regions():
    good, bad = [0.7, 0.72, 0.75], [0.1, 0.2, 0.3, 0.4, 0.5, 0.9, 0.95]
    candidates = np.array([0.15, 0.45, 0.73, 0.92])
    index, scores = check.sequence(ex.choose_candidate(candidates, good, bad, 0.0, 1.0), 2, "(index, scores)")
    check.array(scores, shape=(4,), what="the scores")
    assert check.integer(index, "the index") == 2


@pytest.mark.points(1)
@pytest.mark.hidden
def test_choose_candidate_scores_are_log_ratios():
    good, bad = [0.3], [0.6, 0.8, 0.1]
    candidates = np.linspace(0.05, 0.95, 7)
    index, scores = ex.choose_candidate(candidates, good, bad, 0.0, 1.0)
    space = Space({"x": Float(0.0, 1.0)})
    log_l = ParzenEstimator(space, np.array(good)[:, None]).log_pdf(candidates[:, None])
    log_g = ParzenEstimator(space, np.array(bad)[:, None]).log_pdf(candidates[:, None])
    np.testing.assert_allclose(scores, log_l - log_g, rtol=1e-9)
    assert index == int(np.argmax(log_l - log_g))
    assert math.isfinite(scores.sum())


# --- task 5: a whole TPE run (end to end) -------------------------------------------------------------

def _reference_tpe(objective, low, high, n_trials, n_startup, n_candidates, seed):
    """The same loop, written out (prior weight 1: every kernel weighs the same)."""
    rng = np.random.default_rng(seed)
    xs, values = [], []
    for trial in range(n_trials):
        if trial < n_startup:
            x = float(rng.uniform(low, high))
        else:
            finished = [i for i, v in enumerate(values) if not math.isnan(v)]
            n_good = min(math.ceil(0.1 * len(finished)), 25)
            ranked = sorted(finished, key=lambda i: (values[i], i))
            good, bad = sorted(ranked[:n_good]), sorted(ranked[n_good:])
            good_obs = np.array([xs[i] for i in good])
            centres = np.append(good_obs, 0.5 * (low + high))
            sigmas = np.append(_bandwidths(good_obs, low, high), high - low)
            candidates = []
            for _ in range(n_candidates):
                j = rng.choice(len(centres), p=np.ones(len(centres)) / len(centres))
                c = rng.normal(centres[j], sigmas[j])
                while not low <= c <= high:
                    c = rng.normal(centres[j], sigmas[j])
                candidates.append(float(c))
            cand = np.array(candidates)
            bad_obs = np.array([xs[i] for i in bad])
            score = np.log(_parzen(cand, good_obs, low, high)) - np.log(_parzen(cand, bad_obs, low, high))
            x = candidates[int(np.argmax(score))]
        xs.append(x)
        values.append(float(objective(x)))
    return xs, values


def _parzen(x, mus, low, high):
    centres = np.append(mus, 0.5 * (low + high))
    sigmas = np.append(_bandwidths(mus, low, high), high - low)
    mass = norm.cdf((high - centres) / sigmas) - norm.cdf((low - centres) / sigmas)
    return (norm.pdf((x[:, None] - centres) / sigmas) / (sigmas * mass)).mean(axis=1)


def _bandwidths(mus, low, high):
    order = np.argsort(mus)
    padded = np.concatenate([[low], mus[order], [high]])
    sig = np.maximum(padded[1:-1] - padded[:-2], padded[2:] - padded[1:-1])
    if len(mus) >= 2:
        sig[0], sig[-1] = padded[2] - padded[1], padded[-2] - padded[-3]
    out = np.empty_like(sig)
    out[order] = sig
    return np.clip(out, (high - low) / min(100.0, len(mus) + 2.0), high - low)


def _check_tpe(out, n_trials):
    best_x, xs, values = check.sequence(out, 3)
    xs = check.sequence(xs, n_trials, "xs", kinds=(list,))
    values = check.sequence(values, n_trials, "values", kinds=(list,))
    return (check.number(best_x, "best_x"), np.array([check.number(x, "xs[i]") for x in xs]),
            np.array([check.number(v, "values[i]") for v in values]))


@pytest.mark.points(1)
def test_tpe_minimize_finds_the_valley_of_a_parabola():
    best_x, xs, values = _check_tpe(ex.tpe_minimize(lambda x: (x - 0.3) ** 2, 0.0, 1.0, 30, seed=0), 30)
    check.close(values, (xs - 0.3) ** 2, rtol=1e-12, what="values against (xs - 0.3)^2")
    assert np.all((xs >= 0) & (xs <= 1)) and best_x == xs[int(np.argmin(values))]
    assert abs(best_x - 0.3) < 0.05                 # 20 TPE steps concentrate near the minimum
    assert np.median(np.abs(xs[10:] - 0.3)) < np.median(np.abs(xs[:10] - 0.3))
    # n_startup random draws come first, from np.random.default_rng(seed), one uniform per trial
    _, xs, _ = _check_tpe(ex.tpe_minimize(lambda x: abs(x), -2.0, 3.0, 9, n_startup=5, n_candidates=4, seed=7), 9)
    check.close(xs[:5], np.random.default_rng(7).uniform(-2.0, 3.0, 5), rtol=1e-12, what="the start-up trials")
    assert np.all((xs >= -2.0) & (xs <= 3.0))


@pytest.mark.points(2)
@pytest.mark.hidden
def test_tpe_minimize_replays_a_seeded_run_with_failures():
    # catches a loop that samples candidates uniformly, skips the prior kernel, uses the bad observations for l,
    # or counts failed trials as good or bad: the whole trajectory must match the specification
    rng = np.random.default_rng(5)
    a, b = rng.uniform(1, 3), rng.uniform(-2, 2)

    def objective(x):
        return math.nan if 3.0 < x < 3.3 else float(np.sin(a * x) + 0.1 * (x - b) ** 2)

    best_x, xs, values = _check_tpe(ex.tpe_minimize(objective, -4.0, 6.0, 40, n_startup=8, n_candidates=16,
                                                    seed=11), 40)
    ref_xs, ref_values = _reference_tpe(objective, -4.0, 6.0, 40, 8, 16, 11)
    check.close(xs, ref_xs, rtol=1e-9, what="xs")
    check.close(values, ref_values, rtol=1e-9, what="values")
    finite = [i for i, v in enumerate(ref_values) if not math.isnan(v)]
    assert best_x == ref_xs[min(finite, key=lambda i: (ref_values[i], i))]
