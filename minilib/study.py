"""Trials, studies and the ask/tell loop that every searcher in the book shares.

The protocol (scikit-optimize and Optuna call it *ask/tell*)::

    trial = searcher.ask()                 # a Trial: trial.config, trial.budget
    value = objective(trial.config)        # or objective(trial.config, trial.budget)
    searcher.tell(trial, value)            # the searcher learns from the result

Any loop can drive it: the ``minimize`` function below, a notebook cell, a pool of
worker processes. Searchers always *minimise*; ``maximize`` negates the objective for
them and records the values you returned.

``minimize`` adds what a long-running search needs: failed trials (an exception or a
NaN/inf value) are recorded and the search goes on; ``journal=path`` appends each
finished trial to a JSON-lines file, and running the same call again resumes from it.

Chapter 01 ("Grid and random search") walks through this module.
"""

from __future__ import annotations

import csv
import json
import math
import os
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from minilib.space import Config, Space

JOURNAL_VERSION = 1


@dataclass
class Trial:
    """One evaluation of one configuration (at one budget, for multi-fidelity searchers).

    ``status`` is ``"pending"`` until the result is told, then ``"ok"`` or ``"failed"``.
    ``meta`` holds what a searcher wants to remember about the trial (a bracket, a rung).
    """

    number: int
    config: Config
    budget: float | None = None
    value: float | None = None
    status: str = "pending"
    error: str | None = None
    duration: float | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _finite_or_none(value: Any) -> float | None:
    """Return ``value`` as a float if it is a finite real number, else ``None``."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


class Searcher:
    """Base class of every searcher: numbering of trials and bookkeeping of results.

    A subclass implements ``ask()``; it returns a new ``Trial`` (made with
    ``self._new_trial``), or ``None`` when it has nothing to propose: either it is
    waiting for pending results (multi-fidelity searchers) or it is done
    (``self.finished`` is then True). A subclass that learns from results overrides
    ``tell`` and calls ``super().tell(...)`` first.
    """

    #: True for searchers whose trials carry a budget (objective(config, budget)).
    multi_fidelity = False

    def __init__(self, space: Space, seed: int | None = None):
        if not isinstance(space, Space):
            raise TypeError(f"space must be a minilib.space.Space, got {type(space).__name__}")
        self.space = space
        self.seed = seed
        self.rng = np.random.default_rng(seed)
        self.trials: list[Trial] = []  # every trial asked, in order
        self.finished = False

    def ask(self) -> Trial | None:  # pragma: no cover - each searcher defines it
        raise NotImplementedError

    def _new_trial(self, config: Config, budget: float | None = None, **meta: Any) -> Trial:
        trial = Trial(number=len(self.trials), config=config, budget=budget, meta=dict(meta))
        self.trials.append(trial)
        return trial

    def tell(self, trial: Trial, value: Any, error: str | None = None) -> Trial:
        """Record the result of ``trial``. A non-finite value or an ``error`` marks it failed."""
        if trial.number >= len(self.trials) or self.trials[trial.number] is not trial:
            raise ValueError(f"trial {trial.number} was not asked from this searcher")
        if trial.status != "pending":
            raise ValueError(f"trial {trial.number} was already told (status {trial.status!r})")
        number = _finite_or_none(value)
        if error is None and number is None:
            error = f"objective returned a non-finite or non-numeric value: {value!r}"
        if error is not None:
            trial.status, trial.value, trial.error = "failed", None, error
        else:
            trial.status, trial.value = "ok", number
        return trial

    @property
    def finished_trials(self) -> list[Trial]:
        return [t for t in self.trials if t.status != "pending"]

    @property
    def pending_trials(self) -> list[Trial]:
        return [t for t in self.trials if t.status == "pending"]


class Study:
    """The record of a search: its trials and the best one.

    ``direction`` is ``"minimize"`` or ``"maximize"``; values are stored as the
    objective returned them. Failed trials are never the best. For multi-fidelity
    searches the best trial is taken among the trials at the largest budget that has
    a successful trial (a lucky result after one epoch does not count as the winner).
    """

    def __init__(self, trials: list[Trial] | None = None, direction: str = "minimize"):
        if direction not in ("minimize", "maximize"):
            raise ValueError(f"direction must be 'minimize' or 'maximize', got {direction!r}")
        self.trials: list[Trial] = list(trials or [])
        self.direction = direction

    def __repr__(self) -> str:
        n_ok = sum(t.ok for t in self.trials)
        return f"Study({len(self.trials)} trials, {n_ok} ok, direction={self.direction!r})"

    def _better(self, a: float, b: float) -> bool:
        return a < b if self.direction == "minimize" else a > b

    @property
    def best_trial(self) -> Trial:
        ok = [t for t in self.trials if t.ok]
        if not ok:
            raise ValueError(f"no successful trial among {len(self.trials)}; see each trial's .error")
        budgets = [t.budget for t in ok if t.budget is not None]
        if budgets:
            top = max(budgets)
            ok = [t for t in ok if t.budget == top]
        best = ok[0]
        for trial in ok[1:]:
            if self._better(trial.value, best.value):
                best = trial
        return best

    @property
    def best_value(self) -> float:
        return self.best_trial.value

    @property
    def best_config(self) -> Config:
        return self.best_trial.config

    def values(self) -> np.ndarray:
        """The value of each trial in order; NaN for failed ones."""
        return np.array([t.value if t.ok else np.nan for t in self.trials], dtype=float)

    def best_so_far(self) -> np.ndarray:
        """The any-time curve: best value after each trial (NaN until the first success)."""
        best, curve = math.nan, []
        for trial in self.trials:
            if trial.ok and (math.isnan(best) or self._better(trial.value, best)):
                best = trial.value
            curve.append(best)
        return np.array(curve)

    # --- export -------------------------------------------------------------------
    def to_dicts(self) -> list[dict[str, Any]]:
        return [t.to_dict() for t in self.trials]

    def to_json(self, path: str | os.PathLike) -> None:
        payload = {"direction": self.direction, "trials": self.to_dicts()}
        Path(path).write_text(json.dumps(payload, indent=1))

    @classmethod
    def from_json(cls, path: str | os.PathLike) -> Study:
        payload = json.loads(Path(path).read_text())
        return cls([Trial(**t) for t in payload["trials"]], direction=payload["direction"])

    def to_csv(self, path: str | os.PathLike) -> None:
        """One row per trial; each hyperparameter gets its own column."""
        names: list[str] = []
        for trial in self.trials:
            names += [k for k in trial.config if k not in names]
        columns = ["number", *names, "budget", "value", "status", "duration", "error"]
        with open(path, "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(columns)
            for t in self.trials:
                writer.writerow([t.number, *(t.config.get(k, "") for k in names), t.budget, t.value,
                                 t.status, t.duration, t.error or ""])


# --- the journal: resumable searches ------------------------------------------------

def _json_config(config: Config) -> Config:
    try:
        return json.loads(json.dumps(config))
    except TypeError as exc:
        raise TypeError(f"journal needs JSON-serialisable configs; {config!r} is not ({exc})") from None


def _read_journal(path: Path) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """Read a journal; a last line cut off by a crash is ignored."""
    if not path.exists():
        return None, []
    lines = path.read_text().splitlines()
    records = []
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            if i == len(lines) - 1:
                break  # a partly written last line: the trial is evaluated again
            raise ValueError(f"journal {path} is corrupted at line {i + 1}") from None
    if not records:
        return None, []
    header, trials = records[0], records[1:]
    if header.get("journal") != "minilib":
        raise ValueError(f"{path} is not a minilib journal (first line: {lines[0][:80]!r})")
    return header, trials


class _Journal:
    def __init__(self, path: str | os.PathLike, header: dict[str, Any]):
        self.path = Path(path)
        old_header, self.records = _read_journal(self.path)
        if old_header is not None:
            for key in ("searcher", "direction"):
                if old_header.get(key) != header.get(key):
                    raise ValueError(
                        f"journal {self.path} was written by a search with {key}={old_header.get(key)!r}, "
                        f"this one has {key}={header.get(key)!r}; use another journal file")
            self.header = old_header
        else:
            self.header = header
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.write_text(json.dumps(header) + "\n")
        self._rewrite()  # drops a torn last line, so that appends start on a fresh line

    def set_seed(self, seed: int) -> None:
        self.header["seed"] = seed
        self._rewrite()

    def _rewrite(self) -> None:
        self.path.write_text("".join(json.dumps(r) + "\n" for r in [self.header, *self.records]))

    def append(self, trial: Trial) -> None:
        record = trial.to_dict()
        record["config"] = _json_config(trial.config)
        with open(self.path, "a") as f:
            f.write(json.dumps(record) + "\n")
            f.flush()
            os.fsync(f.fileno())


def _journal_seed(log: _Journal, seed: int | None, by_name: bool) -> int | None:
    """The seed a journaled search runs with: a resumed search must replay the recorded one."""
    recorded = log.header["seed"]
    if seed is None and by_name:
        if recorded is None:  # a new journal: draw a seed and record it, so that a resume can replay it
            recorded = int(np.random.default_rng().integers(2**31))
            log.set_seed(recorded)
        return recorded
    if recorded != seed:
        raise ValueError(f"journal {log.path} was written with seed={recorded!r}, this search has seed={seed!r}; "
                         "pass the same seed (or none) or use another journal file")
    return seed


# --- the loop ---------------------------------------------------------------------

def make_searcher(searcher: str | Searcher, space: Space, seed: int | None) -> Searcher:
    """Turn a searcher name (``"random"``, ``"grid"``, …) into a searcher object."""
    if isinstance(searcher, Searcher):
        if searcher.space.dimensions != space.dimensions:
            raise ValueError("the searcher was built for another Space than the one passed")
        return searcher
    from minilib.hpo import SEARCHERS  # imported here: minilib.hpo imports this module

    if searcher not in SEARCHERS:
        raise ValueError(f"unknown searcher {searcher!r}; choose one of {sorted(SEARCHERS)} or pass a Searcher")
    return SEARCHERS[searcher](space, seed=seed)


def _call(objective: Callable[..., Any], trial: Trial) -> Any:
    if trial.budget is None:
        return objective(trial.config)
    return objective(trial.config, trial.budget)


def evaluate_trial(objective: Callable[..., Any], trial: Trial, sign: float = 1.0) -> tuple[float | None, str | None]:
    """Run ``objective`` on ``trial``; return ``(value, error)``, never raising an ``Exception``.

    ``KeyboardInterrupt`` (Ctrl-C) and ``SystemExit`` are not caught: they stop the search.
    """
    start = time.perf_counter()
    try:
        raw = _call(objective, trial)
        value, error = _finite_or_none(raw), None
        if value is None:
            error = f"objective returned a non-finite or non-numeric value: {raw!r}"
    except Exception as exc:  # the objective is user code: any failure is recorded
        value, error = None, f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=-3)}"
    trial.duration = time.perf_counter() - start
    return (None if value is None else sign * value), error


def _optimize(objective: Callable[..., Any], space: Space, searcher: str | Searcher, n_trials: int,
              seed: int | None, journal: str | os.PathLike | None, progress: bool, direction: str) -> Study:
    if not isinstance(n_trials, int) or n_trials < 1:
        raise ValueError(f"n_trials must be a positive integer, got {n_trials!r}")
    if not callable(objective):
        raise TypeError("objective must be callable: objective(config) or objective(config, budget)")
    sign = 1.0 if direction == "minimize" else -1.0
    name = searcher if isinstance(searcher, str) else type(searcher).__name__

    log = None
    if journal is not None:
        log = _Journal(journal, {"journal": "minilib", "version": JOURNAL_VERSION, "searcher": name,
                                 "direction": direction, "seed": seed})
        seed = _journal_seed(log, seed, by_name=isinstance(searcher, str))
    search = make_searcher(searcher, space, seed)
    study = Study(direction=direction)
    replay = list(log.records) if log else []
    bar = _progress_bar(n_trials, progress)
    try:
        while len(study.trials) < n_trials:
            trial = search.ask()
            if trial is None:
                break  # the searcher is done (a finished grid) or waits on nothing we run
            if replay:
                record = _replay(search, trial, replay.pop(0), sign)
            else:
                value, error = evaluate_trial(objective, trial, sign)
                search.tell(trial, value, error)
                # the searcher minimises sign * value; the study keeps the value the user returned
                record = replace(trial, value=None if value is None else sign * value)
                if log:
                    log.append(record)
            study.trials.append(record)
            _report(bar, study, record)
    except KeyboardInterrupt:
        where = f"; {len(study.trials)} finished trials are in {journal}" if journal else ""
        print(f"\nsearch interrupted after {len(study.trials)} trials{where}")
        raise
    finally:
        if bar is not None:
            bar.close()
    return study


def _replay(search: Searcher, trial: Trial, record: dict[str, Any], sign: float) -> Trial:
    """Give the searcher a result read from the journal instead of evaluating again."""
    if record["number"] != trial.number or record["config"] != _json_config(trial.config):
        raise ValueError(
            f"the journal does not match this search: trial {trial.number} is {trial.config} here but "
            f"{record['config']} in the journal. Resume with the same space, searcher and seed, "
            "or use a new journal file.")
    value = record["value"]
    trial.duration = record["duration"]
    search.tell(trial, None if value is None else sign * value, record["error"])
    return replace(trial, value=value)


def minimize(objective: Callable[..., Any], space: Space, searcher: str | Searcher = "random",
             n_trials: int = 20, seed: int | None = None, journal: str | os.PathLike | None = None,
             progress: bool = True) -> Study:
    """Search ``space`` for the configuration with the smallest ``objective`` value.

    Args:
        objective: ``objective(config) -> float``, or ``objective(config, budget)`` for
            multi-fidelity searchers. An exception or a NaN/inf return gives a failed
            trial and the search goes on.
        space: the search space.
        searcher: a name (``"random"``, ``"grid"``, see ``minilib.hpo.SEARCHERS``) or a
            ``Searcher`` built on ``space``.
        n_trials: how many trials to evaluate (fewer if the searcher runs out, e.g. a grid).
        seed: seeds the searcher when it is given by name.
        journal: a JSON-lines file; each finished trial is appended as it finishes. Running
            the same call again reads the finished trials back instead of evaluating them.
        progress: show a progress bar and a summary after each trial.
    """
    return _optimize(objective, space, searcher, n_trials, seed, journal, progress, "minimize")


def maximize(objective: Callable[..., Any], space: Space, searcher: str | Searcher = "random",
             n_trials: int = 20, seed: int | None = None, journal: str | os.PathLike | None = None,
             progress: bool = True) -> Study:
    """Like ``minimize``, for objectives to maximise (accuracy, reward)."""
    return _optimize(objective, space, searcher, n_trials, seed, journal, progress, "maximize")


# --- progress ---------------------------------------------------------------------

def _progress_bar(n_trials: int, progress: bool):
    if not progress:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=n_trials, desc="trials", leave=False)


def _report(bar, study: Study, trial: Trial) -> None:
    if bar is None:
        return
    bar.update(1)
    bar.write(trial_summary(study, trial))


def trial_summary(study: Study, trial: Trial) -> str:
    """A Keras-Tuner-style report: this trial's value, the best so far, and each
    hyperparameter's value next to the best configuration's."""
    lines = [f"Trial {trial.number} {'complete' if trial.ok else 'FAILED'} "
             f"[{trial.duration or 0.0:.2f} s]"]
    lines.append(f"value: {trial.value:.6g}" if trial.ok else f"error: {(trial.error or '').splitlines()[0]}")
    try:
        best = study.best_trial
    except ValueError:
        best = None
    if best is not None:
        lines.append(f"best value so far: {best.value:.6g} (trial {best.number})")
    lines.append(f"{'hyperparameter':<16}|{'value':<14}|{'best so far':<14}")
    for name, value in trial.config.items():
        best_value = best.config.get(name, "") if best is not None else ""
        lines.append(f"{name:<16}|{_fmt(value):<14}|{_fmt(best_value):<14}")
    if trial.budget is not None:
        lines.append(f"{'budget':<16}|{_fmt(trial.budget):<14}|{_fmt(best.budget if best else ''):<14}")
    return "\n".join(lines) + "\n"


def _fmt(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)
