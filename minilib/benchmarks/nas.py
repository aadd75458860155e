"""A tabular NAS benchmark the book builds itself: every cell of ``minilib.nas.space`` trained on MNIST-1D.

Like NAS-Bench-201 (Dong & Yang, ICLR 2020), but on MNIST-1D and a laptop CPU: each of the
unique architectures of the 5-operation cell space (one per class of ``canonical``: 4,930 of
the 15,625 cells) is trained for ``EPOCHS`` epochs with ``TRAIN_SEEDS``, and its per-epoch
validation and test accuracy and loss, training loss and training seconds are stored, with its
parameter count, FLOPs and measured CPU latency. A NAS method then "trains" an architecture
by a table lookup, and the training time it would have spent is still counted.

What is stored (``datasets/tabular_nas_mnist1d.npz``, built by ``datasets/build_tabular_nas.py``):
one row per unique architecture, in the order of ``minilib.nas.space.unique_architectures()``;
``load_tabular_nas`` spreads the rows over all 15,625 cells (isomorphic cells share a row), so the
loaded benchmark is a ``minilib.benchmarks.tabular.TabularBenchmark`` over the cell ``SPACE``
with the same interface as chapter 04's HPO table:

    bench = load_tabular_nas()                 # averaged over the training seeds
    err = bench.objective(cell, budget=3)      # validation error after 3 epochs (+ its cost)
    bench.elapsed                              # simulated training seconds so far
    bench.regret(err), bench.test_error(cell)  # for reporting, never for the search
    bench.params(cell), bench.flops(cell), bench.latency(cell)

``train_architecture`` is the function that produced every entry; calling it again with the
same seed on a CPU with one thread reproduces the stored curve. Chapter 05 ("NAS: search spaces
and evolution") builds the landscape of this table; chapters 06, 07 and 12 look their results up in it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from minilib.benchmarks.storage import decode_metrics, encode_metrics
from minilib.benchmarks.tabular import METRICS, TabularBenchmark, all_configs, fit_with_test_curves
from minilib.nas.space import SPACE, build, canonical, flops, from_string, latency, parameter_count, to_string
from minilib.space import Config, Space

NAS_FILE = Path(__file__).resolve().parent.parent.parent / "datasets" / "tabular_nas_mnist1d.npz"

# --- the training recipe of every entry (chosen by measuring a pilot; see datasets/README.md) ---
CHANNELS = 8          # C: channels of the first stage (then 2C, 4C)
CELLS_PER_STAGE = 1   # N
STAGES = 3
STEM_STRIDE = 2       # the stem halves the length 40 -> 20: half the cost, the accuracy stays
EPOCHS = 6            # the benchmark's full budget (a cosine schedule over all of them)
BATCH_SIZE = 256
LR = 0.01             # Adam, cosine-annealed to 0 over EPOCHS epochs, mini-batch by mini-batch
TRAIN_SEEDS = (0, 1)
#: architecture-level numbers stored once per row
ARCH_METRICS = ("params", "flops", "latency")


def build_network(config: Config, seed: int | None = None) -> torch.nn.Module:
    """The benchmark's network of cell ``config`` (``minilib.nas.space.build`` with the table's sizes)."""
    return build(config, channels=CHANNELS, cells_per_stage=CELLS_PER_STAGE, stages=STAGES,
                 stem_stride=STEM_STRIDE, seed=seed)


# --- 1) producing one entry --------------------------------------------------------------------

def train_architecture(config: Config, epochs: int = EPOCHS, seed: int = 0, data: Any = None,
                       device: torch.device | None = None) -> dict[str, np.ndarray]:
    """Train the network of cell ``config`` on MNIST-1D; per-epoch metrics (keys: ``METRICS``).

    ``seed`` fixes the initial weights and the mini-batch order. The learning rate follows a
    cosine from ``LR`` to 0 over ``EPOCHS`` epochs whatever ``epochs`` is, so training for 2
    epochs reproduces the first 2 points of the stored curve (NAS-Bench-201 also reads its
    short budgets off the full schedule). ``seconds`` is each epoch's training time including
    the validation pass, not the test pass.
    """
    SPACE.validate(config)
    return train_network(build_network(config, seed=seed), epochs, seed=seed, data=data, device=device)


def train_network(model: torch.nn.Module, epochs: int = EPOCHS, seed: int = 0, data: Any = None,
                  device: torch.device | None = None, lr: float = LR, schedule_epochs: int = EPOCHS
                  ) -> dict[str, np.ndarray]:
    """The table's recipe on a network you built (``train_architecture`` builds it from a cell):
    Adam, ``lr`` cosine-annealed to 0 over ``schedule_epochs`` epochs mini-batch by mini-batch,
    batch ``BATCH_SIZE``, ``epochs`` epochs. Use it to train a child that inherited its parent's
    weights (``minilib.nas.morphism``) exactly like one trained from scratch."""
    from minilib.data import load_mnist1d
    from minilib.train import get_device

    if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or not 1 <= epochs <= schedule_epochs:
        raise ValueError(f"epochs must be an integer in [1, {schedule_epochs}], got {epochs!r}")
    data = data if data is not None else load_mnist1d()
    device = device if device is not None else get_device()
    steps = schedule_epochs * -(-len(data.X_train) // BATCH_SIZE)
    return fit_with_test_curves(model, data, device, epochs=int(epochs), lr=lr, batch_size=BATCH_SIZE,
                                optimizer="adam", seed=seed,
                                scheduler=lambda opt: torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps))


def measure_architecture(config: Config, repeats: int = 30) -> dict[str, float]:
    """Parameters, FLOPs (one sequence) and median CPU latency in seconds (a batch of one
    sequence, current torch threads) of the benchmark's network of ``config``."""
    model = build_network(config, seed=0)
    return {"params": parameter_count(model), "flops": flops(model),
            "latency": latency(model, batch_size=1, repeats=repeats)}


