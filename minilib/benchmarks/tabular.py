"""A tabular HPO benchmark the book builds itself: every MLP of a small grid, trained on MNIST-1D.

Comparing HPO methods fairly needs many repetitions (20 seeds or more) of whole searches,
and each search trains hundreds of networks. A *tabular benchmark* trains every
configuration of a finite search space once, stores its learning curve, and answers a
search's question "what is the validation error of config x after b epochs?" by a table
lookup. A whole Hyperband run then takes milliseconds, and the cost it *would* have taken
is still known: the stored training seconds of every epoch (Klein & Hutter 2019,
"Tabular benchmarks for joint architecture and hyperparameter optimization", do the same).

What is stored (``datasets/tabular_mnist1d.npz``, built by ``datasets/build_tabular_mnist1d.py``):
every configuration of ``SPACE`` (2016 MLPs) x 2 training seeds x ``MAX_EPOCHS`` = 27 epochs,
with a point after every third of an epoch (``EVALS_PER_EPOCH`` = 3, so 81 points per curve):
validation and test loss and accuracy, training loss, and the seconds each part took (one CPU
thread). The smallest budget is therefore 1/3 epoch and the largest 27, a ratio of 81 = 3^4:
Hyperband with eta = 3 gets five brackets, as in Table 1 of Li et al. (2018).
``train_config`` is the function that produced each entry; calling it again with the same
seed on a CPU with one thread gives the same numbers.

Usage::

    bench = load_tabular_mnist1d()               # averaged over the two training seeds
    err = bench.objective(config, budget=9)      # validation error after 9 epochs
    err = bench.objective(config, budget=1 / 3)  # ... after the first third of epoch 1
    bench.elapsed                                # simulated seconds spent so far
    bench.regret(err)                            # err - best achievable validation error

Chapter 04 ("Multi-fidelity HPO") uses it for every comparison over seeds.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from minilib.benchmarks.storage import decode_metrics, encode_metrics
from minilib.space import Choice, Config, Int, Space

TABULAR_FILE = Path(__file__).resolve().parent.parent.parent / "datasets" / "tabular_mnist1d.npz"
MAX_EPOCHS = 27
EVALS_PER_EPOCH = 3          # the curves have a point every third of an epoch: budgets 1/3, 2/3, 1, ...
MIN_BUDGET = 1 / EVALS_PER_EPOCH
TRAIN_SEEDS = (0, 1)

#: the grid every configuration of which is in the table (7 * 4 * 3 * 3 * 2 * 4 = 2016 MLPs);
#: wide ranges, as a practitioner sets them before knowing what works (LCBench's are similar)
SPACE = Space({
    "lr": Choice([1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1]),   # Adam's learning rate
    "width": Choice([16, 32, 64, 128]),                         # units per hidden layer
    "depth": Int(1, 3),                                          # hidden layers
    "dropout": Choice([0.0, 0.25, 0.5]),
    "batch_size": Choice([64, 256]),
    "weight_decay": Choice([0.0, 1e-4, 1e-3, 1e-2]),             # L2 penalty added to Adam's gradient
})

#: the per-epoch arrays of one training run (and of the table, with leading axes config x seed)
METRICS = ("val_loss", "val_accuracy", "test_loss", "test_accuracy", "train_loss", "seconds")


# --- 1) producing one entry: the training run ----------------------------------------------------

def train_config(config: Config, epochs: int = MAX_EPOCHS, seed: int = 0, data: Any = None,
                 device: torch.device | None = None, evals_per_epoch: int = 1) -> dict[str, np.ndarray]:
    """Train the MLP of ``config`` on MNIST-1D for ``epochs`` epochs; per-epoch metrics.

    The same function fills the table and serves live searches (``objective(config, budget)``
    = ``1 - train_config(config, budget)["val_accuracy"][-1]``). ``seed`` fixes the initial
    weights, the dropout masks and the mini-batch order. With ``device=cpu`` and one torch
    thread the result is reproducible bit for bit on the same machine.

    Returns a dict of float arrays of length ``epochs * evals_per_epoch`` (keys: ``METRICS``):
    one point after each epoch, or after each of its ``evals_per_epoch`` parts (see
    ``minilib.train.fit``); ``seconds`` is the training time of each part including the
    validation pass, not the test pass.
    """
    from minilib.data import load_mnist1d
    from minilib.models import make_mlp
    from minilib.train import get_device

    SPACE.validate(config)
    if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or epochs < 1:
        raise ValueError(f"epochs must be a positive integer, got {epochs!r}")
    data = data if data is not None else load_mnist1d()
    device = device if device is not None else get_device()
    # The table was built when make_mlp(seed=...) reseeded the global RNG and the dropout masks
    # continued that stream; fit's rng_state reproduces exactly that order of random numbers.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = make_mlp(data.n_features, data.n_classes, width=config["width"], depth=config["depth"],
                         dropout=config["dropout"])
        dropout_stream = torch.get_rng_state()
    return fit_with_test_curves(model, data, device, epochs=int(epochs), lr=config["lr"],
                                batch_size=config["batch_size"], weight_decay=config["weight_decay"],
                                optimizer="adam", seed=seed, evals_per_epoch=evals_per_epoch,
                                rng_state=dropout_stream)


def fit_with_test_curves(model: torch.nn.Module, data: Any, device: torch.device, **fit_options: Any
                         ) -> dict[str, np.ndarray]:
    """``minilib.train.fit`` on ``data``'s training split that also records the test loss and accuracy
    after each record (outside the timed part): the curves a benchmark table stores (``METRICS``)."""
    from minilib.train import evaluate, fit

    X_test = torch.as_tensor(data.X_test, dtype=torch.float32, device=device)
    y_test = torch.as_tensor(data.y_test, dtype=torch.long, device=device)
    test_loss, test_accuracy = [], []

    def on_epoch(record: int, history: Any) -> None:
        metrics = evaluate(model, X_test, y_test, device=device)  # not counted in history.seconds
        test_loss.append(metrics["loss"])
        test_accuracy.append(metrics["accuracy"])

    history = fit(model, data.X_train, data.y_train, data.X_val, data.y_val, device=device, on_epoch=on_epoch,
                  **fit_options)
    out = history.as_dict()
    out.update(test_loss=test_loss, test_accuracy=test_accuracy)
    return {key: np.asarray(out[key], dtype=np.float64) for key in METRICS}


# --- 2) the table ---------------------------------------------------------------------------------

def all_configs(space: Space = SPACE) -> list[Config]:
    """Every configuration of the grid, in table order (the last dimension varies fastest)."""
    return space.grid({name: int(dim.size()) for name, dim in space.dimensions.items()})


class TabularBenchmark:
    """Look up learning curves instead of training; count the simulated training time.

    Args:
        tables: ``{metric: array (n_configs, n_seeds, n_epochs)}`` for every metric in ``METRICS``.
        space: the grid; row ``i`` of each table belongs to ``all_configs(space)[i]``.
        seed: ``None`` averages the training seeds (a smoother, less noisy objective);
            an integer picks that training seed's curves (one real training run per config).
        evals_per_epoch: points per epoch on the stored curves (3: after 1/3, 2/3, 1, 4/3, ...
            epochs), so budgets are multiples of ``min_budget = 1 / evals_per_epoch`` epochs.

    Budgets are in epochs: ``budget=9`` means "trained for 9 epochs", ``budget=1/3`` "for the
    first third of the first epoch's mini-batches". The objective returns the *validation
    error* ``1 - accuracy``. Each call adds the stored seconds of the curve up to ``budget``
    to ``elapsed``: the cost of training the config from scratch to ``budget`` epochs. A
    searcher that continues a run from a checkpoint would pay only the new part:
    ``cost(config, budget, from_budget=...)`` gives that.
    """

    def __init__(self, tables: dict[str, np.ndarray], space: Space = SPACE, seed: int | None = None,
                 info: dict[str, Any] | None = None, evals_per_epoch: int = 1):
        missing = [m for m in METRICS if m not in tables]
        if missing:
            raise ValueError(f"tables lack the metrics {missing}")
        self.space = space
        self.configs = all_configs(space)
        shapes = {tables[m].shape for m in METRICS}
        if len(shapes) != 1 or len(next(iter(shapes))) != 3 or next(iter(shapes))[0] != len(self.configs):
            raise ValueError(f"tables must all have shape (n_configs={len(self.configs)}, n_seeds, n_points); "
                             f"got {sorted(shapes)}")
        self.tables = {m: np.asarray(tables[m], dtype=np.float64) for m in METRICS}
        self.n_configs, self.n_seeds, self.n_points = next(iter(shapes))
        if isinstance(evals_per_epoch, bool) or not isinstance(evals_per_epoch, (int, np.integer)) \
                or evals_per_epoch < 1 or self.n_points % evals_per_epoch:
            raise ValueError(f"evals_per_epoch must be a positive integer that divides the {self.n_points} "
                             f"points of each curve, got {evals_per_epoch!r}")
        self.evals_per_epoch = int(evals_per_epoch)
        self.max_budget = self.n_points // self.evals_per_epoch      # epochs
        self.min_budget = 1 / self.evals_per_epoch
        if seed is not None and not (isinstance(seed, (int, np.integer)) and 0 <= seed < self.n_seeds):
            raise ValueError(f"seed must be None (average) or an integer in [0, {self.n_seeds}), got {seed!r}")
        self.seed = seed
        self.info = dict(info or {})
        self._index = {self._key(c): i for i, c in enumerate(self.configs)}
        self._val_error, self._seconds = self.curve("val_error"), self.curve("seconds")
        self.elapsed = 0.0      # simulated training seconds of every objective call so far
        self.n_calls = 0

    # --- indexing -------------------------------------------------------------------------
    @staticmethod
    def _key(config: Config) -> str:
        return json.dumps(config, sort_keys=True)

    def index(self, config: Config) -> int:
        """Row of ``config`` in the table (``ValueError`` if it is not a grid point)."""
        self.space.validate(config)
        return self._index[self._key(config)]

    def _points(self, budget: Any) -> int:
        """Number of curve points up to ``budget`` epochs. A budget must be one of ``budgets``,
        ``k / evals_per_epoch`` for a whole k, compared with ``==``: with 3 points per epoch
        1/3, 1 and 9.0 are accepted, 0.5 and 0.333333333333 are not. The multi-fidelity
        searchers compute their budgets exactly (``minilib.hpo.successive_halving.rung_budget``),
        so no tolerance is needed."""
        try:
            epochs = float(budget)
        except (TypeError, ValueError):
            raise TypeError(f"budget must be a number of epochs, got {budget!r}") from None
        points = epochs * self.evals_per_epoch
        k = round(points) if np.isfinite(points) else 0
        if not 1 <= k <= self.n_points or k / self.evals_per_epoch != epochs:
            step = "a whole number of" if self.evals_per_epoch == 1 else f"a multiple of 1/{self.evals_per_epoch}"
            raise ValueError(f"budget must be {step} epochs in [{self.min_budget:.4g}, {self.max_budget}], "
                             f"got {budget!r}")
        return k

    def column(self, budget: Any) -> int:
        """Column of ``curve(...)`` that holds the value after ``budget`` epochs."""
        return self._points(budget) - 1

    @property
    def budgets(self) -> np.ndarray:
        """The budget (epochs) of each column of ``curve(...)``: 1/3, 2/3, 1, ... with 3 points per epoch."""
        return np.arange(1, self.n_points + 1) / self.evals_per_epoch

    def curve(self, metric: str = "val_error") -> np.ndarray:
        """``(n_configs, n_points)`` array of a metric (``val_error``, ``test_error`` or one of
        ``METRICS``), for this benchmark's seed or averaged over seeds; ``budgets`` labels the columns."""
        if metric in ("val_error", "test_error"):
            table = 1.0 - self.tables[metric.replace("error", "accuracy")]
        elif metric in self.tables:
            table = self.tables[metric]
        else:
            raise ValueError(f"unknown metric {metric!r}; use val_error, test_error or one of {METRICS}")
        return table.mean(axis=1) if self.seed is None else table[:, self.seed]

    # --- the objective ----------------------------------------------------------------------
    def lookup(self, config: Config, budget: Any = None) -> float:
        """Validation error of ``config`` after ``budget`` epochs (default: all), free of charge."""
        points = self.n_points if budget is None else self._points(budget)
        return float(self._val_error[self.index(config), points - 1])

    def objective(self, config: Config, budget: Any = None) -> float:
        """Validation error of ``config`` after ``budget`` epochs (default: all); adds its cost
        (training from scratch) to ``elapsed``."""
        value = self.lookup(config, budget)
        self.elapsed += self.cost(config, self.max_budget if budget is None else budget)
        self.n_calls += 1
        return value

    __call__ = objective

    def cost(self, config: Config, budget: Any, from_budget: Any = 0) -> float:
        """Stored training seconds of ``config`` from ``from_budget`` to ``budget`` epochs."""
        points = self._points(budget)
        start = 0 if from_budget in (0, None) else self._points(from_budget)
        if start > points:
            raise ValueError(f"from_budget ({from_budget}) is larger than budget ({budget})")
        return float(self._seconds[self.index(config), start:points].sum())

    def test_error(self, config: Config, budget: Any = None) -> float:
        """Test error of ``config`` after ``budget`` epochs (for reporting only, never for tuning)."""
        points = self.n_points if budget is None else self._points(budget)
        return float(self.curve("test_error")[self.index(config), points - 1])

    def reset(self) -> None:
        """Set the simulated clock and the call counter back to zero (before a new search)."""
        self.elapsed, self.n_calls = 0.0, 0

    # --- the answers a comparison needs -----------------------------------------------------
    @property
    def best_value(self) -> float:
        """The smallest validation error at the full budget: the optimum for regret."""
        return float(self._val_error[:, -1].min())

    @property
    def best_config(self) -> Config:
        return self.configs[int(np.argmin(self._val_error[:, -1]))]

    def regret(self, value: Any) -> Any:
        """Simple regret ``value - best_value`` (works on arrays too)."""
        return np.asarray(value, dtype=float) - self.best_value if np.ndim(value) else float(value) - self.best_value

    def trajectory(self, trials: list[Any]) -> tuple[np.ndarray, np.ndarray]:
        """Regret of the incumbent over (simulated) time, from finished trials with ``meta["end"]``.

        After each result the incumbent is the best configuration among the results on the
        largest budget seen so far (as ``Study.best_trial`` picks it); its regret is its
        *full-budget* validation error minus ``best_value``: what you would get if you stopped
        the search then and trained the incumbent to the end. Returns ``(end_times, regrets)``.
        """
        done = sorted((t for t in trials if t.status != "pending"), key=lambda t: (t.meta["end"], t.number))
        times, regrets = [], []
        top_budget, best = -np.inf, None
        for t in done:
            budget = self.max_budget if t.budget is None else t.budget
            if not t.ok:
                pass
            elif budget > top_budget or (budget == top_budget and t.value < best[0]):
                top_budget, best = budget, (t.value, t.config)
            if best is not None:
                times.append(t.meta["end"])
                regrets.append(self.lookup(best[1]) - self.best_value)
        return np.array(times), np.array(regrets)

    def __repr__(self) -> str:
        seed = "mean of seeds" if self.seed is None else f"seed {self.seed}"
        per_epoch = "" if self.evals_per_epoch == 1 else f" ({self.evals_per_epoch} points per epoch)"
        return (f"TabularBenchmark({self.n_configs} configs x {self.n_seeds} seeds x {self.max_budget} epochs"
                f"{per_epoch}, {seed}, best val error {self.best_value:.4f})")


