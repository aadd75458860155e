"""Dropout from scratch, MC dropout, and dropout as an ensemble of sub-networks (chapter 09).

Srivastava, Hinton, Krizhevsky, Sutskever & Salakhutdinov, *Dropout: A Simple Way to Prevent
Neural Networks from Overfitting* (JMLR 15, 2014). During training every unit is kept with
probability ``1 - p`` and zeroed otherwise, a fresh mask ``m ~ Bernoulli(1 - p)`` per example
and step. (PyTorch's ``p`` is the probability to *drop*; the paper's ``p`` is the probability
to *retain*.) A network with ``n`` droppable units is thus a family of ``2^n`` thinned
sub-networks that share their weights, and training samples one of them per example.

At test time we want the average of all of them. Two ways to get a single network:

* the paper's version: train with ``y = m * x``, and at test time scale by the keep
  probability, ``y = (1 - p) * x`` (the *weight-scaling rule*: every outgoing weight times 1 - p);
* *inverted* dropout (PyTorch, Keras): train with ``y = m * x / (1 - p)`` and use ``y = x`` at
  test time. In both, the expected training-time output equals the test-time output; the
  inverted one leaves the test-time network untouched, so the same model runs with and without
  dropout.

Weight scaling is exact for one linear layer followed by a softmax: the softmax of the mean
logit over all masks *is* the normalised geometric mean of the sub-networks' predictions
(``geometric_mean``; Baldi & Sadowski, NIPS 2013). With more layers it is an approximation.

**MC dropout** (Gal & Ghahramani, *Dropout as a Bayesian Approximation*, ICML 2016) keeps
dropout on at prediction time and averages ``T`` stochastic passes:
``E[y] ~ 1/T sum_t f(x; m_t)``, and their spread is a measure of the model's uncertainty.
Only the dropout layers are switched to train mode (``mc_dropout_mode``); BatchNorm stays in
eval mode.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch
from torch import nn

# --- 1. dropout from scratch --------------------------------------------------------------


def keep_mask(shape: tuple[int, ...], p: float, generator: torch.Generator | None = None,
              device: torch.device | str | None = None) -> torch.Tensor:
    """A float tensor of 0s and 1s: each entry is 1 (keep) with probability ``1 - p``."""
    if not 0.0 <= p < 1.0:
        raise ValueError(f"the drop probability p must be in [0, 1), got {p}")
    return (torch.rand(shape, generator=generator, device=device) >= p).float()


def dropout(x: torch.Tensor, p: float, training: bool, inverted: bool = True, mask: torch.Tensor | None = None,
            generator: torch.Generator | None = None) -> torch.Tensor:
    """Dropout with drop probability ``p``; ``mask`` (0/1, shape of ``x``) is drawn if not given.

    ==========  =====================  ===================
    version     training               test
    ==========  =====================  ===================
    paper       ``x * mask``           ``x * (1 - p)``
    inverted    ``x * mask / (1 - p)`` ``x``
    ==========  =====================  ===================
    """
    if not 0.0 <= p < 1.0:
        raise ValueError(f"the drop probability p must be in [0, 1), got {p}")
    if not training:
        return x if inverted else x * (1.0 - p)
    if mask is None:
        mask = keep_mask(tuple(x.shape), p, generator=generator, device=x.device if generator is None else None)
        mask = mask.to(x.device)
    return x * mask / (1.0 - p) if inverted else x * mask


class Dropout(nn.Module):
    """``dropout`` as a layer: on in train mode, off (or scaled, ``inverted=False``) in eval mode.

    With ``inverted=True`` it is equal in distribution to ``torch.nn.Dropout(p)``.
    """

    def __init__(self, p: float = 0.5, inverted: bool = True, generator: torch.Generator | None = None):
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"the drop probability p must be in [0, 1), got {p}")
        self.p, self.inverted, self.generator = p, inverted, generator

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return dropout(x, self.p, self.training, self.inverted, generator=self.generator)

    def extra_repr(self) -> str:
        return f"p={self.p}, inverted={self.inverted}"


# --- 2. MC dropout -----------------------------------------------------------------------

DROPOUT_TYPES = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout, Dropout)


@contextmanager
def mc_dropout_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Inside the block: ``model`` in eval mode except its dropout layers; afterwards every
    module's train/eval flag is restored."""
    flags = {m: m.training for m in model.modules()}
    model.eval()
    for m in model.modules():
        if isinstance(m, DROPOUT_TYPES):
            m.train()
    try:
        yield model
    finally:
        for m, flag in flags.items():
            m.training = flag