# --- 2) the table ---------------------------------------------------------------------------------

def rows_of(space: Space = SPACE) -> tuple[list[Config], np.ndarray]:
    """``(representatives, row)``: one cell per unique architecture (its first cell in grid order)
    and, for every cell of ``all_configs(space)``, the number of its representative's row."""
    keys: dict[str, int] = {}
    representatives, row = [], []
    for config in all_configs(space):
        key = canonical(config)
        if key not in keys:
            keys[key] = len(representatives)
            representatives.append(config)
        row.append(keys[key])
    return representatives, np.array(row)


class NASBenchmark(TabularBenchmark):
    """A ``TabularBenchmark`` over the cell space whose isomorphic cells share one trained row.

    Args:
        tables: ``{metric: (n_unique, n_seeds, n_epochs)}`` for every metric in ``METRICS``, one
            row per representative of ``rows_of(space)``.
        arch: ``{"params", "flops", "latency"}: (n_unique,)`` arrays.
        seed: ``None`` averages the training seeds, an integer picks one training run.

    Every method of ``TabularBenchmark`` works on cells: ``objective(cell, budget)`` (budget in
    epochs, 1 to ``max_budget``), ``cost``, ``test_error``, ``regret``, ``trajectory``, ``curve``.
    """

    def __init__(self, tables: dict[str, np.ndarray], arch: dict[str, np.ndarray], space: Space = SPACE,
                 seed: int | None = None, info: dict[str, Any] | None = None):
        self.representatives, self.row = rows_of(space)
        n_unique = len(self.representatives)
        for name, table in list(tables.items()) + list(arch.items()):
            if np.shape(table)[0] != n_unique:
                raise ValueError(f"{name} has {np.shape(table)[0]} rows; the space has {n_unique} unique architectures")
        super().__init__({m: np.asarray(tables[m])[self.row] for m in METRICS}, space, seed=seed, info=info)
        self.n_unique = n_unique
        self.arch = {name: np.asarray(arch[name]) for name in ARCH_METRICS}
        #: the row of the full (cell-level) table that holds each representative
        self.representative_rows = np.array([self.index(c) for c in self.representatives])

    def unique_curve(self, metric: str = "val_error") -> np.ndarray:
        """``curve(metric)`` with one row per unique architecture: ``(n_unique, n_epochs)``
        (a histogram of the landscape counts each architecture once, not once per cell)."""
        return self.curve(metric)[self.representative_rows]

    def percentile(self, config: Config, metric: str = "val_error") -> float:
        """Where ``config`` lands among the unique architectures by final ``metric`` (an error):
        the percentage of them with a larger error, plus half of the ties (100 = the best). Rank by
        ``"val_error"`` to judge a search (what it could see) and by ``"test_error"`` to report a
        derived cell's true quality."""
        errors = self.unique_curve(metric)[:, -1]
        own = self.curve(metric)[self.index(config), -1]
        return 100.0 * float(np.mean(errors > own) + 0.5 * np.mean(errors == own))

    def in_top_quartile(self, config: Config, metric: str = "val_error") -> bool:
        """Is ``config``'s final ``metric`` among the best 25% of the unique architectures
        (at most the 25th percentile of their errors)?"""
        errors = self.unique_curve(metric)[:, -1]
        return bool(self.curve(metric)[self.index(config), -1] <= np.quantile(errors, 0.25))

    def params(self, config: Config) -> int:
        return int(self.arch["params"][self.row[self.index(config)]])

    def flops(self, config: Config) -> int:
        return int(self.arch["flops"][self.row[self.index(config)]])

    def latency(self, config: Config) -> float:
        """Stored CPU latency (seconds, one sequence) of ``config``'s network."""
        return float(self.arch["latency"][self.row[self.index(config)]])

    def __repr__(self) -> str:
        seed = "mean of seeds" if self.seed is None else f"seed {self.seed}"
        return (f"NASBenchmark({self.n_configs} cells = {self.n_unique} unique architectures x {self.n_seeds} "
                f"seeds x {self.max_budget} epochs, {seed}, best val error {self.best_value:.4f})")


