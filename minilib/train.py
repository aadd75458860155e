"""Training helpers shared by every chapter: device, seeds, budgets, a small fit loop.

* ``get_device()`` picks CUDA when present, else the CPU; set ``MINILIB_DEVICE=cpu``
  (or ``cuda:1`` …) to override.
* ``seed_everything(seed)`` seeds Python, numpy and PyTorch.
* ``is_quick()`` / ``budget(full=..., quick=...)``: the book runs in full mode by
  default and in quick mode when ``MINILIB_QUICK=1`` (tests and CI set it). Chapters
  take every size — trials, epochs, seeds — from ``budget``, never from their own ``if``.
* ``fit`` / ``evaluate``: a plain PyTorch loop for classification (cross-entropy) or
  regression (mean squared error) with a per-epoch history.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np
import torch
from torch import nn

T = TypeVar("T")


def is_quick() -> bool:
    """True when the book runs in quick mode (``MINILIB_QUICK=1``)."""
    return os.environ.get("MINILIB_QUICK", "").strip().lower() in ("1", "true", "yes", "on")


def budget(full: T, quick: T) -> T:
    """Return ``quick`` in quick mode and ``full`` otherwise: ``n_trials = budget(60, 8)``."""
    return quick if is_quick() else full


def get_device() -> torch.device:
    """CUDA if available, else CPU; ``MINILIB_DEVICE`` overrides (e.g. ``cpu``, ``cuda:0``)."""
    requested = os.environ.get("MINILIB_DEVICE", "").strip()
    if requested:
        device = torch.device(requested)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise RuntimeError(f"MINILIB_DEVICE={requested!r} but PyTorch sees no CUDA device")
        return device
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def seed_everything(seed: int) -> None:
    """Seed Python's ``random``, numpy's global generator and PyTorch (CPU and CUDA)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


@dataclass
class History:
    """Metrics of one ``fit`` run, one entry per epoch (or per part of an epoch, see ``fit``).

    It also keeps what a later ``fit(..., resume=history)`` needs to continue the same run: the
    optimizer, the learning-rate scheduler, the mini-batch generator and the number of steps taken.
    """

    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_accuracy: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    step_lr: list[float] = field(default_factory=list)   # learning rate used at each optimizer step
    steps: int = 0
    optimizer: torch.optim.Optimizer | None = field(default=None, repr=False)
    scheduler: Any = field(default=None, repr=False)
    generator: torch.Generator | None = field(default=None, repr=False)
    rng_state: Any = field(default=None, repr=False)   # PyTorch's global RNG state for dropout, see fit

    @property
    def epochs(self) -> int:
        return len(self.train_loss)

    def as_dict(self) -> dict[str, list[float]]:
        return {"train_loss": self.train_loss, "val_loss": self.val_loss,
                "val_accuracy": self.val_accuracy, "seconds": self.seconds}


def _as_tensor(x: Any, device: torch.device, dtype: torch.dtype | None = None) -> torch.Tensor:
    t = torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x)
    return t.to(device=device, dtype=dtype) if dtype is not None else t.to(device)


def _loss_fn(task: str) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    if task == "classification":
        return nn.functional.cross_entropy
    if task == "regression":
        return lambda out, y: nn.functional.mse_loss(out.reshape(y.shape), y)
    raise ValueError(f"task must be 'classification' or 'regression', got {task!r}")


def _targets(y: Any, device: torch.device, task: str) -> torch.Tensor:
    return _as_tensor(y, device, torch.long if task == "classification" else torch.float32)


@torch.no_grad()
def evaluate(model: nn.Module, X: Any, y: Any, task: str = "classification", batch_size: int = 1024,
             device: torch.device | None = None) -> dict[str, float]:
    """Mean loss (and accuracy, for classification) of ``model`` on ``(X, y)``."""
    device = device or next(model.parameters()).device
    X, y = _as_tensor(X, device, torch.float32), _targets(y, device, task)
    loss_fn = _loss_fn(task)
    was_training = model.training
    model.eval()
    total_loss, correct = 0.0, 0
    for start in range(0, len(X), batch_size):
        out = model(X[start:start + batch_size])
        target = y[start:start + batch_size]
        total_loss += loss_fn(out, target).item() * len(target)
        if task == "classification":
            correct += (out.argmax(dim=1) == target).sum().item()
    model.train(was_training)
    result = {"loss": total_loss / len(X)}
    if task == "classification":
        result["accuracy"] = correct / len(X)
    return result


