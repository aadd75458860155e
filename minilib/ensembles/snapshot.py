"""Snapshot ensembles: M models for the price of one training run (chapter 08).

Huang, Li, Pleiss, Liu, Hopcroft & Weinberger, *Snapshot Ensembles: Train 1, Get M for Free*
(ICLR 2017). Train one network with a cyclic cosine learning rate, restarted M times; at the
end of each cycle the learning rate is near zero and the network sits in a local minimum:
save it (a *snapshot*). The restart to a large learning rate throws the weights out of that
minimum towards another one, so the snapshots differ, and averaging their predicted
probabilities is an ensemble whose training cost was a single run.

The schedule, per iteration (mini-batch step) ``t = 1 .. T`` (Eq. 2 of the paper):

    alpha(t) = alpha_0 / 2 * (cos(pi * mod(t - 1, ceil(T / M)) / ceil(T / M)) + 1)

It equals PyTorch's ``CosineAnnealingWarmRestarts(T_0=ceil(T / M), T_mult=1, eta_min=0)``
stepped after every mini-batch (the tests check this). Snapshots are taken after the last
step of each cycle, ``t = ceil(T / M), 2 ceil(T / M), ...`` (and ``t = T``), and the ensemble
of the last ``m <= M`` snapshots predicts the mean of their softmax outputs
(``averaging.ensemble_predict``).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from typing import Any

import torch
from torch import nn


def cycle_length(total_steps: int, n_cycles: int) -> int:
    """``ceil(T / M)``: the number of steps of one cycle."""
    if total_steps < 1 or n_cycles < 1:
        raise ValueError(f"need total_steps >= 1 and n_cycles >= 1, got {total_steps}, {n_cycles}")
    return -(-total_steps // n_cycles)


def cyclic_cosine_lr(t: int, total_steps: int, n_cycles: int, lr0: float) -> float:
    """The learning rate of step ``t`` (1-indexed) of the schedule above (Huang et al. 2017, Eq. 2)."""
    if not 1 <= t <= total_steps:
        raise ValueError(f"t must be in 1..{total_steps}, got {t}")
    c = cycle_length(total_steps, n_cycles)
    return lr0 / 2 * (math.cos(math.pi * ((t - 1) % c) / c) + 1)


def snapshot_steps(total_steps: int, n_cycles: int) -> list[int]:
    """The steps after which a snapshot is taken: the last step of every cycle."""
    c = cycle_length(total_steps, n_cycles)
    return sorted(set(range(c, total_steps + 1, c)) | {total_steps})


def cyclic_cosine_scheduler(total_steps: int, n_cycles: int) -> Callable[[torch.optim.Optimizer], Any]:
    """A scheduler factory for ``minilib.train.fit(..., scheduler=...)`` (stepped after every batch).

    The optimizer's learning rate is ``lr0``; the scheduler multiplies it by the factor of the
    cyclic cosine schedule, so the ``t``-th step uses ``cyclic_cosine_lr(t, T, M, lr0)``.
    (``LambdaLR`` calls the factor with the number of steps already taken, ``t - 1``.)
    """
    c = cycle_length(total_steps, n_cycles)

    def factor(done: int) -> float:
        return 0.5 * (math.cos(math.pi * (done % c) / c) + 1)

    return lambda optimizer: torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


class SnapshotCollector:
    """An ``on_step(step, loss)`` callback for ``fit`` that keeps a copy of the model at given steps.

    >>> collector = SnapshotCollector(model, snapshot_steps(T, M))
    >>> fit(model, X, y, ..., scheduler=cyclic_cosine_scheduler(T, M), on_step=collector)
    >>> collector.snapshots        # M copies of the model, oldest first
    """

    def __init__(self, model: nn.Module, steps: list[int]):
        self.model, self.steps = model, set(steps)
        self.snapshots: list[nn.Module] = []
        self.taken_at: list[int] = []

    def __call__(self, step: int, loss: float) -> None:
        if step in self.steps:
            self.snapshots.append(copy.deepcopy(self.model).eval())
            self.taken_at.append(step)

    def last(self, m: int) -> list[nn.Module]:
        """The last ``m`` snapshots: the ensemble the paper evaluates."""
        if not 1 <= m <= len(self.snapshots):
            raise ValueError(f"m must be in 1..{len(self.snapshots)}, got {m}")
        return self.snapshots[-m:]
