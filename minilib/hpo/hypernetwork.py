"""Hyperparameter optimisation through a hypernetwork (chapter 07).

Lorraine & Duvenaud, *Stochastic Hyperparameter Optimization through Hypernetworks*
(arXiv:1802.09419, 2018). The hyperparameter here is ``λ``, the **log** of an L2 penalty
weight, and the model is a small MLP (no hidden layer: a linear model) whose weights ``w``
are one flat vector. Training at a fixed ``λ`` minimises

    L_train(w, λ) = mean loss on the training set + exp(λ) · ||w||²                  (1)

and gives the *best response* ``w*(λ) = argmin_w L_train(w, λ)``. What we want is the ``λ``
whose best response has the lowest validation loss, ``min_λ L_val(w*(λ))``. Grid search
trains one model per ``λ``; the paper instead trains a **hypernetwork** ``w_φ(λ)`` that
approximates the whole map ``λ -> w*(λ)``, and then differentiates through it:

    dL_val(w_φ(λ))/dλ = ∂L_val/∂w · ∂w_φ/∂λ                                         (2)

is an ordinary gradient (autograd), with no inner training loop to unroll. Algorithm 3 of
the paper (joint, local) alternates, until the budget is spent:

1. sample ``λ ~ p(λ | λ̂) = N(λ̂, σ²)`` (and a training batch) and take a step on φ
   to lower ``L_train(w_φ(λ), λ)``: the hypernetwork learns the best response *near* the
   current ``λ̂``;
2. take a step on ``λ̂`` to lower ``L_val(w_φ(λ̂))``, with the gradient (2).

With a small ``σ`` the hypernetwork only has to be right in a neighbourhood, so a *linear*
one, ``w_φ(λ) = a + (λ - λ₀) b`` (``hidden=0``), is enough: the paper's local best-response
approximation. For a wide range of ``λ`` the map is curved and needs a hidden layer (the paper's
global Algorithm 2 uses 50 hidden units and draws ``λ`` from a fixed wide distribution;
``HyperNetwork(hidden=50)`` with a large ``sigma`` in ``hypertrain`` is the joint variant). On
ridge regression the best response has a closed form (``ridge_best_response``), which the tests
use as the oracle.

``grid_search`` is the baseline on the same objective (1): one model trained per grid value.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from minilib.train import get_device

# --- 1. the model: an MLP whose weights are one flat vector ------------------------------------


def n_weights(sizes: Sequence[int], bias: bool = True) -> int:
    """Number of weights of an MLP with layer sizes ``sizes`` (``[64, 10]``: a linear model)."""
    return sum(n_in * n_out + (n_out if bias else 0) for n_in, n_out in zip(sizes[:-1], sizes[1:]))


def init_weights(sizes: Sequence[int], bias: bool = True, seed: int = 0) -> torch.Tensor:
    """A flat weight vector drawn as ``nn.Linear`` draws it (uniform in ±1/sqrt(fan_in)), from ``seed``."""
    g = torch.Generator().manual_seed(seed)
    parts = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        bound = 1 / math.sqrt(n_in)
        parts.append((2 * torch.rand(n_out * n_in + (n_out if bias else 0), generator=g) - 1) * bound)
    return torch.cat(parts)


def mlp(w: torch.Tensor, X: torch.Tensor, sizes: Sequence[int], bias: bool = True) -> torch.Tensor:
    """The MLP's output for inputs ``X`` (n, sizes[0]) with flat weights ``w``: ReLU between layers."""
    if w.numel() != n_weights(sizes, bias):
        raise ValueError(f"an MLP {list(sizes)} (bias={bias}) has {n_weights(sizes, bias)} weights, got {w.numel()}")
    at, h = 0, X
    for layer, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        W = w[at:at + n_out * n_in].reshape(n_out, n_in)
        at += n_out * n_in
        h = h @ W.T
        if bias:
            h = h + w[at:at + n_out]
            at += n_out
        if layer < len(sizes) - 2:
            h = torch.relu(h)
    return h                                                        # (n, sizes[-1])


def task_loss(out: torch.Tensor, y: torch.Tensor, task: str) -> torch.Tensor:
    """Mean cross-entropy (``task="classification"``) or mean squared error (``"regression"``)."""
    if task == "classification":
        return F.cross_entropy(out, y)
    if task == "regression":
        return F.mse_loss(out.reshape(y.shape), y)
    raise ValueError(f"task must be 'classification' or 'regression', got {task!r}")


