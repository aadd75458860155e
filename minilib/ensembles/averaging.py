"""Averaging: the predictions of several models, or the weights of one model along its run (chapter 08).

Two different things are averaged in this chapter, and the difference matters.

1. **Predictions of independently trained models** (a deep ensemble). Each member ``m`` gives
   logits ``z_m(x)``; the ensemble predicts

       p(y | x) = 1/M sum_m softmax(z_m(x))            (``combine="probabilities"``, the usual rule)
       p(y | x) = softmax(1/M sum_m z_m(x))            (``combine="logits"``)

   Averaging probabilities is a mixture of the members; averaging logits is their normalised
   geometric mean (chapter 09 meets it again as dropout's weight-scaling rule). Lakshminarayanan,
   Pritzel & Blundell, *Simple and Scalable Predictive Uncertainty Estimation using Deep
   Ensembles* (NeurIPS 2017), average probabilities.

2. **Weights of one model along one training run**, which gives one network, not M:

   * Polyak averaging (Polyak & Juditsky, SIAM J. Control Optim. 30(4), 1992): the equal-weight
     mean of the iterates, ``w_bar_n = 1/n sum_i w_i``, kept as a running mean
     ``w_bar <- w_bar + (w - w_bar) / (n + 1)``;
   * SWA, stochastic weight averaging (Izmailov, Podoprikhin, Garipov, Vetrov & Wilson, UAI 2018):
     the same running mean, started late in training and fed by SGD with a constant or cyclic
     learning rate (``swa_lr`` gives the schedule of ``torch.optim.swa_utils.SWALR``);
   * EMA, an exponential moving average ``w_bar <- decay * w_bar + (1 - decay) * w``, initialised
     by a copy of the first weights (no bias correction), as ``get_ema_multi_avg_fn``.

   BatchNorm layers keep running statistics of their inputs. They are *buffers*, not weights:
   ``AveragedWeights`` copies them from the latest model (``AveragedModel(use_buffers=False)``),
   and they do not match the averaged weights. ``update_bn`` recomputes them with one pass over
   the training data; forgetting it is the classic SWA bug.

The tests check ``AveragedWeights`` against ``torch.optim.swa_utils.AveragedModel`` (SWA and the
EMA multi-avg function), ``update_bn`` against ``swa_utils.update_bn`` and ``swa_lr`` against
``SWALR``.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

# --- 1. averaging the predictions of several models -----------------------------------

@torch.no_grad()
def predict_logits(model: nn.Module, X: Any, batch_size: int = 1024, device: torch.device | None = None) -> np.ndarray:
    """Logits of ``model`` (in eval mode) for the rows of ``X``, as a numpy array ``(n, K)``."""
    device = device or next(model.parameters()).device
    X = torch.as_tensor(np.asarray(X, dtype=np.float32) if not isinstance(X, torch.Tensor) else X)
    was_training = model.training
    model.eval()
    out = [model(X[i:i + batch_size].to(device)).float().cpu() for i in range(0, len(X), batch_size)]
    model.train(was_training)
    return torch.cat(out).numpy()


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax, computed stably (the maximum is subtracted first)."""
    z = np.asarray(logits, dtype=np.float64)
    z = np.exp(z - z.max(axis=-1, keepdims=True))
    return z / z.sum(axis=-1, keepdims=True)


def combine_logits(member_logits: np.ndarray | Sequence[np.ndarray], combine: str = "probabilities") -> np.ndarray:
    """Ensemble probabilities ``(n, K)`` from the members' logits ``(M, n, K)``.

    ``"probabilities"``: the mean of the members' softmax outputs (a mixture).
    ``"logits"``: the softmax of the mean logit (a normalised geometric mean of the members).
    """
    z = np.asarray(member_logits, dtype=np.float64)
    if z.ndim != 3:
        raise ValueError(f"need member logits of shape (M, n, K), got {z.shape}")
    if combine == "probabilities":
        return softmax(z).mean(axis=0)
    if combine == "logits":
        return softmax(z.mean(axis=0))
    raise ValueError(f"combine must be 'probabilities' or 'logits', got {combine!r}")