@torch.no_grad()
def mc_dropout_predict(model: nn.Module, X: Any, n_samples: int = 100, seed: int = 0,
                       task: str = "classification", return_samples: bool = False) -> dict[str, np.ndarray]:
    """MC dropout: ``n_samples`` stochastic forward passes with only dropout switched on.

    Classification: the samples are softmax probabilities ``(T, n, K)``; regression: outputs
    ``(T, n)`` (or ``(T, n, d)``). Returns ``{"mean": ..., "variance": ...}`` over the T passes
    (variance with ``1/T``, per output), plus ``"samples"`` if asked. The passes use PyTorch's
    global generator seeded with ``seed`` inside a ``fork_rng`` block, so the caller's random
    stream is not changed and the result depends on ``seed`` only.
    """
    if n_samples < 1:
        raise ValueError(f"n_samples must be >= 1, got {n_samples}")
    device = next(model.parameters()).device
    X = torch.as_tensor(np.asarray(X, dtype=np.float32) if not isinstance(X, torch.Tensor) else X).to(device)
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices), mc_dropout_mode(model):
        torch.manual_seed(seed)
        outs = []
        for _ in range(n_samples):
            out = model(X)
            outs.append(torch.softmax(out, dim=-1) if task == "classification" else out.squeeze(-1))
    samples = torch.stack(outs).double().cpu().numpy()          # (T, n, K) or (T, n)
    result = {"mean": samples.mean(axis=0), "variance": samples.var(axis=0)}
    if return_samples:
        result["samples"] = samples
    return result


# --- 3. dropout as an ensemble: every mask of one layer ------------------------------------

def all_masks(n_units: int) -> torch.Tensor:
    """All ``2^n`` keep masks of ``n`` units, shape ``(2^n, n)``, as floats (row i = bits of i)."""
    if not 1 <= n_units <= 20:
        raise ValueError(f"enumerating 2^n masks needs 1 <= n <= 20, got {n_units}")
    return torch.tensor(list(itertools.product([0.0, 1.0], repeat=n_units)))


def mask_probabilities(masks: torch.Tensor, p: float) -> torch.Tensor:
    """Probability of each mask under dropout with drop probability ``p``: ``(1-p)^kept * p^dropped``."""
    kept = masks.sum(dim=1)
    return (1.0 - p) ** kept * p ** (masks.shape[1] - kept)


def subnetwork_logits(hidden: torch.Tensor, head: nn.Linear, masks: torch.Tensor, p: float) -> torch.Tensor:
    """Logits of every thinned network: ``head(mask * hidden / (1 - p))`` for each mask.

    ``hidden`` holds the activations that enter the dropout layer, shape ``(n, H)``; ``head`` the
    linear layer after it; ``masks`` shape ``(S, H)``. Output shape ``(S, n, K)``.
    """
    with torch.no_grad():
        thinned = masks[:, None, :] * hidden[None, :, :] / (1.0 - p)   # (S, n, H)
        return head(thinned)


def arithmetic_mean(probs: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """``sum_s w_s p_s``: the mixture of the sub-networks (what MC dropout estimates). ``probs`` ``(S, n, K)``."""
    return torch.einsum("s,snk->nk", weights, probs)


def geometric_mean(probs: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """The normalised weighted geometric mean ``prod_s p_s^{w_s} / Z`` of the sub-networks' predictions."""
    log_g = torch.einsum("s,snk->nk", weights, torch.log(probs.clamp_min(1e-30)))
    return torch.softmax(log_g, dim=-1)
