"""Trials scaled out on Dask: the ask/tell loop of ``minilib.hpo.parallel`` on a cluster.

When one laptop is not enough, the searcher stays where it is (in the driver: this
process, your notebook) and only the trials travel. Dask's ``distributed`` scheduler
(Rocklin, SciPy 2015; https://distributed.dask.org) gives each submitted function call a
*future*; the driver keeps as many trials in flight as the workers have threads and tells
the searcher each result as soon as it completes, in whatever order the results come::

    ask -> submit(objective, trial) -> ... first completed future -> tell -> ask -> ...

That is ``minilib.hpo.parallel.drive``, the loop ``run_parallel`` uses with local processes;
this module only supplies the engine: a ``distributed.Client``.

* ``run_distributed(searcher, objective, n_trials)`` starts a local cluster (``LocalCluster``:
  one worker process per core, one thread each). On a real cluster, start a scheduler and
  workers (``dask scheduler --scheduler-file sched.json`` once, ``dask worker --scheduler-file
  sched.json --nthreads 1`` on each machine, where minilib and the objective's module are
  importable) and pass ``client="sched.json"``, ``client="tcp://host:8786"`` or a ``Client``.
* The number of trials in flight follows the workers present (their threads, asked again after
  every result and every second): workers may join or leave during a run.
* Failures. An objective that raises gives a failed trial with the original error (it is
  caught on the worker, ``minilib.study.evaluate_trial``). A worker that *dies* while running a
  trial (``os._exit``, killed for memory, a segfault) makes Dask raise ``KilledWorker``: the
  trial fails with that error and the run goes on. By default the scheduler would first try the
  trial again on other workers (``distributed.scheduler.allowed-failures``: 3, so a trial that
  crashes its worker takes down four); ``run_distributed`` sets it to ``allowed_failures=0``.
* What goes wrong on clusters, and is avoided here: a trial is never pinned to a worker (a task
  pinned to a dead worker waits forever); each result is fetched and its future released at once
  (a result left on a worker that then dies is silently computed again); each trial has a unique
  key (two trials with the same key would be one task).
* Resume: ``journal=path`` appends each ask and each tell, in order, to an event journal
  (``minilib.journal.EventJournal``). A driver stopped by Ctrl-C, or killed, resumes from it when
  the same call runs again: finished trials are replayed to the searcher, not run again; trials
  asked but never told are submitted again.

The objective and its results are pickled (``cloudpickle``) for each trial: a module-level
function that loads its data on the worker costs almost nothing to send, a closure over a big
array is sent once per trial. Chapter 12 ("An AutoML pipeline") runs a search this way.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from typing import Any

from distributed import Client, LocalCluster, get_worker, wait

from minilib.hpo._checks import check_int
from minilib.hpo.parallel import Result, _run_in_worker, drive
from minilib.study import Searcher, Study, Trial

__all__ = ["DaskEngine", "connect", "run_distributed"]


def _run_on_dask_worker(objective: Callable[..., Any], trial: Trial) -> Result:
    value, error, duration, _, user_attrs = _run_in_worker(objective, trial)
    return value, error, duration, get_worker().address, user_attrs   # the worker's address names it


class DaskEngine:
    """The engine of ``minilib.hpo.parallel.drive`` on a ``distributed.Client``.

    ``poll`` (seconds): how long ``wait`` blocks before the loop looks again at the number of
    workers (so that a worker that joins gets a trial before the running ones finish).
    """

    def __init__(self, client: Client, poll: float = 1.0):
        self.client, self.poll = client, poll

    def capacity(self) -> int:
        # the threads of the workers present now; with none, one trial waits for the first to join
        return max(1, sum(self.client.nthreads().values()))

    def submit(self, objective: Callable[..., Any], trial: Trial) -> Any:
        key = f"trial-{trial.number}-{uuid.uuid4().hex}"        # unique, also across resumed runs
        return self.client.submit(_run_on_dask_worker, objective, trial, key=key, pure=False)

    def wait(self, handles: list[Any]) -> list[Any]:
        try:
            with self.client.as_current():
                wait(handles, timeout=self.poll, return_when="FIRST_COMPLETED")
        except TimeoutError:
            return []                                            # nothing finished: look at the workers again
        except Exception:                                        # e.g. a future cancelled by client.restart():
            if not any(future.done() for future in handles):     # its trial fails in result(); anything else
                raise                                            # (the scheduler is gone) stops the run
        return [future for future in handles if future.done()]

    def result(self, handle: Any) -> Result:
        try:
            return handle.result()
        except Exception as exc:   # KilledWorker, a cancelled future, a result that does not unpickle here
            dead = getattr(exc, "last_worker", None)
            return None, f"{type(exc).__name__}: {exc}", None, getattr(dead, "address", "unknown"), {}
        finally:
            handle.release()                                     # the cluster forgets the result now

    def cancel(self, handles: list[Any]) -> None:
        try:
            self.client.cancel(handles)
        except Exception:  # pragma: no cover - the cluster may be gone already
            pass


def connect(client: Client | str | os.PathLike | None = None) -> tuple[Client, Callable[[], None]]:
    """A ``Client`` for ``client`` and the function that closes what was opened here.

    ``None``: a new local cluster, one worker process per core, one thread each (closed
    afterwards). A string with ``://`` or ``host:port``: a scheduler's address. A path to an
    existing file: a scheduler file (``dask scheduler --scheduler-file``). A ``Client``: used as it
    is and left open."""
    if isinstance(client, Client):
        return client, lambda: None
    if client is None:
        cluster = LocalCluster(threads_per_worker=1, processes=True, dashboard_address=":0")
        new = Client(cluster)

        def close() -> None:
            new.close()
            cluster.close()

        return new, close
    if isinstance(client, os.PathLike) or os.path.isfile(client):
        new = Client(scheduler_file=os.fspath(client))
    else:
        new = Client(client)
    return new, new.close


def run_distributed(searcher: Searcher, objective: Callable[..., Any], n_trials: int,
                    client: Client | str | os.PathLike | None = None, journal: str | os.PathLike | None = None,
                    allowed_failures: int | None = 0, poll: float = 1.0) -> Study:
    """Evaluate up to ``n_trials`` trials of ``searcher`` on a Dask cluster; return the ``Study``.

    Args:
        searcher: any ask/tell searcher (it minimises); it runs here, in the driver.
        objective: ``objective(config)`` or ``objective(config, budget)``, picklable and importable
            on the workers; it may return ``{"value": v, **extras}`` (extras on ``trial.user_attrs``).
        n_trials: how many trials to ask (fewer if the searcher finishes first).
        client: ``None`` (a local cluster for this run), a scheduler address, a scheduler file, or
            a ``distributed.Client`` (see ``connect``).
        journal: an event journal file: running the same call again resumes the run.
        allowed_failures: how many workers a trial may take down before it fails with
            ``KilledWorker`` (set on the scheduler; ``None`` leaves the scheduler's setting).
        poll: seconds between looks at the number of workers while all of them are busy.

    Trials carry ``meta["worker"]`` (0, 1, ... in order of first result), ``meta["worker_id"]``
    (the worker's address), ``meta["start"]`` and ``meta["end"]`` (seconds since the run started).
    """
    check_int("n_trials", n_trials, 1)
    dask_client, close = connect(client)
    try:
        if allowed_failures is not None:
            check_int("allowed_failures", allowed_failures, 0)

            def set_allowed_failures(dask_scheduler: Any) -> None:   # defined here: sent by value, so the
                dask_scheduler.allowed_failures = allowed_failures   # scheduler needs no minilib

            dask_client.run_on_scheduler(set_allowed_failures)
        return drive(searcher, objective, n_trials, DaskEngine(dask_client, poll), journal)
    finally:
        close()
