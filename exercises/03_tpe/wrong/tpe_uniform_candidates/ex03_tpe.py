"""PLAUSIBLE WRONG SUBMISSION 'tpe_uniform_candidates' (selfcheck requires it to lose points).

Mistake: the TPE loop draws its candidates uniformly instead of from l(x).

Exercise 03: the pieces of the tree-structured Parzen estimator (chapter 03).

Implement the good/bad split, Optuna's bandwidth rule, the density of a truncated
Parzen estimator and the choice of the next point by l(x) / g(x). Use numpy and scipy
only; do not import ``minilib.hpo.tpe``.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.stats import norm


def split_good_bad(values) -> tuple[list[int], list[int]]:
    """Split trial indices into good and bad, as Optuna's TPE does.

    ``values`` holds one objective value per trial (smaller is better); ``None`` or NaN
    marks a failed trial, which is in neither group. Of the n finished trials, the
    ``min(ceil(0.1 n), 25)`` smallest are good; ties go to the smaller index. Return
    ``(good, bad)``, each a list of indices in increasing order.
    """
    ### BEGIN SOLUTION
    finished = [i for i, v in enumerate(values) if v is not None and not math.isnan(v)]
    n_good = min(math.ceil(0.1 * len(finished)), 25)
    ranked = sorted(finished, key=lambda i: (values[i], i))
    return sorted(ranked[:n_good]), sorted(ranked[n_good:])
    ### END SOLUTION


def bandwidths(mus, low: float, high: float, magic_clip: bool = True, endpoints: bool = False) -> np.ndarray:
    """Optuna's kernel widths for observations ``mus`` in [low, high] (the prior kernel excluded).

    1. Sort the observations and put ``low`` and ``high`` at the two ends of the list.
    2. sigma_i = max(gap to the left neighbour, gap to the right neighbour).
    3. Unless ``endpoints``, and if there are at least 2 observations, the smallest observation
       uses the gap to its right neighbour and the largest the gap to its left neighbour.
    4. Clip to [min_sigma, high - low], min_sigma = (high - low) / min(100, n + 2) with the
       magic clip (n observations plus the prior kernel plus one), else 1e-12.

    Return the widths in the order of ``mus`` (not sorted).
    """
    ### BEGIN SOLUTION
    mus = np.asarray(mus, dtype=float)
    order = np.argsort(mus)
    padded = np.concatenate([[low], mus[order], [high]])
    sigmas = np.maximum(padded[1:-1] - padded[:-2], padded[2:] - padded[1:-1])
    if not endpoints and len(mus) >= 2:
        sigmas[0] = padded[2] - padded[1]
        sigmas[-1] = padded[-2] - padded[-3]
    out = np.empty_like(sigmas)
    out[order] = sigmas
    min_sigma = (high - low) / min(100.0, len(mus) + 2.0) if magic_clip else 1e-12
    return np.clip(out, min_sigma, high - low)
    ### END SOLUTION


def parzen_pdf(x, mus, low: float, high: float, prior_weight: float = 1.0) -> np.ndarray:
    """Density at ``x`` of the 1-D Parzen estimator of ``mus`` on [low, high].

    One normal kernel per observation, centred on it with Optuna's ``bandwidths`` (magic
    clip on, endpoints off), plus a prior kernel centred at (low + high) / 2 with sigma =
    high - low. Every kernel is truncated to [low, high] (divide by its mass there).
    Observation kernels weigh 1 each, the prior ``prior_weight``; normalise the weights.
    With no observations, the estimator is the prior kernel alone. Return an array with
    the shape of ``x``.
    """
    ### BEGIN SOLUTION
    x = np.asarray(x, dtype=float)
    mus = np.asarray(mus, dtype=float)
    centres = np.append(mus, 0.5 * (low + high))
    sigmas = np.append(bandwidths(mus, low, high), high - low)
    weights = np.append(np.ones(len(mus)), prior_weight if len(mus) else 1.0)
    weights = weights / weights.sum()
    mass = norm.cdf((high - centres) / sigmas) - norm.cdf((low - centres) / sigmas)
    dens = norm.pdf((x[..., None] - centres) / sigmas) / (sigmas * mass)
    return (dens * weights).sum(axis=-1)
    ### END SOLUTION


def choose_candidate(candidates, good_obs, bad_obs, low: float, high: float) -> tuple[int, np.ndarray]:
    """TPE's choice: the candidate with the largest log l(x) - log g(x).

    l is the ``parzen_pdf`` of the good observations, g that of the bad ones. Return
    ``(index, scores)``: the index of the best candidate (the first one among ties) and
    the array of log-ratio scores of all candidates.
    """
    ### BEGIN SOLUTION
    candidates = np.asarray(candidates, dtype=float)
    scores = np.log(parzen_pdf(candidates, good_obs, low, high)) - np.log(parzen_pdf(candidates, bad_obs, low, high))
    return int(np.argmax(scores)), scores
    ### END SOLUTION


def tpe_minimize(objective, low: float, high: float, n_trials: int, n_startup: int = 10, n_candidates: int = 24,
                 seed: int = 0) -> tuple[float, list[float], list[float]]:
    """Minimise ``objective(x)`` on [low, high] with TPE (Bergstra et al. 2011), built from your functions.

    With ``rng = np.random.default_rng(seed)``:

    1. The first ``n_startup`` trials draw ``x = rng.uniform(low, high)``.
    2. Every later trial splits the values so far with ``split_good_bad``, draws ``n_candidates``
       candidates from l(x), the Parzen estimator of the good observations (``parzen_pdf``'s mixture,
       prior weight 1): for each candidate pick a kernel ``j = rng.choice(k, p=weights)`` among the
       k = n_good + 1 kernels (the observations in the order of ``good``, then the prior), then draw
       ``x = rng.normal(centre_j, sigma_j)`` again and again until ``low <= x <= high``; and evaluates
       the candidate ``choose_candidate`` picks (against the bad observations).

    ``objective`` may return NaN for a failed trial (it is then neither good nor bad). Return
    ``(best_x, xs, values)``: the x of the smallest value, and every x and value in trial order.
    """
    ### BEGIN SOLUTION
    rng = np.random.default_rng(seed)
    xs: list[float] = []
    values: list[float] = []
    for trial in range(n_trials):
        if trial < n_startup:
            x = float(rng.uniform(low, high))
        else:
            good, bad = split_good_bad(values)
            good_obs = np.array([xs[i] for i in good])
            centres = np.append(good_obs, 0.5 * (low + high))
            sigmas = np.append(bandwidths(good_obs, low, high), high - low)
            weights = np.ones(len(centres)) / len(centres)
            candidates = [float(c) for c in rng.uniform(low, high, n_candidates)]
            del weights, sigmas
            index, _ = choose_candidate(np.array(candidates), good_obs, [xs[i] for i in bad], low, high)
            x = candidates[index]
        xs.append(x)
        values.append(float(objective(x)))
    finished = [i for i, v in enumerate(values) if not math.isnan(v)]
    best = min(finished, key=lambda i: (values[i], i)) if finished else 0
    return xs[best], xs, values
    ### END SOLUTION
