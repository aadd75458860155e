"""ENAS: one supernet whose weights every architecture of the cell space shares.

Training each sampled architecture from scratch is what makes NAS expensive. ENAS (Pham, Guan,
Zoph, Le & Dean, ICML 2018) trains *one* network that contains every candidate operation on every
edge; an architecture (a *child*) is a path through it that uses one operation per edge, and it
is evaluated with the shared weights, without training of its own. What this module offers
(chapter 06, "NAS with reinforcement learning", explains each):

1. ``SuperNetwork``: the macro skeleton of ``minilib.nas.space.CellNetwork`` in which every edge
   of every cell holds all four operations; ``supernet(x, config)`` runs the child ``config``
   through its own operations only, so a step on its loss changes only its own weights (and the
   shared stem, reductions and head). ``child_network`` copies a child's weights into a standalone
   ``CellNetwork``: the same function.
2. BatchNorm. Each child sees different inputs at the same BatchNorm, so running statistics
   accumulated while training the supernet mix all the children, and a child evaluated with them
   is normalised with the wrong mean and variance. The remedy used here (``bn="batch"``, the
   default) is DARTS's: the supernet's BatchNorms keep no running statistics and always normalise
   with the statistics of the batch at hand, in evaluation too. ``bn="running"`` keeps ordinary
   BatchNorms, to show what goes wrong; ``recalibrate`` is the other remedy (Single-Path One-Shot,
   Guo et al. 2020): recompute the running statistics for one child on training batches.
3. ``search``: ENAS's alternation, one epoch of shared weights (one child sampled per mini-batch)
   then ``controller_steps`` REINFORCE steps of the controller (``minilib.nas.reinforce``) whose
   reward is a child's accuracy on one validation mini-batch, with the shared weights. With
   ``controller=None`` children are sampled uniformly and the controller is never trained: random
   search with weight sharing (Bender et al. 2018's one-shot model; Li & Talwalkar 2019's baseline).
4. ``rank``: score candidates by shared-weight validation accuracy, best first; ``derive``
   samples candidates (from the controller, or uniformly) and ranks them. The best ones are then
   looked up in the tabular benchmark (their true accuracy: ``NASBenchmark.percentile``,
   ``NASBenchmark.in_top_quartile``)
   and the chosen one is retrained from scratch with the table's recipe
   (``minilib.benchmarks.nas.train_architecture``, which trains with ``minilib.train``).

Known finding to keep in mind (``shared/REFERENCES.md`` section 9): the shared-weight ranking
correlates only weakly with the true one, and ENAS's controller is often no better than random
search on the same supernet (Li & Talwalkar 2019; Sciuto et al. 2019).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn

from minilib.nas.reinforce import Reinforce
from minilib.nas.space import EDGES, N_NODES, OPS, SPACE, CellNetwork, edge_name, macro_skeleton, make_op
from minilib.space import Config

#: the operations with weights or a module; ``none`` is an edge left out of the sum
MODULE_OPS = tuple(op for op in OPS if op != "none")


# --- 1) the supernet -----------------------------------------------------------------------------

class SuperCell(nn.Module):
    """A cell with every operation on every edge: ``edges["0_1"]["conv3"]`` is the conv3 of edge
    0->1. ``forward(x, config)`` is ``Cell.forward`` of ``config`` with these modules."""

    def __init__(self, channels: int):
        super().__init__()
        self.edges = nn.ModuleDict({edge_name(i, j).replace("->", "_"):
                                    nn.ModuleDict({op: make_op(op, channels) for op in MODULE_OPS})
                                    for i, j in EDGES})

    def forward(self, x: torch.Tensor, config: Config) -> torch.Tensor:
        nodes = [x]
        for j in range(1, N_NODES):
            parts = [self.edges[f"{i}_{j}"][config[edge_name(i, j)]](nodes[i])
                     for i in range(j) if config[edge_name(i, j)] != "none"]
            nodes.append(torch.stack(parts).sum(dim=0) if parts else torch.zeros_like(x))
        return nodes[-1]


class SuperNetwork(nn.Module):
    """``CellNetwork``'s skeleton (stem, cells and reductions, BN-ReLU, pool, linear) with
    ``SuperCell``s; the arguments are ``CellNetwork``'s, plus ``bn`` (``"batch"`` or ``"running"``,
    see the module docstring). ``forward(x, config)``: (batch, length) -> (batch, classes)."""

    def __init__(self, channels: int = 8, cells_per_stage: int = 1, stages: int = 3, n_classes: int = 10,
                 stem_stride: int = 1, bn: str = "batch"):
        super().__init__()
        if bn not in ("batch", "running"):
            raise ValueError(f"bn must be 'batch' (batch statistics always) or 'running', got {bn!r}")
        self.bn = bn
        #: the size arguments, shared with the standalone ``CellNetwork`` of a child
        self.sizes = {"channels": channels, "cells_per_stage": cells_per_stage, "stages": stages,
                      "n_classes": n_classes, "stem_stride": stem_stride}
        self.stem, layers, c = macro_skeleton(SuperCell, channels, cells_per_stage, stages, stem_stride)
        self.cells = nn.ModuleList(layers)
        self.last = nn.Sequential(nn.BatchNorm1d(c), nn.ReLU())
        self.head = nn.Linear(c, n_classes)
        if bn == "batch":
            for m in self.modules():
                if isinstance(m, nn.BatchNorm1d):     # no running statistics: batch statistics in eval too
                    m.track_running_stats = False
                    m.running_mean = m.running_var = m.num_batches_tracked = None

    def forward(self, x: torch.Tensor, config: Config) -> torch.Tensor:
        h = self.stem(x.unsqueeze(1))                                       # (B, L) -> (B, C, L')
        for layer in self.cells:
            h = layer(h, config) if isinstance(layer, SuperCell) else layer(h)
        return self.head(self.last(h).mean(dim=2))                          # (B, classes)


def build_supernet(channels: int = 8, cells_per_stage: int = 1, stages: int = 3, n_classes: int = 10,
                   stem_stride: int = 1, bn: str = "batch", seed: int | None = None) -> SuperNetwork:
    """A ``SuperNetwork`` whose initial weights ``seed`` fixes (``minilib.models.build_seeded``)."""
    from minilib.models import build_seeded

    return build_seeded(lambda: SuperNetwork(channels, cells_per_stage, stages, n_classes, stem_stride, bn), seed)


def child_state_dict(supernet: SuperNetwork, config: Config) -> dict[str, torch.Tensor]:
    """The supernet's tensors that child ``config`` uses, under ``CellNetwork``'s names:
    ``cells.k.edges.0_1.conv3.1.weight`` becomes ``cells.k.edges.0_1.1.weight``."""
    SPACE.validate(config)
    state = {}
    for name, tensor in supernet.state_dict().items():
        parts = name.split(".")
        if parts[0] == "cells" and parts[2] == "edges":
            edge, op = parts[3], parts[4]
            if config[edge.replace("_", "->")] != op:
                continue                                   # another operation of this edge
            name = ".".join(parts[:4] + parts[5:])
        state[name] = tensor.clone()
    return state


def child_network(supernet: SuperNetwork, config: Config) -> CellNetwork:
    """A standalone ``CellNetwork`` of ``config``, of the supernet's sizes, holding the supernet's
    weights for it. With ``bn="batch"`` the supernet has no running statistics to copy: the child
    keeps fresh ones (so compare the two in train mode, or recalibrate the child)."""
    model = CellNetwork(config, **supernet.sizes).to(next(supernet.parameters()).device)
    missing, unexpected = model.load_state_dict(child_state_dict(supernet, config), strict=False)
    statistics = ("running_mean", "running_var", "num_batches_tracked")
    assert not unexpected and all(name.endswith(statistics) for name in missing), (missing, unexpected)
    return model


def recalibrate(supernet: SuperNetwork, config: Config, X: torch.Tensor, batch_size: int = 256,
                batches: int | None = None) -> None:
    """BN recalibration (Guo et al. 2020): reset every running statistic and recompute it as the
    plain average over ``batches`` training mini-batches (all when ``None``) of child ``config``.
    Only for ``bn="running"``; the weights do not change."""
    if supernet.bn != "running":
        raise ValueError("recalibrate needs a supernet with running statistics (bn='running')")
    bns = [m for m in supernet.modules() if isinstance(m, nn.BatchNorm1d)]
    momenta = [m.momentum for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None                      # None: a cumulative average instead of an EMA
    supernet.train()
    with torch.no_grad():
        for k, start in enumerate(range(0, len(X), batch_size)):
            if batches is not None and k >= batches:
                break
            supernet(X[start:start + batch_size], config)
    for m, momentum in zip(bns, momenta):
        m.momentum = momentum
    supernet.eval()


# --- 2) training the shared weights and scoring children -------------------------------------------

@torch.no_grad()
def accuracy(supernet: SuperNetwork, config: Config, X: torch.Tensor, y: torch.Tensor,
             recalibrate_on: torch.Tensor | None = None) -> float:
    """Validation accuracy of child ``config`` with the shared weights, in evaluation mode (with
    ``bn="batch"`` that still normalises with each batch's statistics). ``recalibrate_on``: training
    inputs to ``recalibrate`` on first (``bn="running"`` only)."""
    if recalibrate_on is not None:
        recalibrate(supernet, config, recalibrate_on)
    supernet.eval()
    return float((supernet(X, config).argmax(dim=1) == y).float().mean())


def train_shared_epoch(supernet: SuperNetwork, optimizer: torch.optim.Optimizer, X: torch.Tensor,
                       y: torch.Tensor, sample_child: Callable[[], Config], batch_size: int,
                       generator: torch.Generator) -> float:
    """One epoch of the shared weights: every mini-batch trains one child ``sample_child()``
    (ENAS's "sample one architecture per mini-batch"); the mean training loss is returned."""
    supernet.train()
    order = torch.randperm(len(X), generator=generator).to(X.device)
    losses = []
    for start in range(0, len(X), batch_size):
        idx = order[start:start + batch_size]
        loss = nn.functional.cross_entropy(supernet(X[idx], sample_child()), y[idx])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return float(np.mean(losses))


def search(data: Any, epochs: int, controller: Reinforce | None = None, controller_steps: int = 20,
           val_batch: int = 256, lr: float = 0.01, batch_size: int = 256,
           supernet_sizes: dict[str, Any] | None = None, bn: str = "batch", seed: int = 0,
           device: torch.device | None = None) -> dict[str, Any]:
    """ENAS's search (``controller`` a ``minilib.nas.reinforce.Reinforce`` on ``SPACE``) or, with
    ``controller=None``, random search with weight sharing (children uniform, nothing else learns).

    Each epoch: (1) one epoch of the shared weights with Adam (``lr``), a child per mini-batch,
    sampled from the controller's policy (or uniformly); (2) ``controller_steps`` controller
    updates, each rewarded by a sampled child's accuracy on one random validation mini-batch of
    ``val_batch`` sequences (ENAS's one-mini-batch reward: cheap and noisy). With ``bn="running"``
    these rewards use the mixed running statistics: the failure the remedy avoids.

    The supernet has the tabular benchmark's sizes (``minilib.benchmarks.nas``: 8 channels, stem
    stride 2, 3 stages of one cell) unless ``supernet_sizes`` overrides some of them.
    ``data`` has ``X_train, y_train, X_val, y_val`` (``minilib.data.load_mnist1d()``). Returns
    ``{"supernet", "controller", "train_loss": per epoch, "reward": per controller step,
    "epochs"}``; the controller's own ``history`` has its entropy and probabilities.
    """
    from minilib.benchmarks import nas as table
    from minilib.nas.space import sample
    from minilib.train import get_device

    device = device if device is not None else get_device()
    sizes = {"channels": table.CHANNELS, "cells_per_stage": table.CELLS_PER_STAGE, "stages": table.STAGES,
             "stem_stride": table.STEM_STRIDE, **(supernet_sizes or {})}
    supernet = build_supernet(bn=bn, seed=seed, **sizes).to(device)
    X = torch.as_tensor(data.X_train, dtype=torch.float32, device=device)
    y = torch.as_tensor(data.y_train, device=device)
    Xv = torch.as_tensor(data.X_val, dtype=torch.float32, device=device)
    yv = torch.as_tensor(data.y_val, device=device)
    optimizer = torch.optim.Adam(supernet.parameters(), lr=lr)
    generator = torch.Generator().manual_seed(seed)
    rng = np.random.default_rng(seed)

    def sample_child() -> Config:
        if controller is None:
            return sample(1, rng=rng)[0]
        with torch.no_grad():
            actions, _, _, _ = controller.policy(rng=controller.rng)
        return controller.config_of(actions)

    train_loss, rewards = [], []
    for _ in range(epochs):
        train_loss.append(train_shared_epoch(supernet, optimizer, X, y, sample_child, batch_size, generator))
        if controller is None:
            continue
        for _ in range(controller_steps):
            trial = controller.ask()
            idx = torch.as_tensor(rng.choice(len(Xv), size=min(val_batch, len(Xv)), replace=False), device=device)
            reward = accuracy(supernet, trial.config, Xv[idx], yv[idx])
            controller.tell(trial, -reward)            # searchers minimise: value = -accuracy
            rewards.append(reward)
    return {"supernet": supernet, "controller": controller, "train_loss": train_loss, "reward": rewards,
            "epochs": epochs}


# --- 3) deriving the result -----------------------------------------------------------------------

def rank(supernet: SuperNetwork, candidates: list[Config], X: Any, y: Any,
         recalibrate_on: Any = None) -> list[tuple[Config, float]]:
    """``(config, shared-weight accuracy)`` of every candidate, the most accurate first (ties keep
    the candidates' order); a candidate listed twice is scored and returned twice."""
    device = next(supernet.parameters()).device
    X, y = torch.as_tensor(X, dtype=torch.float32, device=device), torch.as_tensor(y, device=device)
    Xr = None if recalibrate_on is None else torch.as_tensor(recalibrate_on, dtype=torch.float32, device=device)
    scored = [(config, accuracy(supernet, config, X, y, Xr)) for config in candidates]
    return sorted(scored, key=lambda pair: -pair[1])


def derive(supernet: SuperNetwork, X: Any, y: Any, n: int = 100, controller: Reinforce | None = None,
           seed: int = 0, recalibrate_on: Any = None) -> list[tuple[Config, float]]:
    """ENAS's derivation (melodyguan/enas#71): sample ``n`` children from the controller's policy
    (uniformly when ``controller`` is None: random search with weight sharing), rank them with
    ``rank``; the first is the search's answer, to be retrained from scratch."""
    from minilib.nas.space import sample

    if controller is None:
        candidates = sample(n, seed=seed)
    else:
        rng = np.random.default_rng(seed)
        with torch.no_grad():
            candidates = [controller.config_of(controller.policy(rng=rng)[0]) for _ in range(n)]
    return rank(supernet, candidates, X, y, recalibrate_on)

