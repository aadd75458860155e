"""Trials, studies and the ask/tell loop that every searcher in the book shares.

The protocol (scikit-optimize and Optuna call it *ask/tell*)::

    trial = searcher.ask()                 # a Trial: trial.config, trial.budget
    value = objective(trial.config)        # or objective(trial.config, trial.budget)
    searcher.tell(trial, value)            # the searcher learns from the result

Any loop can drive it: the ``minimize`` function below, a notebook cell, a pool of
worker processes. Searchers always *minimise*; ``maximize`` negates the objective for
them and records the values you returned.

An objective returns a number, or a dict ``{"value": v, **extras}`` whose extras (test
accuracy, parameter count, validation predictions) are kept on ``trial.user_attrs``.
``minimize`` adds what a long-running search needs: failed trials (an exception or a
NaN/inf value) are recorded and the search goes on; ``journal=path`` appends each
finished trial to a JSON-lines file (``minilib.journal``), and running the same call
again resumes from it. What it prints comes from ``minilib.report``.

Chapter 01 ("Grid and random search") walks through this module.
"""

from __future__ import annotations

import csv
import inspect
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

from minilib.journal import JOURNAL_VERSION, Journal, json_config, to_jsonable
from minilib.report import progress_bar, report, trial_summary
from minilib.space import Config, Space

__all__ = ["JOURNAL_VERSION", "Searcher", "Study", "Trial", "evaluate_trial", "make_searcher", "maximize",
           "minimize", "trial_summary"]


