"""How good is an ensemble, and how different are its members? (chapters 08 and 09)

Everything here works on numpy arrays of predicted *probabilities* ``probs`` of shape
``(n, K)`` (n examples, K classes) and integer labels ``y`` of shape ``(n,)``; the
diversity measures take the predictions of several members stacked on a first axis.

* ``accuracy``, ``nll`` (negative log-likelihood, the cross-entropy of the probabilities),
  ``brier`` and ``entropy`` (the predictive entropy used for MC dropout in chapter 09).
* ``reliability_bins`` and ``expected_calibration_error``: Naeini, Cooper & Hauskrecht (AAAI 2015),
  as used by Guo, Pleiss, Sun & Weinberger, *On Calibration of Modern Neural Networks* (ICML 2017):
  M equal-width confidence bins ``(lower, upper]``,
  ``ECE = sum_m |B_m|/n * |acc(B_m) - conf(B_m)|``; empty bins are skipped.
* ``disagreement``: the fraction of examples on which two classifiers predict different
  labels (Kuncheva & Whitaker, Machine Learning 51, 2003), and its matrix over members.
* ``ambiguity_decomposition``: Krogh & Vedelsby (NIPS 1995). For a weighted average
  ``f_bar = sum_a w_a f_a`` and the squared error, for every input *exactly*
  ``(y - f_bar)^2 = sum_a w_a (y - f_a)^2 - sum_a w_a (f_a - f_bar)^2``,
  i.e. ensemble error = average member error - ambiguity. The ambiguity needs no labels.
"""

from __future__ import annotations

import numpy as np

EPS = 1e-12  # probabilities are clipped to [EPS, 1] before a logarithm


def _probs_labels(probs: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    probs, y = np.asarray(probs, dtype=float), np.asarray(y)
    if probs.ndim != 2 or y.shape != (probs.shape[0],):
        raise ValueError(f"need probs of shape (n, K) and labels of shape (n,), got {probs.shape} and {y.shape}")
    return probs, y.astype(int)


def accuracy(probs: np.ndarray, y: np.ndarray) -> float:
    """Fraction of examples whose most probable class is the label."""
    probs, y = _probs_labels(probs, y)
    return float(np.mean(probs.argmax(axis=1) == y))


def nll(probs: np.ndarray, y: np.ndarray) -> float:
    """Mean negative log-likelihood ``-1/n sum_i log p_i(y_i)`` (natural log)."""
    probs, y = _probs_labels(probs, y)
    return float(-np.mean(np.log(np.clip(probs[np.arange(len(y)), y], EPS, 1.0))))


def brier(probs: np.ndarray, y: np.ndarray) -> float:
    """Multi-class Brier score ``1/n sum_i sum_k (p_ik - 1[y_i = k])^2`` (not divided by K)."""
    probs, y = _probs_labels(probs, y)
    onehot = np.eye(probs.shape[1])[y]
    return float(np.mean(np.sum((probs - onehot) ** 2, axis=1)))


def entropy(probs: np.ndarray) -> np.ndarray:
    """Predictive entropy ``-sum_k p_k log p_k`` of each row, shape ``(n,)`` (in nats)."""
    probs = np.asarray(probs, dtype=float)
    return -np.sum(probs * np.log(np.clip(probs, EPS, 1.0)), axis=-1)


def reliability_bins(probs: np.ndarray, y: np.ndarray, n_bins: int = 15) -> dict[str, np.ndarray]:
    """Per confidence bin: the number of examples, their mean confidence and their accuracy.

    Confidence is ``max_k p_k``; the bins are ``(lower, upper]`` with edges
    ``linspace(0, 1, n_bins + 1)`` (a confidence of exactly 0 cannot occur with K >= 1 classes
    summing to 1). Empty bins get NaN confidence and accuracy.
    """
    probs, y = _probs_labels(probs, y)
    confidence, correct = probs.max(axis=1), probs.argmax(axis=1) == y
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    # bin m holds edges[m] < c <= edges[m + 1]
    which = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, n_bins - 1)
    count = np.bincount(which, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.bincount(which, weights=confidence, minlength=n_bins) / count
        mean_acc = np.bincount(which, weights=correct, minlength=n_bins) / count
    return {"edges": edges, "count": count, "confidence": mean_conf, "accuracy": mean_acc}


def expected_calibration_error(probs: np.ndarray, y: np.ndarray, n_bins: int = 15) -> float:
    """ECE = sum over non-empty bins of (fraction of examples in the bin) * |accuracy - confidence|."""
    bins = reliability_bins(probs, y, n_bins)
    full = bins["count"] > 0
    gaps = np.abs(bins["accuracy"][full] - bins["confidence"][full])
    return float(np.sum(bins["count"][full] / bins["count"].sum() * gaps))


def disagreement(labels_a: np.ndarray, labels_b: np.ndarray) -> float:
    """Fraction of examples on which two classifiers predict different labels."""
    labels_a, labels_b = np.asarray(labels_a), np.asarray(labels_b)
    if labels_a.shape != labels_b.shape:
        raise ValueError(f"label arrays differ in shape: {labels_a.shape} vs {labels_b.shape}")
    return float(np.mean(labels_a != labels_b))


def disagreement_matrix(member_probs: np.ndarray) -> np.ndarray:
    """Pairwise disagreement of the members' predicted labels; input ``(M, n, K)``, output ``(M, M)``."""
    labels = np.asarray(member_probs).argmax(axis=-1)            # (M, n)
    return np.mean(labels[:, None, :] != labels[None, :, :], axis=2)


def ambiguity_decomposition(member_preds: np.ndarray, y: np.ndarray,
                            weights: np.ndarray | None = None) -> dict[str, float]:
    """Krogh & Vedelsby's decomposition of the squared error of a weighted average.

    ``member_preds`` has shape ``(M, n)`` or ``(M, n, K)`` (e.g. probabilities, with ``y`` one-hot of
    shape ``(n, K)``; then the squared error sums over the K outputs). Returns the ensemble error
    ``E``, the weighted mean member error ``E_bar`` and the ambiguity ``A_bar``, each averaged over
    the n examples; ``E == E_bar - A_bar`` up to rounding.
    """
    f = np.asarray(member_preds, dtype=float)
    y = np.asarray(y, dtype=float)
    if f.shape[1:] != y.shape:
        raise ValueError(f"member predictions {f.shape} do not match targets {y.shape} (need (M, *y.shape))")
    w = np.full(len(f), 1.0 / len(f)) if weights is None else np.asarray(weights, dtype=float)
    if w.shape != (len(f),) or np.any(w < 0) or not np.isclose(w.sum(), 1.0):
        raise ValueError("weights must be M non-negative numbers summing to 1")
    f_bar = np.tensordot(w, f, axes=1)                       # (n,) or (n, K)

    def squared(a: np.ndarray) -> np.ndarray:                # squared error per example, shape (n,)
        return np.sum(a.reshape(len(a), -1) ** 2, axis=1)

    member_errors = np.array([squared(y - f_a).mean() for f_a in f])      # E_a
    ambiguities = np.array([squared(f_a - f_bar).mean() for f_a in f])    # A_a
    return {"ensemble_error": float(squared(y - f_bar).mean()), "mean_member_error": float(w @ member_errors),
            "ambiguity": float(w @ ambiguities)}
