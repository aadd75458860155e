"""Running a searcher on several workers: real processes, or simulated time on a tabular benchmark.

The ask/tell protocol is all a parallel runner needs: whenever a worker is free it asks
the searcher for a trial, and whenever a result comes back it tells the searcher. A
synchronous searcher (successive halving, Hyperband, BOHB) answers ``None`` while it
waits for the results of a rung: the free worker then idles until some result comes
back. An asynchronous one (ASHA, random search) always has work.

* ``run_parallel`` drives worker *processes* (``concurrent.futures.ProcessPoolExecutor``):
  real training, real seconds.
* ``simulate`` replays the same loop with an *event queue* and a table of stored training
  costs (``minilib.benchmarks.tabular``): W workers, hours of training, milliseconds of
  computing, and exactly reproducible.

Both return a ``Study`` whose trials carry ``meta["worker"]``, ``meta["start"]`` and
``meta["end"]`` (seconds since the start): enough for a Gantt chart of the workers.
Chapter 04 ("Multi-fidelity HPO") compares synchronous SH with ASHA this way.
"""

from __future__ import annotations

import heapq
import os
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any, Protocol

from minilib.hpo._checks import check_int
from minilib.study import Searcher, Study, Trial, evaluate_trial

# --- 1) real worker processes ---------------------------------------------------------------------

def _run_in_worker(objective: Callable[..., Any], trial: Trial) -> tuple[float | None, str | None, float, int, dict]:
    value, error = evaluate_trial(objective, trial)
    return value, error, trial.duration or 0.0, os.getpid(), trial.user_attrs


def run_parallel(objective: Callable[..., Any], searcher: Searcher, n_trials: int, n_workers: int = 2,
                 initializer: Callable[[], None] | None = None) -> Study:
    """Evaluate up to ``n_trials`` trials of ``searcher`` on ``n_workers`` processes.

    ``objective`` must be picklable (a module-level function, or a ``functools.partial`` of
    one). ``initializer`` runs once in each worker (e.g. ``torch.set_num_threads(1)``).
    Searchers minimise; a failed objective gives a failed trial, the search goes on.
    """
    check_int("n_workers", n_workers, 1)
    check_int("n_trials", n_trials, 1)
    running: dict[Future, Trial] = {}
    workers: dict[int, int] = {}                              # pid -> worker number 0, 1, ...
    asked, start = 0, time.perf_counter()
    with ProcessPoolExecutor(max_workers=n_workers, initializer=initializer) as pool:
        while True:
            while len(running) < n_workers and asked < n_trials:    # 1) fill the free workers
                trial = searcher.ask()
                if trial is None:
                    break                                           # waiting for results (or finished)
                trial.meta["start"] = time.perf_counter() - start
                running[pool.submit(_run_in_worker, objective, trial)] = trial
                asked += 1
            if not running:
                break                                               # nothing runs and nothing to ask: done
            done, _ = wait(running, return_when=FIRST_COMPLETED)    # 2) wait for the next result
            for future in sorted(done, key=lambda f: running[f].number):
                trial = running.pop(future)
                value, error, duration, pid, trial.user_attrs = future.result()
                trial.meta["end"] = time.perf_counter() - start
                trial.meta["worker"] = workers.setdefault(pid, len(workers))
                trial.duration = duration
                searcher.tell(trial, value, error)                  # 3) the searcher learns
    return Study([t for t in searcher.trials if t.status != "pending"])


# --- 2) simulated workers on a tabular benchmark ----------------------------------------------------

class CostModel(Protocol):
    """What ``simulate`` needs from a benchmark (``minilib.benchmarks.tabular.TabularBenchmark`` has it)."""

    max_budget: int

    def lookup(self, config: dict, budget: Any) -> float: ...

    def cost(self, config: dict, budget: Any, from_budget: Any = 0) -> float: ...


def simulate(searcher: Searcher, benchmark: CostModel, n_workers: int = 1, time_limit: float | None = None,
             max_trials: int | None = None, resume: bool = False) -> Study:
    """Run ``searcher`` on ``n_workers`` simulated workers; each trial takes its stored training time.

    Events are processed in time order (ties: the trial asked first), so the result
    depends only on the searcher's seed. A trial's duration is ``benchmark.cost(config,
    budget)``: training from scratch; with ``resume=True`` a promoted configuration only
    trains the new epochs (``from_budget .. budget``). A trial without a budget (random
    search) runs the full ``max_budget``. The run stops when the searcher is finished,
    when ``max_trials`` were asked, or when a trial would *start* after ``time_limit``.
    """
    check_int("n_workers", n_workers, 1)
    if time_limit is None and max_trials is None and not searcher.multi_fidelity:
        raise ValueError("give time_limit or max_trials: this searcher could run forever")
    now, events, free = 0.0, [], list(range(n_workers))
    asked = 0
    while True:
        while free and (max_trials is None or asked < max_trials) and (time_limit is None or now < time_limit):
            trial = searcher.ask()                                 # 1) a free worker asks for work
            if trial is None:
                break                                              # sync searcher waiting: the worker idles
            budget = benchmark.max_budget if trial.budget is None else trial.budget
            start_from = trial.meta.get("from_budget", 0) if resume else 0
            worker = free.pop(0)
            end = now + benchmark.cost(trial.config, budget, start_from)
            trial.meta.update(worker=worker, start=now, end=end)
            heapq.heappush(events, (end, trial.number, trial))
            asked += 1
        if not events:
            break
        now, _, trial = heapq.heappop(events)                      # 2) the next trial to finish
        budget = benchmark.max_budget if trial.budget is None else trial.budget
        trial.duration = trial.meta["end"] - trial.meta["start"]
        searcher.tell(trial, benchmark.lookup(trial.config, budget))
        free.append(trial.meta["worker"])
        free.sort()
    return Study([t for t in searcher.trials if t.status != "pending"])


def worker_busy_fraction(study: Study, n_workers: int, until: float | None = None) -> float:
    """Fraction of the worker-time in ``[0, until]`` spent training (default ``until``: the last end)."""
    trials = [t for t in study.trials if "start" in t.meta]
    if not trials:
        return 0.0
    until = max(t.meta["end"] for t in trials) if until is None else until
    busy = sum(max(0.0, min(t.meta["end"], until) - t.meta["start"]) for t in trials)
    return busy / (n_workers * until) if until > 0 else 1.0