def train_loss(w: torch.Tensor, X: torch.Tensor, y: torch.Tensor, log_lam: torch.Tensor | float,
               sizes: Sequence[int], bias: bool, task: str) -> torch.Tensor:
    """Equation (1): the training loss plus ``exp(λ) ||w||²``, with ``λ = log_lam``."""
    penalty = torch.exp(torch.as_tensor(log_lam, dtype=w.dtype, device=w.device)) * (w ** 2).sum()
    return task_loss(mlp(w, X, sizes, bias), y, task) + penalty


def ridge_best_response(X: torch.Tensor, y: torch.Tensor, log_lam: float) -> torch.Tensor:
    """The exact best response of (1) for a linear model without bias and the squared error:
    ``w*(λ) = (XᵀX + n exp(λ) I)⁻¹ Xᵀy`` (the ``n`` because (1) uses the *mean* squared error)."""
    n, d = X.shape
    A = X.T @ X + n * math.exp(log_lam) * torch.eye(d, dtype=X.dtype, device=X.device)
    return torch.linalg.solve(A, X.T @ y)


# --- 2. the hypernetwork w_φ(λ) ----------------------------------------------------------------


class HyperNetwork(nn.Module):
    """``w_φ(λ)``: maps the log penalty ``λ`` to the flat weights of an MLP with layer sizes ``sizes``.

    * ``hidden=0``: linear in ``λ``, ``w = a + (λ - λ₀) b`` — the paper's local best-response
      approximation (2 × the model's weights). ``a`` starts at the model's usual initial weights,
      ``b`` at zero, so at the start every ``λ`` gets the same untrained model.
    * ``hidden=h``: ``λ -> Linear(1, h) -> ReLU -> Linear(h, n_weights)``, the global version; the
      last layer's bias starts at the model's initial weights and its matrix near zero.

    ``λ₀ = log_lambda0`` only centres the input (as one standardises a feature); ``recenter`` moves it
    without changing the function.
    """

    def __init__(self, sizes: Sequence[int], hidden: int = 0, bias: bool = True, log_lambda0: float = 0.0,
                 seed: int = 0):
        super().__init__()
        self.sizes, self.bias, self.hidden = list(sizes), bias, hidden
        self.register_buffer("log_lambda0", torch.tensor(float(log_lambda0)))
        w0 = init_weights(sizes, bias, seed)
        if hidden == 0:
            self.a = nn.Parameter(w0)
            self.b = nn.Parameter(torch.zeros_like(w0))
        else:
            g = torch.Generator().manual_seed(seed + 1)
            self.inner = nn.Linear(1, hidden)
            self.outer = nn.Linear(hidden, len(w0))
            with torch.no_grad():
                for p in (self.inner.weight, self.inner.bias):
                    p.copy_(torch.randn(p.shape, generator=g))
                self.outer.weight.copy_(1e-3 * torch.randn(self.outer.weight.shape, generator=g))
                self.outer.bias.copy_(w0)

    @torch.no_grad()
    def recenter(self, log_lambda0: float) -> None:
        """Move the input's centre ``λ₀`` without changing the function ``w_φ``: shift ``a`` (or the
        first layer's bias) by what the old centre contributed. ``hypertrain`` keeps ``λ₀ = λ̂`` so that
        ``a`` is the weight vector at ``λ̂`` and ``b`` its slope there; with a centre far from the sampled
        ``λ``, ``a`` and ``b`` get almost parallel gradients and the slope (the hypergradient) learns slowly."""
        shift = float(log_lambda0) - self.log_lambda0.item()
        if self.hidden == 0:
            self.a.add_(shift * self.b)
        else:
            self.inner.bias.add_(shift * self.inner.weight[:, 0])
        self.log_lambda0.fill_(float(log_lambda0))

    def forward(self, log_lam: torch.Tensor) -> torch.Tensor:
        """The weight vector for one ``λ`` (a 0-d tensor); differentiable in ``λ`` and in φ."""
        u = log_lam - self.log_lambda0
        if self.hidden == 0:
            return self.a + u * self.b
        return self.outer(torch.relu(self.inner(u.reshape(1, 1)))).reshape(-1)

    def predict(self, w: torch.Tensor, X: torch.Tensor) -> torch.Tensor:
        """The model's output for weights ``w`` (e.g. ``self(λ)``) on inputs ``X``."""
        return mlp(w, X, self.sizes, self.bias)


