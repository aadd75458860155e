"""Running a searcher on several workers: real processes, or simulated time on a tabular benchmark.

The ask/tell protocol is all a parallel runner needs: whenever a worker is free it asks
the searcher for a trial, and whenever a result comes back it tells the searcher. A
synchronous searcher (successive halving, Hyperband, BOHB) answers ``None`` while it
waits for the results of a rung: the free worker then idles until some result comes
back. An asynchronous one (ASHA, random search) always has work.

* ``drive`` is that loop, once, for any *engine* that runs trials somewhere: the searcher
  stays in this process, the engine only runs ``objective(config[, budget])``.
* ``run_parallel`` drives worker *processes* (``concurrent.futures.ProcessPoolExecutor``):
  real training, real seconds. ``minilib.distributed.run_distributed`` drives the same
  loop on a Dask cluster.
* ``simulate`` replays the same loop with an *event queue* and a table of stored training
  costs (``minilib.benchmarks.tabular``): W workers, hours of training, milliseconds of
  computing, and exactly reproducible.

All return a ``Study`` whose trials carry ``meta["worker"]``, ``meta["start"]`` and
``meta["end"]`` (seconds since the start): enough for a Gantt chart of the workers.
Chapter 04 ("Multi-fidelity HPO") compares synchronous SH with ASHA this way.
"""

from __future__ import annotations

import heapq
import os
import time
from collections.abc import Callable, Hashable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any, Protocol

from minilib.hpo._checks import check_int
from minilib.journal import EventJournal
from minilib.study import Searcher, Study, Trial, check_objective, evaluate_trial

#: what a worker sends back: (value, error, duration, worker id, objective extras)
Result = tuple[float | None, str | None, float | None, Hashable, dict]

# --- 1) the loop every real runner shares -------------------------------------------------------


class Engine(Protocol):
    """Where trials run: a pool of processes (below) or a Dask cluster (``minilib.distributed``)."""

    def capacity(self) -> int: ...                      # how many trials may run at once, now

    def submit(self, objective: Callable[..., Any], trial: Trial) -> Any: ...   # start one, return a handle

    def wait(self, handles: list[Any]) -> list[Any]: ...  # the handles that finished (may be none yet)

    def result(self, handle: Any) -> Result: ...          # fetch one result, and let the engine forget it

    def cancel(self, handles: list[Any]) -> None: ...     # stop what still runs (the driver was interrupted)


def _run_in_worker(objective: Callable[..., Any], trial: Trial) -> Result:
    value, error = evaluate_trial(objective, trial)
    return value, error, trial.duration or 0.0, os.getpid(), trial.user_attrs


def drive(searcher: Searcher, objective: Callable[..., Any], n_trials: int, engine: Engine,
          journal: str | os.PathLike | None = None) -> Study:
    """The ask/tell loop on real workers: keep ``engine.capacity()`` trials running, tell each
    result as it comes back (in any order), stop after ``n_trials`` asks or when the searcher is done.

    With ``journal`` (a file, ``minilib.journal.EventJournal``) each ask and each tell is appended
    as it happens; running the same call again replays them to the (same-seeded, fresh) searcher,
    runs again the trials that were asked but never told, then goes on. ``meta["worker"]`` numbers
    the workers 0, 1, ... in the order they returned a first result.
    """
    check_int("n_trials", n_trials, 1)
    check_objective(objective, searcher)
    log = EventJournal(journal, searcher) if journal is not None else None
    last = len(searcher.trials) + n_trials                        # ask up to trial number last - 1
    rerun = log.replay(searcher) if log else []                   # asked, never told: run them again
    t0 = log.t0 if log else time.time()
    workers: dict[Hashable, int] = {}                             # worker id -> worker number 0, 1, ...
    for trial in searcher.trials:
        if "worker_id" in trial.meta:
            workers.setdefault(trial.meta["worker_id"], trial.meta["worker"])
    running: dict[Any, Trial] = {}
    try:
        while True:
            while len(running) < engine.capacity():               # 1) fill the free workers
                if rerun:
                    trial = rerun.pop(0)
                elif len(searcher.trials) < last and (trial := searcher.ask()) is not None:
                    if log:
                        log.ask(trial)
                else:
                    break                                         # waiting for results, finished, or enough
                trial.meta["start"] = time.time() - t0
                running[engine.submit(objective, trial)] = trial
            if not running:
                break                                             # nothing runs and nothing to ask: done
            done = engine.wait(list(running))                     # 2) wait for the next results
            for handle in sorted(done, key=lambda h: running[h].number):
                trial = running.pop(handle)
                value, error, trial.duration, worker_id, trial.user_attrs = engine.result(handle)
                trial.meta["end"] = time.time() - t0
                trial.meta["worker"] = workers.setdefault(worker_id, len(workers))
                trial.meta["worker_id"] = worker_id
                searcher.tell(trial, value, error)                # 3) the searcher learns
                if log:
                    log.tell(trial)
    except KeyboardInterrupt:
        told = sum(t.status != "pending" for t in searcher.trials)
        where = f"; the journal {journal} resumes it" if log else ""
        print(f"\nrun interrupted after {told} finished trials{where}")
        raise
    finally:
        if running:                                               # interrupted: stop what still runs
            engine.cancel(list(running))
    return Study([t for t in searcher.trials if t.status != "pending"])


# --- 2) real worker processes ---------------------------------------------------------------------


class _PoolEngine:
    """``n_workers`` local processes (``concurrent.futures``); a worker that dies breaks the pool."""

    def __init__(self, pool: ProcessPoolExecutor, n_workers: int):
        self.pool, self.n_workers = pool, n_workers

    def capacity(self) -> int:
        return self.n_workers

    def submit(self, objective: Callable[..., Any], trial: Trial) -> Future:
        return self.pool.submit(_run_in_worker, objective, trial)

    def wait(self, handles: list[Future]) -> list[Future]:
        return list(wait(handles, return_when=FIRST_COMPLETED).done)

    def result(self, handle: Future) -> Result:
        return handle.result()

    def cancel(self, handles: list[Future]) -> None:
        for future in handles:
            future.cancel()


def run_parallel(objective: Callable[..., Any], searcher: Searcher, n_trials: int, n_workers: int = 2,
                 initializer: Callable[[], None] | None = None, journal: str | os.PathLike | None = None) -> Study:
    """Evaluate up to ``n_trials`` trials of ``searcher`` on ``n_workers`` processes.

    ``objective`` must be picklable (a module-level function, or a ``functools.partial`` of
    one). ``initializer`` runs once in each worker (e.g. ``torch.set_num_threads(1)``).
    Searchers minimise; a failed objective gives a failed trial, the search goes on.
    ``journal``: an event journal file to resume from (see ``drive``).
    """
    check_int("n_workers", n_workers, 1)
    check_int("n_trials", n_trials, 1)
    with ProcessPoolExecutor(max_workers=n_workers, initializer=initializer) as pool:
        return drive(searcher, objective, n_trials, _PoolEngine(pool, n_workers), journal)


# --- 3) simulated workers on a tabular benchmark ----------------------------------------------------

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
