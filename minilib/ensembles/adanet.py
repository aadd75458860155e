"""AdaNet: grow an ensemble one subnetwork at a time, paying for complexity.

Cortes, Gonzalvo, Kuznetsov, Mohri & Yang, *AdaNet: Adaptive Structural Learning of
Artificial Neural Networks* (ICML 2017); the TensorFlow library announced by Google in 2018
(``tensorflow/adanet``, which needs the removed ``tf.estimator``). The ensemble is
``f(x) = sum_j w_j h_j(x)`` (one scalar mixture weight per subnetwork, on its logits), and
the mixture weights minimise the complexity-regularised objective (Eq. 4 of the paper)::

    F(w) = (1/m) sum_i Phi(sum_j w_j h_j(x_i), y_i) + sum_j (lambda r(h_j) + beta) |w_j|

with ``Phi`` the cross-entropy (classification) or squared error (regression) and
``r(h) = sqrt(depth)`` the complexity of a subnetwork (the library's ``simple_dnn`` example:
"approximate the Rademacher complexity ... as the square-root of its depth").

One AdaNet iteration ``t``:

1. the generator proposes candidates: a subnetwork as deep as the last one chosen, and one
   layer deeper (``SimpleDNN``, the tutorial's generator); any ``nn.Module`` factory works;
2. each candidate is trained on its own loss; the subnetworks chosen before stay frozen;
3. for each candidate, the mixture weights of (chosen so far + candidate) are fitted by
   proximal gradient descent on ``F``: a gradient step on the loss, then the soft threshold
   of the L1 term, which sets small weights to exactly zero;
4. the candidate whose ensemble has the lowest ``F`` on the training data joins, if it lowers
   ``F``; otherwise (or after ``T`` iterations) the search stops.

Since the subnetworks are frozen and the logits are linear in ``w``, step 3 is a convex
problem: its solution does not depend on the starting point.

Chapter 10 ("AdaNet") walks through this module.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn

from minilib.models import count_parameters, make_mlp
from minilib.train import fit, get_device

# --- the pieces of the objective -------------------------------------------------------

def complexity(depth: int) -> float:
    """``r(h) = sqrt(depth)``: the tutorial's stand-in for the Rademacher complexity."""
    return math.sqrt(depth)


def soft_threshold(v: torch.Tensor, threshold: torch.Tensor | float) -> torch.Tensor:
    """The proximal operator of ``threshold * |w|``: ``sign(v) * max(|v| - threshold, 0)``.

    It solves ``argmin_w 1/2 (w - v)^2 + threshold |w|`` in closed form, elementwise: values
    within ``threshold`` of zero become exactly zero, the others move ``threshold`` towards it.
    """
    return torch.sign(v) * torch.clamp(v.abs() - threshold, min=0.0)


def mixture_loss(w: torch.Tensor, outputs: torch.Tensor, y: torch.Tensor, task: str) -> torch.Tensor:
    """``(1/m) sum_i Phi(sum_j w_j h_j(x_i), y_i)`` for outputs of shape (N subnetworks, m, K)."""
    f = torch.einsum("j,jmk->mk", w, outputs)                 # (m, K): the ensemble's logits
    if task == "classification":
        return nn.functional.cross_entropy(f, y)
    return nn.functional.mse_loss(f.reshape(y.shape), y)


def adanet_objective(w: torch.Tensor, outputs: torch.Tensor, y: torch.Tensor, gamma: torch.Tensor,
                     task: str = "classification") -> tuple[float, float]:
    """``(loss, penalty)`` of ``F(w)``, with ``gamma_j = lambda r(h_j) + beta``; ``F = loss + penalty``."""
    with torch.no_grad():
        return mixture_loss(w, outputs, y, task).item(), (gamma * w.abs()).sum().item()