def step_values(times: np.ndarray, values: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Evaluate the step function "``values[k]`` from ``times[k]`` on" at each point of ``grid``
    (NaN before the first step): puts any-time curves of several runs on one time axis."""
    idx = np.searchsorted(np.asarray(times), np.asarray(grid), side="right") - 1
    out = np.asarray(values, dtype=float)[np.maximum(idx, 0)] if len(values) else np.full(len(grid), np.nan)
    return np.where(idx >= 0, out, np.nan)


def anytime_regret(make_searcher: Any, benchmark: TabularBenchmark, seeds: Any, time_grid: Any,
                   n_workers: int = 1, resume: bool = False) -> np.ndarray:
    """Regret-vs-simulated-time curves, one row per seed: ``(len(seeds), len(time_grid))``.

    ``make_searcher(seed)`` builds a fresh searcher; each runs on ``n_workers`` simulated
    workers (``minilib.hpo.parallel.simulate``) until ``time_grid[-1]`` simulated seconds.
    """
    from minilib.hpo.parallel import simulate

    grid = np.asarray(time_grid, dtype=float)
    rows = []
    for seed in seeds:
        study = simulate(make_searcher(seed), benchmark, n_workers=n_workers, time_limit=float(grid[-1]),
                         resume=resume)
        rows.append(step_values(*benchmark.trajectory(study.trials), grid))
    return np.array(rows)


def incumbents_by_evaluations(make_searcher: Any, benchmark: TabularBenchmark, seeds: Any,
                              n_evaluations: int) -> np.ndarray:
    """Row of the incumbent (the best model so far by the search's own objective, the full-budget
    validation error) after each evaluation, one line per seed: ``(len(seeds), n_evaluations)``
    integers (``-1`` while every model so far failed).

    ``make_searcher(seed)`` builds a fresh searcher on ``benchmark.space``; ``minilib.minimize``
    runs it for ``n_evaluations`` table lookups (``benchmark.objective``, which also counts the
    simulated training time). ``regret_by_evaluations`` turns the rows into regret curves.
    """
    from minilib.study import minimize

    lines = []
    for seed in seeds:
        study = minimize(benchmark.objective, benchmark.space, make_searcher(seed), n_trials=n_evaluations,
                         progress=False)
        line, best_row, best_error = [], -1, np.inf
        for trial in study.trials:
            if trial.ok and trial.value < best_error:
                best_row, best_error = benchmark.index(trial.config), trial.value
            line.append(best_row)
        lines.append(line)
    return np.array(lines)


def regret_by_evaluations(make_searcher: Any, benchmark: TabularBenchmark, seeds: Any, n_evaluations: int,
                          metric: str = "val_error") -> np.ndarray:
    """Regret of the incumbent after each evaluation, one row per seed: ``(len(seeds), n_evaluations)``.

    Entry ``[s, k]`` is the final ``metric`` of the best of the first k + 1 models (chosen by
    validation error, as the search sees it) minus the best final ``metric`` in the table: the
    "regret vs models evaluated" curves of NAS-Bench-201's comparisons. ``metric="test_error"``
    reports the test regret of the same incumbents (for reporting, never for choosing). Works on
    any ``TabularBenchmark`` (the HPO table and ``minilib.benchmarks.nas.NASBenchmark``).
    """
    rows = incumbents_by_evaluations(make_searcher, benchmark, seeds, n_evaluations)
    final = benchmark.curve(metric)[:, -1]
    return np.where(rows >= 0, final[rows] - final.min(), np.nan)


def save_tables(path: str | Path, tables: dict[str, np.ndarray], info: dict[str, Any]) -> None:
    """Write the table as a compressed npz: accuracies as exact counts of correct predictions
    (uint16), losses and seconds as float16 (about 3 significant digits, plenty for a benchmark
    and half the size), the grid and a JSON ``info`` string (with ``n_val`` and ``n_test``)."""
    np.savez_compressed(path, **encode_metrics({m: tables[m] for m in METRICS}, info),
                        grid=np.array(json.dumps(all_configs(SPACE))), info=np.array(json.dumps(info)))


def load_tabular_mnist1d(path: str | Path | None = None, seed: int | None = None) -> TabularBenchmark:
    """Load ``datasets/tabular_mnist1d.npz`` (see ``datasets/README.md``) as a ``TabularBenchmark``."""
    path = Path(path) if path is not None else TABULAR_FILE
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing; build it with `python datasets/build_tabular_mnist1d.py`")
    with np.load(path) as f:
        grid = json.loads(str(f["grid"]))
        info = json.loads(str(f["info"]))
        tables = decode_metrics(f, METRICS, info)
    if grid != all_configs(SPACE):
        raise ValueError(f"{path} was built for another grid than minilib.benchmarks.tabular.SPACE")
    return TabularBenchmark(tables, SPACE, seed=seed, info=info,
                            evals_per_epoch=int(info.get("evals_per_epoch", 1)))