@dataclass
class Trial:
    """One evaluation of one configuration (at one budget, for multi-fidelity searchers).

    ``status`` is ``"pending"`` until the result is told, then ``"ok"`` or ``"failed"``.
    ``meta`` holds what a searcher wants to remember about the trial (a bracket, a rung);
    ``user_attrs`` what the objective returned besides the value (Optuna's user attributes).
    """

    number: int
    config: Config
    budget: float | None = None
    value: float | None = None
    status: str = "pending"
    error: str | None = None
    duration: float | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    user_attrs: dict[str, Any] = field(default_factory=dict)

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
        """The any-time curve: after each trial, the value of the trial that ``best_trial`` would
        return if the search stopped there (NaN until the first success).

        Both use one rule: the best value among the successful trials at the largest budget that has
        a success so far. In a multi-fidelity search the curve can therefore go *up* when the first
        trial at a larger budget arrives: a lucky value after one epoch is not the answer of the search,
        so it never shows on the curve once a longer training exists. Without budgets it is the
        running minimum (maximum)."""
        curve, top, best = [], None, math.nan
        for trial in self.trials:
            if trial.ok:
                budget = -math.inf if trial.budget is None else trial.budget
                if top is None or budget > top:
                    top, best = budget, trial.value
                elif budget == top and self._better(trial.value, best):
                    best = trial.value
            curve.append(best)
        return np.array(curve)

    # --- export -------------------------------------------------------------------
    def to_dicts(self) -> list[dict[str, Any]]:
        return [t.to_dict() for t in self.trials]

    def to_json(self, path: str | os.PathLike) -> None:
        """Every trial, extras included (numpy arrays are written as lists)."""
        payload = {"direction": self.direction, "trials": self.to_dicts()}
        Path(path).write_text(json.dumps(payload, indent=1, default=to_jsonable))

    @classmethod
    def from_json(cls, path: str | os.PathLike) -> Study:
        payload = json.loads(Path(path).read_text())
        return cls([Trial(**t) for t in payload["trials"]], direction=payload["direction"])

    def to_csv(self, path: str | os.PathLike) -> None:
        """One row per trial; each hyperparameter gets its own column, and so does each extra
        whose values are numbers or strings (``user_attrs.NAME``); arrays stay in ``to_json``."""
        names: list[str] = []
        extras: list[str] = []
        for trial in self.trials:
            names += [k for k in trial.config if k not in names]
            extras += [k for k, v in trial.user_attrs.items() if _is_scalar(v) and k not in extras]
        columns = ["number", *names, "budget", "value", "status", "duration", "error",
                   *(f"user_attrs.{k}" for k in extras)]
        with open(path, "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(columns)
            for t in self.trials:
                writer.writerow([t.number, *(t.config.get(k, "") for k in names), t.budget, t.value,
                                 t.status, t.duration, t.error or "",
                                 *(_cell(t.user_attrs.get(k, "")) for k in extras)])


def _is_scalar(value: Any) -> bool:
    return isinstance(value, (int, float, str, bool, np.number))


def _cell(value: Any) -> Any:
    return value if _is_scalar(value) else ""


# --- the loop ---------------------------------------------------------------------

def make_searcher(searcher: str | Searcher, space: Space, seed: int | None,
                  options: dict[str, Any] | None = None) -> Searcher:
    """Turn a searcher name (``"random"``, ``"hyperband"``, …) and its ``options`` (keyword
    arguments of its class, e.g. ``{"max_budget": 81}``) into a searcher object."""
    if isinstance(searcher, Searcher):
        if searcher.space.dimensions != space.dimensions:
            raise ValueError("the searcher was built for another Space than the one passed")
        if options:
            raise ValueError("searcher_options apply to a searcher given by name; this one is already built")
        return searcher
    from minilib.hpo import SEARCHERS  # imported here: minilib.hpo imports this module

    if searcher not in SEARCHERS:
        raise ValueError(f"unknown searcher {searcher!r}; choose one of {sorted(SEARCHERS)} or pass a Searcher")
    try:
        return SEARCHERS[searcher](space, seed=seed, **(options or {}))
    except TypeError as exc:
        raise TypeError(f"searcher {searcher!r} does not take these searcher_options {options!r}: {exc}") from None


def check_objective(objective: Callable[..., Any], searcher: Searcher) -> None:
    """Raise a clear ``TypeError`` before the first trial if ``objective`` cannot be called the way
    ``searcher`` will call it: ``objective(config)``, or ``objective(config, budget)`` for a
    multi-fidelity searcher. (Otherwise every trial would fail with the same ``TypeError``.)"""
    if not callable(objective):
        raise TypeError("objective must be callable: objective(config) or objective(config, budget)")
    try:
        signature = inspect.signature(objective)
    except (TypeError, ValueError):
        return  # some built-ins have no signature: let the first call tell
    wanted = "objective(config, budget)" if searcher.multi_fidelity else "objective(config)"
    try:
        signature.bind(*([None] * (2 if searcher.multi_fidelity else 1)))
    except TypeError:
        name = getattr(objective, "__name__", type(objective).__name__)
        raise TypeError(f"{type(searcher).__name__} calls {wanted}, but {name}{signature} cannot be called so"
                        + (" (a multi-fidelity searcher passes the budget as the second argument)"
                           if searcher.multi_fidelity else "")) from None


def _call(objective: Callable[..., Any], trial: Trial) -> Any:
    if trial.budget is None:
        return objective(trial.config)
    return objective(trial.config, trial.budget)


def _split_result(raw: Any) -> tuple[Any, dict[str, Any]]:
    """A number, or a dict ``{"value": v, **extras}``: return ``(v, extras)``."""
    if not isinstance(raw, dict):
        return raw, {}
    if "value" not in raw:
        raise ValueError(f"an objective that returns a dict must put its result under 'value'; got keys {list(raw)}")
    extras = {key: item for key, item in raw.items() if key != "value"}
    return raw["value"], extras


def evaluate_trial(objective: Callable[..., Any], trial: Trial, sign: float = 1.0) -> tuple[float | None, str | None]:
    """Run ``objective`` on ``trial``; return ``(value, error)``, never raising an ``Exception``.

    The objective's extras (a dict result) go to ``trial.user_attrs``, its run time to
    ``trial.duration``. ``KeyboardInterrupt`` (Ctrl-C) and ``SystemExit`` are not caught: they stop
    the search.
    """
    start = time.perf_counter()
    try:
        raw, trial.user_attrs = _split_result(_call(objective, trial))
        value, error = _finite_or_none(raw), None
        if value is None:
            error = f"objective returned a non-finite or non-numeric value: {raw!r}"
    except Exception as exc:  # the objective is user code: any failure is recorded
        value, error = None, f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=-3)}"
    trial.duration = time.perf_counter() - start
    return (None if value is None else sign * value), error


