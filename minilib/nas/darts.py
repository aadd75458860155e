"""DARTS: differentiable architecture search (Liu, Simonyan & Yang, ICLR 2019), on chapter 05's cell space.

Instead of choosing one operation per edge, every edge of the cell computes *all* of them and
mixes the results with a softmax over architecture parameters alpha (eq. 1 of the paper)::

    mixed_e(x) = sum_o softmax(alpha_e)_o * o(x)        alpha: (6 edges, 5 operations)

The network weights w and alpha are then learnt together, as a bilevel problem (eq. 3-4)::

    min_alpha  L_val(w*(alpha), alpha)    s.t.   w*(alpha) = argmin_w L_train(w, alpha)

approximated by alternating one step on alpha (on one half of the training data) and one SGD
step on w (on the other half). The alpha step uses the gradient at the *unrolled* weights
w' = w - xi * grad_w L_train(w, alpha) (eq. 6-7)::

    grad_alpha L_val(w', alpha) - xi * [grad_alpha L_train(w+, alpha) - grad_alpha L_train(w-, alpha)] / (2 eps)
    w+- = w +- eps * grad_w' L_val(w', alpha),      eps = 0.01 / ||grad_w' L_val(w', alpha)||   (eq. 8)

First order DARTS sets xi = 0 (the alpha gradient at the current weights); second order sets xi
to the weight learning rate, and its unrolled step is the *next SGD step*, with the optimizer's
momentum and weight decay, as ``quark0/darts``'s ``architect.py`` writes it:
``w' = w - eta * (momentum * buffer + grad_w L_train + weight_decay * w)``.

The module follows the reference code's split: the operations and the genotype (``OPS``,
``derive``), the supernet (``MixedOp``, ``SearchCell``, ``SearchNetwork``), the bilevel step
(``Architect``), and a search loop (``search``) with one remedy for DARTS's best-known failure:
searched long enough, the cell fills with parameter-free operations (skip, pooling), which make
the supernet train fast but the derived network weak (on NAS-Bench-201 DARTS returns the all-skip
cell). The remedy is DARTS+'s early stopping (Liang et al. 2019): stop when the derived cell has
``stop_at_parameter_free`` parameter-free operations, and keep the cell derived before.
Chapter 07 ("differentiable NAS") explains each part.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from minilib.nas.space import EDGES, N_NODES, OPS, SPACE, edge_name, macro_skeleton, make_op
from minilib.space import Config

#: operations without weights: a derived cell full of them is DARTS's collapse (``none`` is never derived)
PARAMETER_FREE = ("skip", "avgpool")


# --- 1) the supernet -----------------------------------------------------------------------------

class Zero(nn.Module):
    """NAS-Bench-201's ``none``: the zero tensor (in the mixture its weight still counts)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mul(0.0)