def save_table(path: str | Path, tables: dict[str, np.ndarray], arch: dict[str, np.ndarray],
               info: dict[str, Any], space: Space = SPACE) -> None:
    """Write a table with one row per unique architecture of ``space`` (``rows_of``) as a compressed
    npz: the curves through ``minilib.benchmarks.storage``, parameters and FLOPs as integers, latency
    as float32, the representatives as NAS-Bench-201 strings and ``info`` as JSON."""
    representatives, _ = rows_of(space)
    np.savez_compressed(path, **encode_metrics({m: tables[m] for m in METRICS}, info),
                        params=np.asarray(arch["params"], dtype=np.int64),
                        flops=np.asarray(arch["flops"], dtype=np.int64),
                        latency=np.asarray(arch["latency"], dtype=np.float32),
                        archs=np.array(json.dumps([to_string(c) for c in representatives])),
                        info=np.array(json.dumps(info)))


def load_tabular_nas(path: str | Path | None = None, seed: int | None = None) -> NASBenchmark:
    """Load ``datasets/tabular_nas_mnist1d.npz`` (see ``datasets/README.md``) as a ``NASBenchmark``."""
    path = Path(path) if path is not None else NAS_FILE
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing; build it with `python datasets/build_tabular_nas.py`")
    with np.load(path) as f:
        info = json.loads(str(f["info"]))
        archs = [from_string(s) for s in json.loads(str(f["archs"]))]
        tables = decode_metrics(f, METRICS, info)
        arch = {name: f[name] for name in ARCH_METRICS}
    if [canonical(c) for c in archs] != [canonical(c) for c in rows_of(SPACE)[0]]:
        raise ValueError(f"{path} was built for another cell space than minilib.nas.space.SPACE")
    return NASBenchmark(tables, arch, SPACE, seed=seed, info=info)