def _optimize(objective: Callable[..., Any], space: Space, searcher: str | Searcher, n_trials: int,
              seed: int | None, journal: str | os.PathLike | None, progress: bool, direction: str,
              searcher_options: dict[str, Any] | None = None) -> Study:
    if not isinstance(n_trials, int) or n_trials < 1:
        raise ValueError(f"n_trials must be a positive integer, got {n_trials!r}")
    if not callable(objective):
        raise TypeError("objective must be callable: objective(config) or objective(config, budget)")
    sign = 1.0 if direction == "minimize" else -1.0
    name = searcher if isinstance(searcher, str) else type(searcher).__name__

    log = None
    if journal is not None:
        log = Journal(journal, {"journal": "minilib", "version": JOURNAL_VERSION, "searcher": name,
                                "direction": direction, "seed": seed})
        seed = log.seed_for(seed, by_name=isinstance(searcher, str))
    search = make_searcher(searcher, space, seed, searcher_options)
    check_objective(objective, search)
    study = Study(direction=direction)
    replay = list(log.records) if log else []
    bar = progress_bar(n_trials, progress)
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
            report(bar, study, record)
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
    if record["number"] != trial.number or record["config"] != json_config(trial.config):
        raise ValueError(
            f"the journal does not match this search: trial {trial.number} is {trial.config} here but "
            f"{record['config']} in the journal. Resume with the same space, searcher and seed, "
            "or use a new journal file.")
    value = record["value"]
    trial.duration = record["duration"]
    trial.user_attrs = record.get("user_attrs", {})
    search.tell(trial, None if value is None else sign * value, record["error"])
    return replace(trial, value=value)


def minimize(objective: Callable[..., Any], space: Space, searcher: str | Searcher = "random",
             n_trials: int = 20, seed: int | None = None, journal: str | os.PathLike | None = None,
             progress: bool = True, searcher_options: dict[str, Any] | None = None) -> Study:
    """Search ``space`` for the configuration with the smallest ``objective`` value.

    Args:
        objective: ``objective(config) -> float``, or ``objective(config, budget)`` for
            multi-fidelity searchers (checked before the first trial). It may return a dict
            ``{"value": v, **extras}``: the extras are kept on ``trial.user_attrs``, journaled
            and exported. An exception or a NaN/inf value gives a failed trial and the search
            goes on.
        space: the search space.
        searcher: a name (``"random"``, ``"grid"``, see ``minilib.hpo.SEARCHERS``) or a
            ``Searcher`` built on ``space``.
        n_trials: how many trials to evaluate (fewer if the searcher runs out, e.g. a grid).
        seed: seeds the searcher when it is given by name.
        journal: a JSON-lines file; each finished trial is appended as it finishes. Running
            the same call again reads the finished trials back instead of evaluating them.
        progress: show a progress bar and a summary after each trial.
        searcher_options: keyword arguments for a searcher given by name, e.g.
            ``searcher="hyperband", searcher_options={"max_budget": 81, "eta": 3}``.
    """
    return _optimize(objective, space, searcher, n_trials, seed, journal, progress, "minimize", searcher_options)


def maximize(objective: Callable[..., Any], space: Space, searcher: str | Searcher = "random",
             n_trials: int = 20, seed: int | None = None, journal: str | os.PathLike | None = None,
             progress: bool = True, searcher_options: dict[str, Any] | None = None) -> Study:
    """Like ``minimize``, for objectives to maximise (accuracy, reward)."""
    return _optimize(objective, space, searcher, n_trials, seed, journal, progress, "maximize", searcher_options)
