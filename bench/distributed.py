"""Benchmark: trials on Dask (minilib.distributed) against local processes (run_parallel).

    python bench/distributed.py              # per-trial overhead, trivial objectives (about 20 s)
    python bench/distributed.py --speedup    # 16 trials of ~1 s CPU on 1 and on 2 Dask workers (about 40 s)

Targets (issue 17):

1. ``--speedup``: with 2 Dask workers on 2 cores, a run of >= 16 trials of >= 1 s each finishes in
   <= 0.6x the wall-clock time of 1 worker. Each trial is sleep-free CPU work on one thread (a
   numpy loop calibrated to ``--seconds`` here first); the clusters are started and warmed up
   before the clock runs. Run it on an otherwise idle machine: with the cores busy elsewhere two
   workers cannot be twice as fast.
2. The per-trial overhead of the Dask runner vs the local process runner (``run_parallel``), with
   trivial objectives: ``(T(n_big) - T(n_small)) / (n_big - n_small)`` for each, so that starting
   the pool or connecting to the cluster does not count. On one worker that is the round trip of
   one trial (ask, send, run, fetch, tell); on two workers the throughput.

Both parts set numpy to one thread per worker (``OMP_NUM_THREADS=1`` before the workers start).
"""

from __future__ import annotations

import os
import sys

# this file is called distributed.py: drop its folder from the path, or `import distributed` imports it
sys.path = [p for p in sys.path if os.path.abspath(p or os.curdir) != os.path.dirname(os.path.abspath(__file__))]
os.environ.setdefault("OMP_NUM_THREADS", "1")      # before numpy: one thread per worker process
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import argparse  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
from distributed import Client, LocalCluster  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

from minilib import Float, Space  # noqa: E402
from minilib.distributed import run_distributed  # noqa: E402
from minilib.hpo.parallel import run_parallel  # noqa: E402
from minilib.hpo.random import RandomSearch  # noqa: E402
from minilib.study import Study  # noqa: E402

SPACE = Space({"x": Float(0.0, 1.0)})


def trivial(config):
    return config["x"]


def cpu_work(config, n_iter):
    """About one second of numpy on one thread (n_iter calibrated by ``calibrate``), no sleeping."""
    with threadpool_limits(1):
        a = np.random.default_rng(0).standard_normal((160, 160))
        for _ in range(n_iter):
            a = np.tanh(a @ a / 160.0)
    return float(a.mean()) + config["x"]


def calibrate(seconds: float) -> int:
    n = 20
    while True:
        start = time.perf_counter()
        cpu_work({"x": 0.0}, n)
        took = time.perf_counter() - start
        if took > 0.2:
            return max(1, round(n * seconds / took))
        n *= 4


def local_cluster(n_workers: int) -> tuple[LocalCluster, Client, float]:
    start = time.perf_counter()
    cluster = LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True, dashboard_address=":0")
    client = Client(cluster)
    client.wait_for_workers(n_workers)
    client.run(lambda: None)                           # every worker is up and answers
    return cluster, client, time.perf_counter() - start


def timed(run, *args, **kwargs) -> tuple[float, Study]:
    start = time.perf_counter()
    study = run(*args, **kwargs)
    took = time.perf_counter() - start
    assert all(t.ok for t in study.trials), [t.error for t in study.trials if not t.ok][:1]
    return took, study


def overhead(n_small: int, n_big: int) -> None:
    print(f"per-trial overhead, trivial objective: (T({n_big}) - T({n_small})) / {n_big - n_small}")
    print(f"{'workers':>8} {'run_parallel ms/trial':>22} {'run_distributed ms/trial':>25} {'cluster start s':>16}")
    for n_workers in (1, 2):
        local = [timed(run_parallel, trivial, RandomSearch(SPACE, seed=0), n, n_workers=n_workers)
                 for n in (n_small, n_big)]
        local = [wall for wall, _ in local]
        cluster, client, started = local_cluster(n_workers)
        try:
            run_distributed(RandomSearch(SPACE, seed=1), trivial, 4, client=client)     # warm-up: imports
            dask = [timed(run_distributed, RandomSearch(SPACE, seed=0), trivial, n, client=client)
                    for n in (n_small, n_big)]
            dask = [wall for wall, _ in dask]
        finally:
            client.close()
            cluster.close()
        per = [1000 * (big - small) / (n_big - n_small) for small, big in (local, dask)]
        print(f"{n_workers:>8} {per[0]:>22.2f} {per[1]:>25.2f} {started:>16.2f}")


def speedup(n_trials: int, seconds: float) -> None:
    n_iter = calibrate(seconds)
    start = time.perf_counter()
    cpu_work({"x": 0.0}, n_iter)
    print(f"{n_trials} trials of {time.perf_counter() - start:.2f} s of CPU each (numpy, one thread), n_iter={n_iter}")
    objective = lambda config: cpu_work(config, n_iter)
    walls = {}
    for n_workers in (1, 2):
        cluster, client, _ = local_cluster(n_workers)
        try:
            run_distributed(RandomSearch(SPACE, seed=1), trivial, 2, client=client)     # warm-up: imports
            walls[n_workers], study = timed(run_distributed, RandomSearch(SPACE, seed=0), objective, n_trials,
                                            client=client)
        finally:
            client.close()
            cluster.close()
        durations = [t.duration for t in study.trials]
        print(f"{n_workers} Dask worker(s): {walls[n_workers]:.2f} s wall clock; trials took "
              f"{np.mean(durations):.2f} s on average on the workers (min {min(durations):.2f}, "
              f"max {max(durations):.2f}), {len({t.meta['worker'] for t in study.trials})} workers used")
    ratio = walls[2] / walls[1]
    print(f"ratio 2 workers / 1 worker: {ratio:.3f} (target <= 0.6: {'met' if ratio <= 0.6 else 'MISSED'}; "
          f"os.cpu_count() = {os.cpu_count()})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--speedup", action="store_true", help="run the 1 vs 2 worker wall-clock part")
    parser.add_argument("--trials", type=int, default=16, help="trials of the speed-up part (>= 16)")
    parser.add_argument("--seconds", type=float, default=1.0, help="CPU seconds per trial of the speed-up part")
    parser.add_argument("--small", type=int, default=20, help="trials of the short overhead run")
    parser.add_argument("--big", type=int, default=120, help="trials of the long overhead run")
    args = parser.parse_args()
    if args.speedup:
        speedup(args.trials, args.seconds)
    else:
        overhead(args.small, args.big)


if __name__ == "__main__":
    main()