def fit_mixture_weights(outputs: torch.Tensor, y: torch.Tensor, gamma: torch.Tensor, task: str = "classification",
                        w0: torch.Tensor | None = None, steps: int = 300, lr: float = 1.0,
                        tol: float = 1e-7) -> torch.Tensor:
    """Minimise ``F(w)`` by proximal gradient descent (ISTA) with a backtracking step size.

    Each step: ``w <- soft_threshold(w - lr * grad loss(w), lr * gamma)``. The step size ``lr``
    halves until the quadratic upper bound of the loss holds (Beck & Teboulle 2009), so no
    Lipschitz constant is needed and every step lowers ``F``. A subgradient step on ``|w|`` would
    oscillate around zero forever; the soft threshold lands on it. ``w0`` defaults to the uniform
    ``1/N``; the loop stops after ``steps`` steps or when a step lowers ``F`` by less than
    ``tol * max(1, |F|)``.
    """
    n = outputs.shape[0]
    w = torch.full((n,), 1.0 / n, dtype=outputs.dtype, device=outputs.device) if w0 is None else w0.clone()
    gamma = torch.as_tensor(gamma, dtype=outputs.dtype, device=outputs.device)
    loss_of = lambda v: mixture_loss(v, outputs, y, task)
    slack = 10 * torch.finfo(outputs.dtype).eps                 # rounding in the loss, relative
    for _ in range(steps):
        w.requires_grad_(True)
        loss = loss_of(w)
        (grad,) = torch.autograd.grad(loss, w)
        w, loss = w.detach(), loss.detach()
        with torch.no_grad():
            while True:                                          # backtracking line search
                w_new = soft_threshold(w - lr * grad, lr * gamma)
                d = w_new - w
                new_loss = loss_of(w_new)
                bound = loss + (grad * d).sum() + (d * d).sum() / (2 * lr)
                if new_loss <= bound + slack * (1 + loss.abs()) or lr < 1e-10:
                    break
                lr *= 0.5
            before = (loss + (gamma * w.abs()).sum()).item()
            after = (new_loss + (gamma * w_new.abs()).sum()).item()
        w = w_new
        if before - after <= tol * max(1.0, abs(before)):
            break
        lr *= 2.0                                                # try a longer step next time
    return w


# --- candidates and generators ---------------------------------------------------------

@dataclass
class Candidate:
    """A subnetwork proposed at one iteration: its module, its complexity ``r(h)`` and a name."""

    name: str
    module: nn.Module
    complexity: float
    info: dict[str, Any] = field(default_factory=dict)


class Generator(Protocol):
    """Anything that proposes candidates: ``generator(iteration, chosen, seed) -> [Candidate, ...]``.

    ``chosen`` is the list of candidates that joined the ensemble so far (oldest first).
    """

    def __call__(self, iteration: int, chosen: list[Candidate], seed: int) -> list[Candidate]: ...


class SimpleDNN:
    """The tutorial's generator: an MLP as deep as the last chosen subnetwork, and one layer deeper.

    Depth = number of hidden layers (0 is a linear model, ``r = 0``); the first iteration
    proposes ``initial_depth`` and ``initial_depth + 1``.
    """

    def __init__(self, in_features: int, out_features: int, width: int = 64, initial_depth: int = 0):
        self.in_features, self.out_features, self.width = in_features, out_features, width
        self.initial_depth = initial_depth

    def __call__(self, iteration: int, chosen: list[Candidate], seed: int) -> list[Candidate]:
        depth = chosen[-1].info["depth"] if chosen else self.initial_depth
        return [Candidate(f"{d}-layer" if d else "linear",
                          make_mlp(self.in_features, self.out_features, self.width, d, seed=seed + d),
                          complexity(d), {"depth": d})
                for d in (depth, depth + 1)]


# --- the search ------------------------------------------------------------------------

@dataclass
class Iteration:
    """What happened at one iteration: every candidate's objective and weights, and the choice."""

    t: int
    names: list[str]
    objectives: list[float]          # F of (chosen so far + candidate)
    losses: list[float]
    penalties: list[float]
    weights: list[list[float]]       # the fitted w of each candidate ensemble
    previous_objective: float        # F of the ensemble before this iteration
    chosen: int | None               # index into names, None when no candidate lowered F