OptimizerSpec = str | Callable[[Any], torch.optim.Optimizer]


def make_optimizer(params: Any, optimizer: OptimizerSpec = "adam", lr: float = 1e-3, weight_decay: float = 0.0,
                   momentum: float = 0.9) -> torch.optim.Optimizer:
    """``"adam"``, ``"sgd"`` (with ``momentum``), or a callable ``params -> Optimizer`` called as is."""
    if callable(optimizer):
        return optimizer(params)
    if optimizer == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    if optimizer == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    raise ValueError(f"optimizer must be 'adam', 'sgd' or a callable params -> Optimizer, got {optimizer!r}")


def fit(model: nn.Module, X_train: Any, y_train: Any, X_val: Any = None, y_val: Any = None, *,
        epochs: int = 10, lr: float = 1e-3, batch_size: int = 128, weight_decay: float = 0.0,
        optimizer: OptimizerSpec = "adam", momentum: float = 0.9, task: str = "classification", seed: int = 0,
        device: torch.device | None = None, evals_per_epoch: int = 1,
        on_epoch: Callable[[int, History], None] | None = None,
        scheduler: Callable[[torch.optim.Optimizer], Any] | None = None, scheduler_step: str = "batch",
        on_step: Callable[[int, float], None] | None = None, resume: History | None = None,
        rng_state: torch.Tensor | None = None) -> History:
    """Train ``model`` with mini-batch ``optimizer`` (``"adam"``, ``"sgd"`` with ``momentum``, or a
    callable ``params -> torch.optim.Optimizer``).

    The whole data set is moved to ``device`` once (the book's data sets are small), the
    mini-batch order comes from ``seed``, and after each epoch the validation loss and
    accuracy are recorded (when ``X_val`` is given). With ``evals_per_epoch = k`` each epoch's
    mini-batches are split into ``k`` nearly equal parts and the history gets a record after
    each part (a learning curve in steps of ``1/k`` epoch; the training itself is unchanged).

    * ``scheduler(optimizer)`` builds any ``torch.optim.lr_scheduler``; it is stepped after every
      mini-batch (``scheduler_step="batch"``) or after every epoch (``"epoch"``).
    * ``on_step(step, loss)`` is called after every optimizer step (``step`` counts from 1 over the
      whole run, resumed parts included); ``on_epoch(n, history)`` after the ``n``-th record.
      Either may raise to stop training.
    * ``resume=history`` continues a run for ``epochs`` *more* epochs with the optimizer, scheduler
      and mini-batch generator stored on ``history``, and appends to it: ``fit`` for 3 epochs, then
      ``resume`` for 3, trains exactly as ``fit`` for 6 (snapshot ensembles, SWA and Hyperband's
      continuation from a smaller budget use this). ``lr``, ``weight_decay``, ``optimizer``,
      ``momentum``, ``scheduler`` and ``seed`` are then taken from the run being resumed.

    Randomness inside the model (dropout masks) draws from PyTorch's global generator, so ``fit``
    runs with that generator set to a state of its own, seeded by ``seed`` (or ``rng_state``, a
    ``torch.get_rng_state()`` to start from), and restores the caller's state afterwards: the same
    ``seed`` gives the same training whatever ran before, and the caller's random stream is left alone.
    """
    if epochs < 0 or batch_size < 1 or lr <= 0:
        raise ValueError(f"need epochs >= 0, batch_size >= 1, lr > 0; got {epochs}, {batch_size}, {lr}")
    if scheduler_step not in ("batch", "epoch"):
        raise ValueError(f"scheduler_step must be 'batch' or 'epoch', got {scheduler_step!r}")
    n_batches = -(-len(X_train) // batch_size)
    if isinstance(evals_per_epoch, bool) or not isinstance(evals_per_epoch, int) \
            or not 1 <= evals_per_epoch <= n_batches:
        raise ValueError(f"evals_per_epoch must be an integer in [1, {n_batches}] (the mini-batches of an "
                         f"epoch), got {evals_per_epoch!r}")
    device = device or get_device()
    model.to(device)
    X, y = _as_tensor(X_train, device, torch.float32), _targets(y_train, device, task)
    Xv = yv = None
    if X_val is not None:
        Xv, yv = _as_tensor(X_val, device, torch.float32), _targets(y_val, device, task)
    if resume is None:
        history = History()
        history.optimizer = make_optimizer(model.parameters(), optimizer, lr, weight_decay, momentum)
        history.scheduler = scheduler(history.optimizer) if scheduler is not None else None
        history.generator = torch.Generator().manual_seed(seed)
        history.rng_state = _initial_rng_state(seed, rng_state, device)
    else:
        if resume.optimizer is None or resume.generator is None:
            raise ValueError("resume= needs the History returned by an earlier fit() of this run")
        history = resume
    with _private_rng(history, device):
        _train_epochs(model, X, y, Xv, yv, history, epochs=epochs,
                      batch_size=batch_size, task=task, device=device, evals_per_epoch=evals_per_epoch,
                      scheduler_step=scheduler_step, on_step=on_step, on_epoch=on_epoch)
    return history


def _cuda_devices(device: torch.device) -> list[int]:
    return [device.index if device.index is not None else torch.cuda.current_device()] if device.type == "cuda" else []


def _initial_rng_state(seed: int, rng_state: torch.Tensor | None, device: torch.device) -> tuple[Any, Any]:
    """(CPU state, CUDA state or None) of the global generator seeded with ``seed``, or ``rng_state``."""
    with torch.random.fork_rng(devices=_cuda_devices(device)):
        torch.manual_seed(seed)
        cpu = rng_state.clone() if rng_state is not None else torch.get_rng_state()
        return cpu, torch.cuda.get_rng_state(device) if device.type == "cuda" else None


@contextmanager
def _private_rng(history: History, device: torch.device):
    """Run the block with PyTorch's global RNG set to ``history.rng_state``; save it back afterwards."""
    with torch.random.fork_rng(devices=_cuda_devices(device)):
        cpu, cuda = history.rng_state
        torch.set_rng_state(cpu)
        if cuda is not None:
            torch.cuda.set_rng_state(cuda, device)
        try:
            yield
        finally:
            history.rng_state = (torch.get_rng_state(),
                                 torch.cuda.get_rng_state(device) if device.type == "cuda" else None)


def _train_epochs(model: nn.Module, X: torch.Tensor, y: torch.Tensor, Xv: torch.Tensor | None,
                  yv: torch.Tensor | None, history: History, *, epochs: int, batch_size: int, task: str,
                  device: torch.device, evals_per_epoch: int, scheduler_step: str,
                  on_step: Callable[[int, float], None] | None,
                  on_epoch: Callable[[int, History], None] | None) -> None:
    has_val = Xv is not None
    n_batches = -(-len(X) // batch_size)
    opt, sched, loss_fn = history.optimizer, history.scheduler, _loss_fn(task)
    part_ends = [(part + 1) * n_batches // evals_per_epoch for part in range(evals_per_epoch)]
    for _epoch in range(1, epochs + 1):
        model.train()
        order = torch.randperm(len(X), generator=history.generator).to(device)
        first = 0
        for last in part_ends:
            start = time.perf_counter()
            running, seen = 0.0, 0
            for b in range(first, last):
                idx = order[b * batch_size:(b + 1) * batch_size]
                loss = loss_fn(model(X[idx]), y[idx])
                opt.zero_grad()
                loss.backward()
                history.step_lr.append(opt.param_groups[0]["lr"])
                opt.step()
                if sched is not None and scheduler_step == "batch":
                    sched.step()
                history.steps += 1
                value = loss.item()
                running += value * len(idx)
                seen += len(idx)
                if on_step is not None:
                    on_step(history.steps, value)
            first = last
            history.train_loss.append(running / seen)
            if has_val:
                metrics = evaluate(model, Xv, yv, task=task, device=device)
                history.val_loss.append(metrics["loss"])
                history.val_accuracy.append(metrics.get("accuracy", float("nan")))
            history.seconds.append(time.perf_counter() - start)
            if on_epoch is not None:
                on_epoch(len(history.seconds), history)
        if sched is not None and scheduler_step == "epoch":
            sched.step()