class MixedOp(nn.Module):
    """One edge of the search cell: ``sum_o weights_o * o(x)`` over every operation of ``OPS``.

    The operations are ``minilib.nas.space.make_op``'s, so their BatchNorms have no affine
    parameters (as in DARTS's search cells): a learnable scale would let a convolution's output
    grow to compensate a small softmax weight, and alpha would stop meaning "how much of this op".
    """

    def __init__(self, channels: int, ops: tuple[str, ...] = OPS):
        super().__init__()
        self.ops = nn.ModuleDict({name: Zero() if name == "none" else make_op(name, channels) for name in ops})

    def forward(self, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """``x``: (B, C, L); ``weights``: (n_ops,), one per operation in ``OPS`` order. Returns (B, C, L)."""
        return sum(w * op(x) for w, op in zip(weights, self.ops.values()))


class SearchCell(nn.Module):
    """The cell of ``minilib.nas.space.Cell`` with a ``MixedOp`` on each of the 6 edges:
    node_j = sum_{i<j} mixed_{i->j}(node_i); returns node 3."""

    def __init__(self, channels: int, ops: tuple[str, ...] = OPS):
        super().__init__()
        self.edges = nn.ModuleDict({f"{i}_{j}": MixedOp(channels, ops) for i, j in EDGES})

    def forward(self, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """``weights``: (6, n_ops), row k for edge ``EDGES[k]``."""
        row = {edge: k for k, edge in enumerate(EDGES)}
        nodes = [x]
        for j in range(1, N_NODES):
            nodes.append(sum(self.edges[f"{i}_{j}"](nodes[i], weights[row[(i, j)]]) for i in range(j)))
        return nodes[-1]


class SearchNetwork(nn.Module):
    """The supernet: ``minilib.nas.space.CellNetwork``'s skeleton with every cell a ``SearchCell``.

    All cells share one alpha (the benchmark's networks repeat one cell), a parameter of shape
    (6, len(ops)) initialised to 1e-3 * N(0, 1) as in the reference code, so the first mixture is
    almost uniform. ``weight_parameters()`` are the network weights w, ``alpha`` is the architecture.
    The state-dict names match ``CellNetwork``'s except for the extra ``ops.<name>`` level.
    """

    def __init__(self, channels: int = 8, cells_per_stage: int = 1, stages: int = 3, n_classes: int = 10,
                 stem_stride: int = 1, ops: tuple[str, ...] = OPS, seed: int | None = None):
        super().__init__()
        generator = torch.Generator().manual_seed(seed) if seed is not None else None
        self.ops = tuple(ops)
        self.alpha = nn.Parameter(1e-3 * torch.randn(len(EDGES), len(ops), generator=generator))
        with torch.random.fork_rng(devices=[]):              # weights from the seed, global RNG untouched
            if seed is not None:
                torch.manual_seed(seed)
            self.stem, layers, c = macro_skeleton(lambda width: SearchCell(width, ops), channels, cells_per_stage,
                                                  stages, stem_stride)
            self.cells = nn.ModuleList(layers)
            self.last = nn.Sequential(nn.BatchNorm1d(c), nn.ReLU())
            self.head = nn.Linear(c, n_classes)

    def weight_parameters(self) -> list[nn.Parameter]:
        """The network weights w (every parameter but ``alpha``)."""
        return [p for name, p in self.named_parameters() if name != "alpha"]

    def forward(self, x: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
        """``x``: (B, L) sequences -> (B, classes) logits; ``weights`` defaults to softmax(alpha) per edge."""
        weights = F.softmax(self.alpha, dim=-1) if weights is None else weights     # (6, n_ops)
        h = self.stem(x.unsqueeze(1))
        for layer in self.cells:
            h = layer(h, weights) if isinstance(layer, SearchCell) else layer(h)
        h = self.last(h)
        return self.head(h.mean(dim=2))


# --- 2) the genotype -----------------------------------------------------------------------------

def derive(alpha: torch.Tensor | np.ndarray, ops: tuple[str, ...] = OPS, keep_none: bool = False) -> Config:
    """The discrete cell: on each edge the operation with the largest alpha **other than none**.

    That is DARTS's own rule (``quark0/darts``'s ``genotype()`` skips ``none`` when it ranks the
    operations), applied to every edge, since a cell of this space has one operation per edge.
    ``keep_none=True`` takes the plain argmax, which may pick ``none``: what AutoDL-Projects'
    NAS-Bench-201 code (``TinyNetworkDarts.genotype``) does. Returned as a config of
    ``minilib.nas.space.SPACE``, ready for a benchmark lookup."""
    alpha = np.asarray(alpha.detach().cpu() if isinstance(alpha, torch.Tensor) else alpha, dtype=float)
    if alpha.shape != (len(EDGES), len(ops)):
        raise ValueError(f"alpha must have shape ({len(EDGES)}, {len(ops)}), got {alpha.shape}")
    allowed = [k for k, name in enumerate(ops) if keep_none or name != "none"]
    config = {edge_name(i, j): ops[allowed[int(np.argmax(alpha[e, allowed]))]] for e, (i, j) in enumerate(EDGES)}
    SPACE.validate(config)
    return config


def parameter_free_count(config: Config) -> int:
    """Number of edges of ``config`` whose operation has no weights (skip, avgpool)."""
    return sum(op in PARAMETER_FREE for op in config.values())


# --- 3) the bilevel step (quark0/darts's architect.py) -----------------------------------------------

#: the loss on one batch as a function of the weights (a name -> tensor dict) and alpha
LossFn = Callable[[dict[str, torch.Tensor], torch.Tensor], torch.Tensor]


def hessian_vector_product(loss_fn: LossFn, weights: dict[str, torch.Tensor], alpha: torch.Tensor,
                           vector: dict[str, torch.Tensor], r: float = 1e-2) -> torch.Tensor:
    """``grad^2_{alpha, w} L(w, alpha) . v`` by a central finite difference (eq. 8 of the paper)::

        [grad_alpha L(w + eps v, alpha) - grad_alpha L(w - eps v, alpha)] / (2 eps),    eps = r / ||v||

    Two gradient evaluations instead of a (|alpha| x |w|) matrix; the error is O(eps^2).
    ``vector`` has the names of ``weights``; ``||v||`` is the norm of all of it together.
    """
    norm = torch.sqrt(sum((v.detach() ** 2).sum() for v in vector.values()))
    eps = float(r / norm)
    grads = []
    for sign in (+1.0, -1.0):
        moved = {name: (w + sign * eps * vector[name]).detach() for name, w in weights.items()}
        grads.append(torch.autograd.grad(loss_fn(moved, alpha), alpha)[0])
    return (grads[0] - grads[1]) / (2 * eps)


class Architect:
    """The alpha step of DARTS: Adam on alpha with the first- or second-order gradient.

    Args:
        model: a module with an ``alpha`` parameter (the architecture); every other parameter is a weight.
        w_optimizer: the weights' ``torch.optim.SGD``; the unrolled step reads its momentum buffers,
            ``momentum`` and ``weight_decay``, so w' is exactly the step it will take next (without clipping).
        order: 1 (xi = 0: the gradient at the current weights) or 2 (at the unrolled weights, eq. 7).
        lr, betas, weight_decay: alpha's Adam, the reference defaults 3e-4, (0.5, 0.999), 1e-3.
        criterion: the loss of ``(logits, targets)``.
        r: the finite difference's step is ``r / ||grad_w' L_val||`` (0.01 in the paper).
    """

    def __init__(self, model: nn.Module, w_optimizer: torch.optim.Optimizer, order: int = 1, lr: float = 3e-4,
                 betas: tuple[float, float] = (0.5, 0.999), weight_decay: float = 1e-3,
                 criterion: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = F.cross_entropy, r: float = 1e-2):
        if order not in (1, 2):
            raise ValueError(f"order must be 1 or 2, got {order!r}")
        self.model, self.w_optimizer, self.order, self.criterion, self.r = model, w_optimizer, order, criterion, r
        self.optimizer = torch.optim.Adam([model.alpha], lr=lr, betas=betas, weight_decay=weight_decay)

    def weights(self) -> dict[str, torch.Tensor]:
        """The model's weights w by name (every parameter but alpha)."""
        return {name: p for name, p in self.model.named_parameters() if name != "alpha"}

    def loss_fn(self, x: torch.Tensor, y: torch.Tensor) -> LossFn:
        """``(weights, alpha) -> loss on (x, y)``, evaluated with ``torch.func.functional_call``. It runs on
        copies of the buffers, so the extra forward passes leave BatchNorm's running statistics alone."""
        buffers = {name: b.clone() for name, b in self.model.named_buffers()}

        def loss(weights: dict[str, torch.Tensor], alpha: torch.Tensor) -> torch.Tensor:
            return self.criterion(functional_call(self.model, {**weights, **buffers, "alpha": alpha}, (x,)), y)
        return loss

    def unrolled_weights(self, x: torch.Tensor, y: torch.Tensor, eta: float) -> dict[str, torch.Tensor]:
        """w' = w - eta * (momentum * buffer + grad_w L_train(w, alpha) + weight_decay * w): the SGD step
        the weight optimizer takes next (``architect.py::_compute_unrolled_model``), detached."""
        group = self.w_optimizer.param_groups[0]
        momentum, decay = group.get("momentum", 0.0), group.get("weight_decay", 0.0)
        weights = self.weights()
        grads = torch.autograd.grad(self.loss_fn(x, y)(weights, self.model.alpha.detach()), list(weights.values()))
        unrolled = {}
        for (name, w), g in zip(weights.items(), grads):
            buffer = self.w_optimizer.state.get(w, {}).get("momentum_buffer")
            moment = momentum * buffer if buffer is not None else torch.zeros_like(w)
            unrolled[name] = (w - eta * (moment + g + decay * w)).detach()
        return unrolled

    def gradient(self, x_train: torch.Tensor, y_train: torch.Tensor, x_val: torch.Tensor, y_val: torch.Tensor,
                 eta: float) -> torch.Tensor:
        """The architecture gradient: ``grad_alpha L_val(w, alpha)`` (first order) or eq. 7 (second order)."""
        alpha = self.model.alpha
        if self.order == 1:
            return torch.autograd.grad(self.loss_fn(x_val, y_val)(self.weights(), alpha), alpha)[0]
        unrolled = {name: w.requires_grad_(True) for name, w in self.unrolled_weights(x_train, y_train, eta).items()}
        dalpha, *dw = torch.autograd.grad(self.loss_fn(x_val, y_val)(unrolled, alpha), [alpha, *unrolled.values()])
        vector = dict(zip(unrolled, dw))                                # grad_w' L_val(w', alpha)
        weights = {name: w.detach() for name, w in self.weights().items()}
        implicit = hessian_vector_product(self.loss_fn(x_train, y_train), weights, alpha, vector, self.r)
        return dalpha - eta * implicit

    def step(self, x_train: torch.Tensor, y_train: torch.Tensor, x_val: torch.Tensor, y_val: torch.Tensor,
             eta: float) -> None:
        """One Adam step on alpha along ``gradient(...)``; ``eta`` is the weights' current learning rate."""
        grad = self.gradient(x_train, y_train, x_val, y_val, eta)
        self.optimizer.zero_grad()
        self.model.alpha.grad = grad
        self.optimizer.step()


# --- 4) the search loop (quark0/darts's train_search.py) ---------------------------------------------

@dataclass
class SearchResult:
    """What one DARTS search returns. Lists have one entry per epoch run."""

    config: Config                               # the derived cell (with the remedy: the one it kept)
    genotypes: list[Config]                      # the cell derived after each epoch
    alphas: np.ndarray                           # (epochs + 1, 6, n_ops): softmax(alpha) at start and per epoch
    parameter_free: list[int]                    # parameter-free operations of each epoch's cell
    train_loss: list[float]                      # mean weight-step loss of each epoch
    val_accuracy: list[float]                    # the supernet's accuracy on the alpha half after each epoch
    stopped_at: int | None = None                # the epoch at which the remedy stopped, else None
    seconds: float = 0.0
    info: dict[str, Any] = field(default_factory=dict)



def darts_plus_epoch(parameter_free: list[int], threshold: int, check_from: int = 1) -> int | None:
    """DARTS+'s stopping rule (Liang et al. 2019), on the parameter-free counts of the cells derived after
    epochs 1, 2, ...: the first epoch, from ``check_from`` on, whose cell has ``threshold`` or more
    parameter-free operations (1-based), or ``None`` if there is none."""
    for epoch, count in enumerate(parameter_free, start=1):
        if epoch >= check_from and count >= threshold:
            return epoch
    return None


def darts_plus_cell(genotypes: list[Config], stopped_at: int | None, warmup_epochs: int = 0) -> Config:
    """The cell a search returns: the last one if it was not stopped; if the rule fired at epoch t, the
    cell of epoch t - 1 (the one before the parameter-free operations took over), unless alpha had not
    moved yet by then (t - 1 <= ``warmup_epochs``: that cell is the random start's), then epoch t's."""
    if stopped_at is None:
        return genotypes[-1]
    return genotypes[stopped_at - 2] if stopped_at - 1 > warmup_epochs else genotypes[stopped_at - 1]


def darts_plus(result: SearchResult, threshold: int, check_from: int = 1) -> tuple[Config, int | None]:
    """The cell DARTS+ would have returned, read off a search run *without* the rule: with the same seed
    the search is the same up to the epoch where the rule fires (the rule only stops it), so one plain
    run gives both answers. Returns ``(cell, stopped_at)``; ``search(stop_at_parameter_free=threshold,
    check_from=check_from, ...)`` with that run's other arguments returns the same."""
    stopped_at = darts_plus_epoch(result.parameter_free, threshold, check_from)
    return darts_plus_cell(result.genotypes, stopped_at, result.info.get("warmup_epochs", 0)), stopped_at


def split_in_halves(data: Any, seed: int, device: torch.device, train_size: int | None = None
                    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The training split on ``device`` and a seeded split of (its first ``train_size`` shuffled) rows
    into two halves: one trains the weights, the other the architecture (Liu et al. 2019, section 3)."""
    shuffled = np.random.default_rng(seed).permutation(len(data.X_train))[:train_size]
    half = len(shuffled) // 2
    X = torch.as_tensor(np.asarray(data.X_train), dtype=torch.float32, device=device)
    y = torch.as_tensor(np.asarray(data.y_train), dtype=torch.long, device=device)
    return X, y, torch.as_tensor(shuffled[:half], device=device), torch.as_tensor(shuffled[half:], device=device)

def search(data: Any = None, epochs: int = 20, order: int = 1, seed: int = 0,
           stop_at_parameter_free: int | None = None, channels: int = 8, cells_per_stage: int = 1,
           stages: int = 3, stem_stride: int = 2, batch_size: int = 64, lr: float = 0.025, lr_min: float = 1e-3,
           momentum: float = 0.9, weight_decay: float = 3e-4, grad_clip: float = 5.0, alpha_lr: float = 3e-4,
           alpha_weight_decay: float = 1e-3, train_size: int | None = None, warmup_epochs: int = 0,
           check_from: int = 1, device: torch.device | None = None) -> SearchResult:
    """Run DARTS on MNIST-1D's training split (default ``minilib.data.load_mnist1d()``).

    The training split is cut in two halves by ``seed`` (``train_portion = 0.5``): weights learn on
    the first, alpha on the second. Each step is one alpha step (``Architect``) then one SGD step
    on the weights (momentum, weight decay, gradient clipping, a cosine learning rate over
    ``epochs`` epochs): the reference defaults, on the benchmark's network sizes.

    ``stop_at_parameter_free=k`` is DARTS+'s early stopping: after each epoch from ``check_from`` on,
    if the derived cell has k or more parameter-free operations, stop and return the cell derived one
    epoch before (or that cell itself if alpha did not move in the epoch before). ``None`` searches
    all ``epochs``. Give the rule a few epochs (``check_from``): the first cells are derived from an
    alpha that is still almost its random start, with about 3 parameter-free operations of 6.

    ``warmup_epochs``: train only the weights for that many epochs before alpha moves (the warm-up of
    P-DARTS and PC-DARTS: parameter-free operations learn fastest at the start, so an early alpha
    favours them).

    ``train_size`` uses only that many training examples (drawn by ``seed``, then halved): a small
    training split is one way to provoke the collapse sooner (REFERENCES §10).
    """
    from minilib.data import load_mnist1d
    from minilib.train import get_device

    data = data if data is not None else load_mnist1d()
    device = device if device is not None else get_device()
    start = time.perf_counter()
    X, y, w_idx, a_idx = split_in_halves(data, seed, device, train_size)
    half = len(w_idx)

    model = SearchNetwork(channels, cells_per_stage, stages, int(data.n_classes or int(y.max()) + 1), stem_stride,
                          seed=seed).to(device)
    w_optimizer = torch.optim.SGD(model.weight_parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(w_optimizer, T_max=epochs, eta_min=lr_min)
    architect = Architect(model, w_optimizer, order=order, lr=alpha_lr, weight_decay=alpha_weight_decay)
    generator = torch.Generator().manual_seed(seed)

    alphas = [F.softmax(model.alpha, dim=-1).detach().cpu().numpy()]
    genotypes: list[Config] = []
    result = SearchResult(config={}, genotypes=genotypes, alphas=np.empty(0), parameter_free=[], train_loss=[],
                          val_accuracy=[])
    steps = half // batch_size
    for epoch in range(1, epochs + 1):
        model.train()
        eta = w_optimizer.param_groups[0]["lr"]
        w_perm = w_idx[torch.randperm(half, generator=generator).to(device)]
        a_perm = a_idx[torch.randperm(len(a_idx), generator=generator).to(device)]
        losses = []
        for k in range(steps):
            wb, ab = w_perm[k * batch_size:(k + 1) * batch_size], a_perm[k * batch_size:(k + 1) * batch_size]
            if epoch > warmup_epochs:
                architect.step(X[wb], y[wb], X[ab], y[ab], eta)        # 1) alpha on the alpha half
            w_optimizer.zero_grad()                                    # 2) w on the weight half
            loss = F.cross_entropy(model(X[wb]), y[wb])
            loss.backward()                                            # (the alpha.grad it fills is unused)
            nn.utils.clip_grad_norm_(model.weight_parameters(), grad_clip)
            w_optimizer.step()
            losses.append(loss.item())
        scheduler.step()

        model.eval()
        with torch.no_grad():
            accuracy = (model(X[a_idx]).argmax(dim=1) == y[a_idx]).float().mean().item()
        alphas.append(F.softmax(model.alpha, dim=-1).detach().cpu().numpy())
        genotypes.append(derive(model.alpha, model.ops))
        result.parameter_free.append(parameter_free_count(genotypes[-1]))
        result.train_loss.append(float(np.mean(losses)))
        result.val_accuracy.append(accuracy)
        if stop_at_parameter_free is not None \
                and darts_plus_epoch(result.parameter_free, stop_at_parameter_free, check_from) == epoch:
            result.stopped_at = epoch
            break

    result.alphas = np.stack(alphas)
    result.config = darts_plus_cell(genotypes, result.stopped_at, warmup_epochs)
    result.seconds = time.perf_counter() - start
    result.info = {"order": order, "seed": seed, "epochs": epochs, "steps_per_epoch": steps,
                   "stop_at_parameter_free": stop_at_parameter_free, "warmup_epochs": warmup_epochs,
                   "check_from": check_from}
    return result


# --- 5) where a derived cell lands in the tabular benchmark --------------------------------------------

def evaluate(benchmark: Any, config: Config) -> dict[str, float]:
    """A derived cell's true test accuracy (the table, not the supernet), its percentile in the
    benchmark and its share of parameter-free operations."""
    return {"test_accuracy": 1.0 - benchmark.test_error(config),
            "percentile": benchmark.percentile(config, "test_error"),
            "parameter_free_share": parameter_free_count(config) / len(EDGES)}
