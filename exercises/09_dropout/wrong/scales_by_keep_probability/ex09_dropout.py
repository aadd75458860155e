"""PLAUSIBLE WRONG SUBMISSION 'scales_by_keep_probability' (selfcheck requires it to lose points).

Mistake: scales the kept units by (1 - p), the paper's test-time rule, instead of 1 / (1 - p).

Exercise 09: dropout from scratch, the probability of a mask, and MC dropout.

Chapter 09 ("Dropout as an ensemble") explains every formula used here. Do not import
``minilib.ensembles.dropout``: you are writing it. ``p`` is always the probability to *drop* a unit
(PyTorch's convention; the paper's p is the probability to keep).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


def inverted_dropout(x: np.ndarray, p: float, mask: np.ndarray) -> np.ndarray:
    """Inverted dropout at training time with a given keep ``mask`` (1 = keep, 0 = drop, shape of ``x``):
    ``x * mask / (1 - p)``. Raise ``ValueError`` unless ``0 <= p < 1``."""
    ### BEGIN SOLUTION
    if not 0.0 <= p < 1.0:
        raise ValueError(f"p must be in [0, 1), got {p}")
    return np.asarray(x, dtype=float) * np.asarray(mask, dtype=float) * (1.0 - p)
    ### END SOLUTION


def mask_probability(mask: np.ndarray, p: float) -> float:
    """The probability that dropout with drop probability ``p`` draws exactly this keep ``mask``:
    ``(1 - p) ** kept * p ** dropped``."""
    ### BEGIN SOLUTION
    mask = np.asarray(mask)
    kept = int(np.sum(mask != 0))
    return float((1.0 - p) ** kept * p ** (mask.size - kept))
    ### END SOLUTION


def predictive_entropy(probs: np.ndarray) -> np.ndarray:
    """``-sum_k p_k log p_k`` for every row of ``probs`` ``(n, K)`` (natural log; ``0 log 0 = 0``), shape ``(n,)``."""
    ### BEGIN SOLUTION
    probs = np.asarray(probs, dtype=float)
    logs = np.log(np.where(probs > 0, probs, 1.0))
    return -np.sum(probs * logs, axis=1)
    ### END SOLUTION


def mc_dropout_predict(model: nn.Module, X: torch.Tensor, n_samples: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """MC dropout for a classifier: the mean and the variance (over the passes, ``1/T``) of the softmax
    outputs of ``n_samples`` forward passes on the whole of ``X``, each ``(n, K)``, as numpy arrays.

    Put the model in eval mode and only its ``nn.Dropout`` layers in train mode (BatchNorm must keep
    its running statistics); call ``torch.manual_seed(seed)`` once, right before the first pass;
    run the passes under ``torch.no_grad()``; afterwards give every module back its train/eval flag.
    """
    ### BEGIN SOLUTION
    flags = {m: m.training for m in model.modules()}
    model.eval()
    for m in model.modules():
        if isinstance(m, nn.Dropout):
            m.train()
    torch.manual_seed(seed)
    with torch.no_grad():
        samples = torch.stack([torch.softmax(model(X), dim=-1) for _ in range(n_samples)]).double().numpy()
    for m, flag in flags.items():
        m.training = flag
    return samples.mean(axis=0), samples.var(axis=0)
    ### END SOLUTION


def all_mask_averages(hidden: np.ndarray, W: np.ndarray, b: np.ndarray, p: float) -> tuple[np.ndarray, np.ndarray]:
    """Dropout as an ensemble, end to end, for the last layer of a classifier.

    ``hidden`` ``(n, H)`` enters a dropout layer with drop probability ``p``, followed by the linear layer
    ``logits = thinned @ W.T + b`` (``W`` ``(K, H)``, ``b`` ``(K,)``) and a softmax, with inverted scaling
    ``thinned = mask * hidden / (1 - p)``. Enumerate all ``2^H`` keep masks, weight each sub-network by
    ``mask_probability``, and return ``(arithmetic, geometric)``: the weighted arithmetic mean of the
    sub-networks' softmax outputs and their normalised weighted geometric mean, each ``(n, K)``.
    """
    ### BEGIN SOLUTION
    hidden, W, b = (np.asarray(a, dtype=float) for a in (hidden, W, b))
    H = hidden.shape[1]
    masks = ((np.arange(2 ** H)[:, None] >> np.arange(H)) & 1).astype(float)       # (2^H, H)
    weights = np.array([mask_probability(m, p) for m in masks])
    logits = (masks[:, None, :] * hidden[None] / (1 - p)) @ W.T + b                 # (2^H, n, K)
    logp = logits - logits.max(-1, keepdims=True)
    logp = logp - np.log(np.exp(logp).sum(-1, keepdims=True))
    arithmetic = np.tensordot(weights, np.exp(logp), axes=1)
    g = np.tensordot(weights, logp, axes=1)
    g = np.exp(g - g.max(-1, keepdims=True))
    return arithmetic, g / g.sum(-1, keepdims=True)
    ### END SOLUTION