def validation_loss(hnet: HyperNetwork, log_lam: torch.Tensor, X_val: torch.Tensor, y_val: torch.Tensor,
                    task: str) -> torch.Tensor:
    """``L_val(w_φ(λ))``: the validation loss of the weights the hypernetwork gives ``λ`` (no penalty)."""
    return task_loss(hnet.predict(hnet(log_lam), X_val), y_val, task)


def hypergradient(hnet: HyperNetwork, log_lam: float, X_val: torch.Tensor, y_val: torch.Tensor,
                  task: str) -> tuple[float, float]:
    """Equation (2): ``L_val(w_φ(λ))`` and its derivative in ``λ`` through the hypernetwork (autograd)."""
    lam = torch.tensor(float(log_lam), dtype=hnet.log_lambda0.dtype, device=hnet.log_lambda0.device,
                       requires_grad=True)
    loss = validation_loss(hnet, lam, X_val, y_val, task)
    (grad,) = torch.autograd.grad(loss, lam)
    return loss.item(), grad.item()


# --- 3. Algorithm 3: alternate the hypernetwork and the hyperparameter --------------------------


@dataclass
class HyperResult:
    """What ``hypertrain`` returns. ``trajectory[t]`` and ``val_loss[t]``: ``λ̂`` and ``L_val(w_φ(λ̂))``
    when hyperparameter step ``t`` took its gradient (``trajectory[0]`` is the start, the last entry
    where the last step ended). ``gradient_evals`` counts the model's forward-backward passes (each
    sampled ``λ`` in a hypernetwork step is one, each hyperparameter step one)."""

    log_lambda: float
    trajectory: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    hypernet: HyperNetwork | None = field(default=None, repr=False)
    gradient_evals: int = 0
    seconds: float = 0.0


def _tensors(device: torch.device, task: str, *arrays) -> list[torch.Tensor]:
    """Pairs (X, y, X, y, ...) as tensors on ``device``: inputs float32, targets long for classification."""
    out = []
    for k, a in enumerate(arrays):
        dtype = torch.long if (task == "classification" and k % 2 == 1) else torch.float32
        out.append(torch.as_tensor(np.asarray(a) if not isinstance(a, torch.Tensor) else a).to(device, dtype))
    return out


def hypertrain(hnet: HyperNetwork, X_train, y_train, X_val, y_val, *, task: str, log_lambda0: float,
               steps: int, warmup: int = 100, train_steps: int = 1, sigma: float = 0.5, n_samples: int = 2,
               lr: float = 0.01, hyper_lr: float = 0.05, batch_size: int | None = None, seed: int = 0,
               device: torch.device | None = None) -> HyperResult:
    """Algorithm 3 of Lorraine & Duvenaud (2018) from ``λ̂ = log_lambda0``.

    ``warmup`` hypernetwork steps first (``λ̂`` fixed), then ``steps`` rounds of: ``train_steps``
    Adam steps (learning rate ``lr``) on φ, each on the mean of ``L_train(w_φ(λ), λ)`` over
    ``n_samples`` draws ``λ ~ N(λ̂, sigma²)`` and one training batch (the whole set when
    ``batch_size`` is None); then one Adam step (``hyper_lr``) on ``λ̂`` down the gradient (2) of
    the validation loss on the whole validation set. Training happens in float32 on ``device``
    (``get_device()`` by default); the hypernetwork is moved there.
    """
    device = device or get_device()
    X, y, Xv, yv = _tensors(device, task, X_train, y_train, X_val, y_val)
    hnet.to(device)
    gen = torch.Generator().manual_seed(seed)
    lam = torch.tensor(float(log_lambda0), device=device, requires_grad=True)        # λ̂
    opt_phi = torch.optim.Adam(hnet.parameters(), lr=lr)
    opt_lam = torch.optim.Adam([lam], lr=hyper_lr)
    result = HyperResult(log_lambda=float(log_lambda0), hypernet=hnet)
    start = time.perf_counter()

    def hypernet_step() -> None:
        # 1) λ ~ N(λ̂, σ²) and a training batch; a step on φ down L_train(w_φ(λ), λ)
        lams = lam.detach() + sigma * torch.randn(n_samples, generator=gen).to(device)
        idx = slice(None) if batch_size is None else torch.randint(len(X), (batch_size,), generator=gen).to(device)
        loss = torch.stack([train_loss(hnet(lam_k), X[idx], y[idx], lam_k, hnet.sizes, hnet.bias, task)
                            for lam_k in lams]).mean()
        opt_phi.zero_grad()
        loss.backward()
        opt_phi.step()
        result.gradient_evals += n_samples

    for _ in range(warmup):
        hypernet_step()
    for _ in range(steps):
        for _ in range(train_steps):
            hypernet_step()
        # 2) a step on λ̂ down dL_val(w_φ(λ̂))/dλ̂, equation (2); φ's gradients are left alone
        val = validation_loss(hnet, lam, Xv, yv, task)
        result.trajectory.append(lam.item())
        result.val_loss.append(val.item())
        (lam.grad,) = torch.autograd.grad(val, lam)
        opt_lam.step()
        hnet.recenter(lam.item())                   # the same function, centred at the new λ̂
        result.gradient_evals += 1
    with torch.no_grad():                           # where it ended
        result.trajectory.append(lam.item())
        result.val_loss.append(validation_loss(hnet, lam, Xv, yv, task).item())
    result.log_lambda = lam.item()
    result.seconds = time.perf_counter() - start
    return result