class AdaNet:
    """Adaptive ensemble of subnetworks (Cortes et al., ICML 2017), scalar mixture weights on logits.

    ``lam`` and ``beta`` are the paper's lambda and beta; ``train`` (default: ``minilib.train.fit``
    with ``epochs``, ``lr``, ``batch_size``) trains one candidate on its own loss. A ``cache``
    dict, shared between runs that differ only in ``lam``/``beta``, reuses trained candidates:
    candidates do not depend on the mixture weights, so a sweep over lambda retrains nothing.
    """

    def __init__(self, generator: Generator, lam: float = 0.0, beta: float = 0.0, max_iterations: int = 5,
                 task: str = "classification", epochs: int = 20, lr: float = 1e-3, batch_size: int = 128,
                 weight_decay: float = 0.0, seed: int = 0, rel_tol: float = 1e-4,
                 train: Callable[[nn.Module, Any, Any, int], Any] | None = None,
                 cache: dict | None = None, device: torch.device | None = None):
        if lam < 0 or beta < 0 or max_iterations < 1:
            raise ValueError(f"need lam >= 0, beta >= 0, max_iterations >= 1; got {lam}, {beta}, {max_iterations}")
        self.generator, self.lam, self.beta, self.max_iterations = generator, lam, beta, max_iterations
        self.task, self.seed, self.rel_tol = task, seed, rel_tol
        self.device = device or get_device()
        self.train = train or (lambda module, X, y, seed: fit(
            module, X, y, epochs=epochs, lr=lr, batch_size=batch_size, weight_decay=weight_decay,
            task=task, seed=seed, device=self.device))
        self.cache = cache if cache is not None else {}
        self.subnetworks: list[Candidate] = []
        self.weights = torch.zeros(0)
        self.history: list[Iteration] = []
        self.objective: float | None = None          # F of the current ensemble

    def gamma(self, members: list[Candidate]) -> torch.Tensor:
        """``gamma_j = lambda r(h_j) + beta`` for each member."""
        return torch.tensor([self.lam * h.complexity + self.beta for h in members], device=self.device)

    @torch.no_grad()
    def outputs(self, X: Any, members: list[Candidate] | None = None) -> torch.Tensor:
        """The members' outputs on ``X``, shape (N, m, K) (K = 1 for regression)."""
        X = torch.as_tensor(np.asarray(X), dtype=torch.float32, device=self.device)
        members = self.subnetworks if members is None else members
        outs = [h.module.eval()(X) for h in members]
        return torch.stack([o.reshape(len(X), -1) for o in outs])

    def _trained_candidates(self, t: int, X: Any, y: Any) -> list[Candidate]:
        seed = self.seed * 1000 + 10 * t
        key = (seed, t, tuple(id(h.module) for h in self.subnetworks))   # the same ensemble so far: same candidates
        if key not in self.cache:
            candidates = self.generator(t, self.subnetworks, seed)
            for k, c in enumerate(candidates):
                self.train(c.module, X, y, seed + k)
                c.module.requires_grad_(False).eval()           # 2) frozen from now on
            self.cache[key] = candidates
        return self.cache[key]

    def fit(self, X: Any, y: Any) -> AdaNet:
        """Run up to ``max_iterations`` AdaNet iterations on the training data ``(X, y)``."""
        yt = torch.as_tensor(np.asarray(y), device=self.device,
                             dtype=torch.long if self.task == "classification" else torch.float32)
        if self.history and self.history[-1].chosen is None:
            return self                                                  # the search has stopped
        chosen_outs = self.outputs(X) if self.subnetworks else None      # (N, m, K) of the frozen members
        for t in range(len(self.history), self.max_iterations):
            candidates = self._trained_candidates(t, X, y)               # 1) + 2)
            candidate_outs = self.outputs(X, candidates)                 # (C, m, K)
            if self.objective is None:                                   # F of the empty ensemble, f = 0
                zero = torch.zeros(1, device=self.device)
                self.objective = mixture_loss(zero, torch.zeros_like(candidate_outs[:1]), yt, self.task).item()
            record = Iteration(t, [c.name for c in candidates], [], [], [], [], self.objective, None)
            fits = []
            for k, c in enumerate(candidates):                           # 3) weights of each candidate ensemble
                outs = candidate_outs[k:k + 1]
                outs = outs if chosen_outs is None else torch.cat([chosen_outs, outs])
                gamma = self.gamma(self.subnetworks + [c])
                w = fit_mixture_weights(outs, yt, gamma, self.task)
                loss, penalty = adanet_objective(w, outs, yt, gamma, self.task)
                record.objectives.append(loss + penalty)
                record.losses.append(loss)
                record.penalties.append(penalty)
                record.weights.append(w.tolist())
                fits.append((outs, w))
            best = int(np.argmin(record.objectives))                     # 4) the lowest F joins ...
            lowers = record.objectives[best] < self.objective - self.rel_tol * abs(self.objective)
            if lowers and fits[best][1][-1].item() != 0.0:
                record.chosen = best
                self.subnetworks.append(candidates[best])
                chosen_outs, self.weights = fits[best]
                self.objective = record.objectives[best]
            self.history.append(record)
            if record.chosen is None:                                    # ... or the search stops
                break
        return self

    @torch.no_grad()
    def predict(self, X: Any, uniform: bool = False) -> torch.Tensor:
        """The ensemble's output ``sum_j w_j h_j(X)``; ``uniform=True`` uses ``w_j = 1/N`` instead."""
        if not self.subnetworks:
            raise RuntimeError("the ensemble is empty: call fit first (or no subnetwork lowered the objective)")
        outs = self.outputs(X)
        w = torch.full_like(self.weights, 1.0 / len(self.weights)) if uniform else self.weights
        f = torch.einsum("j,jmk->mk", w, outs)
        return f if self.task == "classification" else f[:, 0]

    @property
    def depths(self) -> list[int]:
        """The depths of the chosen subnetworks, in the order they joined (for ``SimpleDNN``)."""
        return [h.info.get("depth", -1) for h in self.subnetworks]

    @property
    def total_complexity(self) -> float:
        """``sum_j r(h_j)`` over the subnetworks with a non-zero mixture weight."""
        return float(sum(h.complexity for h, w in zip(self.subnetworks, self.weights.tolist()) if w != 0))

    @property
    def n_parameters(self) -> int:
        return sum(count_parameters(h.module) for h in self.subnetworks)
