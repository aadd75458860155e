"""PLAUSIBLE WRONG SUBMISSION 'pending_last_ask_only' (selfcheck requires it to lose points).

Mistake: keeps only the last asked trial as the one to run again (as if one trial ran at a time).

Exercise 12: what scaling a search out to W workers buys and costs, in pure numpy.

Chapter 12 ("An AutoML pipeline end to end, and trials scaled out on Dask") runs ASHA on Dask
workers, compares the models it finds with NetScore, plots how busy 1 and 2 workers are, and
simulates 8-64 workers with ``minilib.hpo.parallel.simulate``. Here you write the arithmetic behind
those sections. Use numpy and the standard library only; do not import ``minilib.pipeline``,
``minilib.hpo.parallel`` or ``minilib.journal``: you are writing what they compute.
"""

from __future__ import annotations

import heapq
import math

import numpy as np


def netscore(accuracy: float, params: float, macs: float, alpha: float = 2.0, beta: float = 0.5,
             gamma: float = 0.5) -> float:
    """NetScore (Wong, ICIAR 2019, eq. 1): ``20 log10(a**alpha / (p**beta * m**gamma))``.

    ``a`` is the accuracy **in percent**, ``p`` the number of parameters and ``m`` the number of
    multiply-accumulates (MACs) of one inference, both **in millions**. The arguments are in other
    units: ``accuracy`` is a fraction in (0, 1], ``params`` and ``macs`` are plain counts. Higher is
    better. Return a Python ``float``.

    Raise ``ValueError`` if ``accuracy`` is not in (0, 1] or ``params`` or ``macs`` is not positive.

    >>> netscore(1.0, 1e6, 1e6)      # 100 %, one million parameters and MACs: 20 * 2 * log10(100)
    80.0
    """
    ### BEGIN SOLUTION
    if not 0.0 < accuracy <= 1.0:
        raise ValueError(f"accuracy must be a fraction in (0, 1], got {accuracy!r}")
    if not (params > 0 and macs > 0):
        raise ValueError(f"params and macs must be positive, got {params!r} and {macs!r}")
    a, p, m = 100.0 * accuracy, params / 1e6, macs / 1e6
    return float(20.0 * (alpha * math.log10(a) - beta * math.log10(p) - gamma * math.log10(m)))
    ### END SOLUTION


def schedule_trials(durations: list[float] | np.ndarray, n_workers: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Greedy list scheduling: what an asynchronous runner does with a fixed list of trials.

    All ``n_workers`` workers are free at time 0. The trials start in list order; trial ``i`` runs on
    the worker that becomes free first (on a tie, the **lowest worker index**), starts when that
    worker becomes free and ends ``durations[i]`` later.

    Return ``(workers, starts, ends)``: three numpy arrays of length ``len(durations)``, the first of
    integers (worker indices 0 .. n_workers - 1), the other two of floats.
    Raise ``ValueError`` if ``n_workers < 1`` or a duration is negative or not finite.
    """
    ### BEGIN SOLUTION
    durations = np.asarray(durations, dtype=float)
    if n_workers < 1:
        raise ValueError(f"n_workers must be at least 1, got {n_workers!r}")
    if not np.all(np.isfinite(durations)) or np.any(durations < 0):
        raise ValueError("durations must be finite and non-negative")
    free = [(0.0, w) for w in range(n_workers)]         # (time the worker is free, worker): a heap
    n = len(durations)
    workers, starts, ends = np.zeros(n, dtype=int), np.zeros(n), np.zeros(n)
    for i, d in enumerate(durations):
        start, w = heapq.heappop(free)                    # earliest free time, then the lowest index
        workers[i], starts[i], ends[i] = w, start, start + d
        heapq.heappush(free, (start + d, w))
    return workers, starts, ends
    ### END SOLUTION


def utilisation(starts: np.ndarray, ends: np.ndarray, n_workers: int, until: float | None = None) -> float:
    """The fraction of the worker-time in ``[0, until]`` spent running trials.

    ``starts`` and ``ends`` give each trial's interval (as returned by ``schedule_trials``). The
    default ``until`` is the last end (the makespan). Only the part of a trial before ``until``
    counts (a trial that starts after ``until`` counts 0). The worker-time is ``n_workers * until``.
    An empty schedule gives 0.0. Return a Python ``float``.
    Raise ``ValueError`` if ``n_workers < 1`` or ``until`` (given or default) is not positive.
    """
    ### BEGIN SOLUTION
    starts, ends = np.asarray(starts, dtype=float), np.asarray(ends, dtype=float)
    if n_workers < 1:
        raise ValueError(f"n_workers must be at least 1, got {n_workers!r}")
    if starts.size == 0:
        return 0.0
    until = float(ends.max()) if until is None else float(until)
    if not until > 0:
        raise ValueError(f"until must be positive, got {until!r}")
    busy = np.clip(np.minimum(ends, until) - starts, 0.0, None).sum()
    return float(busy / (n_workers * until))
    ### END SOLUTION


def pending_trials(events: list[tuple[str, int]]) -> list[int]:
    """The trials a resumed distributed run must submit again: asked, but never told.

    ``events`` is a journal, in the order things happened: ``("ask", n)`` when trial ``n`` was sent
    to a worker, ``("tell", n)`` when its result came back (results come back in any order).
    Return the numbers of the trials asked and never told, sorted, as a list of ints.

    Raise ``ValueError`` for a tell of a trial that was not asked before, a second tell of one
    trial, a second ask of one trial, or an event that is neither ``"ask"`` nor ``"tell"``.
    """
    ### BEGIN SOLUTION
    asked, told = set(), set()
    for kind, number in events:
        if kind == "ask":
            if number in asked:
                raise ValueError(f"trial {number} was asked twice")
            asked.add(number)
        elif kind == "tell":
            if number not in asked:
                raise ValueError(f"trial {number} was told before it was asked")
            if number in told:
                raise ValueError(f"trial {number} was told twice")
            told.add(number)
        else:
            raise ValueError(f"unknown event {kind!r} (expected 'ask' or 'tell')")
    last = None
    for kind, number in events:
        if kind == "ask":
            last = number
    return [] if last is None or last in told else [int(last)]
    ### END SOLUTION


def scaling_report(durations: list[float] | np.ndarray, worker_counts: list[int]) -> dict[int, dict[str, float]]:
    """How a fixed list of trials scales: one entry per worker count.

    For each ``n`` in ``worker_counts`` schedule the trials with your ``schedule_trials`` and return
    ``{n: {"makespan": M_n, "speedup": M_1 / M_n, "utilisation": U_n}}`` where ``M_n`` is the last
    end on ``n`` workers, ``M_1`` the makespan on **one** worker (computed even when 1 is not in
    ``worker_counts``) and ``U_n`` your ``utilisation`` with the default ``until``. Keys are Python
    ints, in the order of ``worker_counts``; values are Python floats.
    Raise ``ValueError`` if ``durations`` is empty or sums to 0.
    """
    ### BEGIN SOLUTION
    durations = np.asarray(durations, dtype=float)
    if durations.size == 0 or not durations.sum() > 0:
        raise ValueError("durations must be non-empty with a positive total")
    serial = float(schedule_trials(durations, 1)[2].max())
    report = {}
    for n in worker_counts:
        _, starts, ends = schedule_trials(durations, n)
        makespan = float(ends.max())
        report[int(n)] = {"makespan": makespan, "speedup": serial / makespan,
                          "utilisation": utilisation(starts, ends, n)}
    return report
    ### END SOLUTION