# --- 4. the baseline: grid search, one model trained per value ---------------------------------


@dataclass
class GridResult:
    """What ``grid_search`` returns: the validation loss of the model trained at each grid value,
    the best value and its weights, and the cost (``gradient_evals`` = models × steps)."""

    log_lambdas: list[float]
    val_loss: list[float]
    best_log_lambda: float
    best_weights: torch.Tensor = field(repr=False)
    gradient_evals: int = 0
    seconds: float = 0.0


def train_at(log_lam: float, X, y, *, sizes: Sequence[int], bias: bool = True, task: str, steps: int,
             lr: float = 0.01, batch_size: int | None = None, seed: int = 0,
             device: torch.device | None = None) -> torch.Tensor:
    """Train one model on (1) at a fixed ``λ``: ``steps`` Adam steps from ``init_weights(seed)``.

    The same objective, optimizer and initial weights as the hypernetwork, so ``grid_search``
    and ``hypertrain`` are compared on equal terms. Returns the flat weights (on the CPU)."""
    device = device or get_device()
    X, y = _tensors(device, task, X, y)
    gen = torch.Generator().manual_seed(seed)
    w = init_weights(sizes, bias, seed).to(device).requires_grad_(True)
    opt = torch.optim.Adam([w], lr=lr)
    for _ in range(steps):
        idx = slice(None) if batch_size is None else torch.randint(len(X), (batch_size,), generator=gen).to(device)
        loss = train_loss(w, X[idx], y[idx], log_lam, sizes, bias, task)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return w.detach().cpu()


def grid_search(log_lambdas: Sequence[float], X_train, y_train, X_val, y_val, *, sizes: Sequence[int],
                bias: bool = True, task: str, steps: int, lr: float = 0.01, batch_size: int | None = None,
                seed: int = 0, device: torch.device | None = None) -> GridResult:
    """Train one model per ``λ`` in ``log_lambdas`` (``train_at``) and keep the lowest validation loss."""
    device = device or get_device()
    Xv, yv = _tensors(device, task, X_val, y_val)
    start = time.perf_counter()
    losses, weights = [], []
    for log_lam in log_lambdas:
        w = train_at(log_lam, X_train, y_train, sizes=sizes, bias=bias, task=task, steps=steps, lr=lr,
                     batch_size=batch_size, seed=seed, device=device)
        with torch.no_grad():
            losses.append(task_loss(mlp(w.to(device), Xv, sizes, bias), yv, task).item())
        weights.append(w)
    best = int(np.argmin(losses))
    return GridResult([float(v) for v in log_lambdas], losses, float(log_lambdas[best]), weights[best],
                      gradient_evals=len(log_lambdas) * steps, seconds=time.perf_counter() - start)