def ensemble_predict(models: Sequence[nn.Module], X: Any, combine: str = "probabilities") -> np.ndarray:
    """Predicted probabilities ``(n, K)`` of the ensemble of ``models`` (see ``combine_logits``)."""
    return combine_logits([predict_logits(m, X) for m in models], combine)


# --- 2. averaging the weights of one model along its run ------------------------------

class AveragedWeights:
    """A running average of a model's weights: Polyak/SWA (``decay=None``) or EMA (``decay`` in [0, 1]).

    ``self.model`` is a deep copy of the model that holds the average. Call ``update(model)``
    whenever the live model should enter the average (after every step, or every epoch for SWA).
    The first call copies the weights; afterwards

        equal weights (Polyak, SWA):  w_bar <- w_bar + (w - w_bar) / (n + 1)    (n = updates so far)
        EMA:                          w_bar <- w_bar + (1 - decay) * (w - w_bar)

    Buffers (BatchNorm's running statistics) are copied from ``model`` at every update, not
    averaged; call ``update_bn`` on ``self.model`` before using it.
    """

    def __init__(self, model: nn.Module, decay: float | None = None):
        if decay is not None and not 0.0 <= decay <= 1.0:
            raise ValueError(f"decay must be in [0, 1] (or None for equal weights), got {decay}")
        self.model = copy.deepcopy(model)
        self.decay = decay
        self.n_averaged = 0

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        for avg, new in zip(self.model.parameters(), model.parameters()):
            new = new.detach().to(avg.device)
            if self.n_averaged == 0:
                avg.copy_(new)                                        # 1) the first update copies
            elif self.decay is None:
                avg.add_((new - avg) / (self.n_averaged + 1))          # 2) running mean of the iterates
            else:
                avg.lerp_(new, 1.0 - self.decay)                       # 2') exponential moving average
        for avg_buf, buf in zip(self.model.buffers(), model.buffers()):
            avg_buf.copy_(buf.detach().to(avg_buf.device))             # 3) buffers: copied, not averaged
        self.n_averaged += 1


@torch.no_grad()
def update_bn(model: nn.Module, X: Any, batch_size: int = 128, device: torch.device | None = None) -> None:
    """Recompute the running mean and variance of every BatchNorm layer of ``model`` from ``X``.

    1) reset the running statistics; 2) set ``momentum=None``, which makes BatchNorm keep a
    *cumulative* average (each mini-batch counts equally) instead of an exponential one;
    3) one pass over ``X`` in train mode, in order; 4) restore the momenta and the train/eval flag.
    Models without BatchNorm are left unchanged.
    """
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None
    device = device or next(model.parameters()).device
    X = torch.as_tensor(np.asarray(X, dtype=np.float32) if not isinstance(X, torch.Tensor) else X)
    was_training = model.training
    model.train()
    for start in range(0, len(X), batch_size):
        model(X[start:start + batch_size].to(device))
    for m, momentum in zip(norms, momenta):
        m.momentum = momentum
    model.train(was_training)


def swa_lr(step: int, lr_start: float, swa_lr: float, anneal_steps: int = 10, strategy: str = "cos") -> float:
    """The learning rate ``step`` scheduler steps after the SWA phase began (``torch``'s ``SWALR``).

    It moves from ``lr_start`` to ``swa_lr`` over ``anneal_steps`` steps and then stays there:
    ``lr = swa_lr * a(t) + lr_start * (1 - a(t))`` with ``t = min(1, step / anneal_steps)`` and
    ``a(t) = (1 - cos(pi t)) / 2`` (``"cos"``) or ``a(t) = t`` (``"linear"``).
    """
    if step < 0 or anneal_steps < 0:
        raise ValueError(f"need step >= 0 and anneal_steps >= 0, got {step}, {anneal_steps}")
    t = min(1.0, step / anneal_steps) if anneal_steps > 0 else 1.0
    if strategy == "cos":
        a = (1 - math.cos(math.pi * t)) / 2
    elif strategy == "linear":
        a = t
    else:
        raise ValueError(f"strategy must be 'cos' or 'linear', got {strategy!r}")
    return swa_lr * a + lr_start * (1 - a)
