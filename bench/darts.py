"""Benchmark: DARTS's collapse and DARTS+'s early stopping on the book's tabular NAS benchmark (issue 13).

    python bench/darts.py                  # 5 seeds, first order (each search about 30 s of CPU time)
    python bench/darts.py --seeds 10       # more seeds
    python bench/darts.py --second-order 2 # also 2 second-order searches (about twice the time of a first-order one)
    python bench/darts.py --cache /tmp/darts.pkl --verify   # keep the searches; re-run seed 0 with the rule on

For every seed, one first-order DARTS search (``minilib.nas.darts.search``) runs on MNIST-1D with the
chapter's settings (``SETTINGS``: a training split of 1,000 sequences cut into a weight half and an
architecture half, alpha's Adam learning rate scaled up so that alpha can move as far in these few
steps as in the reference code's 50 epochs x 391 steps). The cell derived after each epoch is kept.

* plain DARTS returns the cell of the last epoch;
* DARTS+ (Liang et al. 2019) stops at the first epoch, from ``--check-from`` on, whose cell has
  ``--threshold`` or more parameter-free operations (skip, avgpool) and returns the cell of the epoch
  before. With the same seed the search is the same run up to that epoch (the rule only stops it),
  so ``darts.darts_plus`` reads DARTS+'s answer off the plain run (``--verify`` runs the stopped search
  of seed 0 itself and checks that it returns the same cell).

Each derived cell is looked up in ``datasets/tabular_nas_mnist1d.npz``: its true test accuracy (the
table's network trained from scratch, not the supernet) and its percentile among the 4,930 unique
architectures by test error (100 = the best). The targets:

1. one first-order search takes under 3 minutes (wall clock on the machine it runs on, and CPU time,
   which a shared machine inflates less);
2. over the seeds, the median percentile of DARTS+'s cells is above plain DARTS's.
"""

from __future__ import annotations

import argparse
import pickle
import time
from pathlib import Path

import numpy as np
import torch

from minilib.benchmarks.nas import load_tabular_nas
from minilib.data import load_mnist1d
from minilib.nas import darts
from minilib.nas.space import to_string

#: the search of chapter 07 (``darts.search``'s other arguments keep the reference defaults)
SETTINGS = dict(epochs=60, train_size=1000, alpha_lr=1.5e-2, channels=8, cells_per_stage=1, stem_stride=2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=SETTINGS["epochs"])
    parser.add_argument("--threshold", type=int, default=2, help="DARTS+: stop at this many parameter-free ops")
    parser.add_argument("--check-from", type=int, default=5, help="DARTS+: first epoch the rule is checked")
    parser.add_argument("--second-order", type=int, default=0, help="also run this many second-order searches")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest for these small nets)")
    parser.add_argument("--table", default=None, help="another benchmark file (default: the book's)")
    parser.add_argument("--cache", default=None, help="keep the searches in this pickle and reuse them")
    parser.add_argument("--verify", action="store_true", help="search seed 0 again with the rule on")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    settings = {**SETTINGS, "epochs": args.epochs}
    data = load_mnist1d()
    device = torch.device("cpu")
    print(f"settings: {settings}, DARTS+ threshold {args.threshold} from epoch {args.check_from}\n")

    start = time.perf_counter()
    cache = Path(args.cache) if args.cache else None
    stored = pickle.loads(cache.read_bytes()) if cache is not None and cache.exists() else {}
    searches = {}
    for seed in range(args.seeds):                      # 1) the searches (or what --cache kept of them)
        key = (seed, tuple(sorted(settings.items())))
        if key not in stored:
            cpu = time.process_time()
            result = darts.search(data, seed=seed, device=device, **settings)
            stored[key] = (result, time.process_time() - cpu)
            if cache is not None:
                cache.write_bytes(pickle.dumps(stored))
            print(f"searched seed {seed}: {result.seconds:.1f} s wall, {stored[key][1]:.1f} s CPU", flush=True)
        searches[seed] = stored[key]

    bench = load_tabular_nas(args.table)
    print(bench)
    rows = []
    for seed, (result, cpu) in searches.items():         # 2) their cells in the table
        plain = darts.evaluate(bench, result.config)
        cell, stopped_at = darts.darts_plus(result, args.threshold, args.check_from)
        remedy = darts.evaluate(bench, cell)
        rows.append((result.seconds, plain, remedy, stopped_at, cpu))
        print(f"seed {seed}: {result.seconds:5.1f} s ({cpu:.1f} s CPU), parameter-free ops per epoch "
              f"{result.parameter_free}")
        print(f"  plain DARTS   {to_string(result.config)}  test acc {plain['test_accuracy']:.3f}  "
              f"percentile {plain['percentile']:5.1f}  parameter-free {plain['parameter_free_share']:.2f}")
        print(f"  DARTS+ (ep {stopped_at if stopped_at else '-':>2}) {to_string(cell)}  test acc "
              f"{remedy['test_accuracy']:.3f}  percentile {remedy['percentile']:5.1f}  parameter-free "
              f"{remedy['parameter_free_share']:.2f}", flush=True)
    if args.verify:                                    # the stopped search itself gives the same cell
        result = searches[0][0]
        cell, stopped_at = darts.darts_plus(result, args.threshold, args.check_from)
        stopped = darts.search(data, seed=0, device=device, stop_at_parameter_free=args.threshold,
                               check_from=args.check_from, **settings)
        assert stopped.config == cell and stopped.stopped_at == stopped_at, "darts_plus != the stopped search"
        print(f"seed 0 searched again with the rule on: stopped at epoch {stopped.stopped_at}, same cell as "
              f"darts_plus read off the plain run")

    seconds = np.array([r[0] for r in rows])
    cpu_seconds = np.array([r[4] for r in rows])
    table = {name: np.array([[r[k][m] for m in ("test_accuracy", "percentile", "parameter_free_share")]
                             for r in rows]) for k, name in ((1, "plain DARTS"), (2, "DARTS+"))}
    print(f"\n{'method':<12} {'test accuracy':>22} {'percentile':>22} {'parameter-free share':>22}")
    print(f"{'':<12} {'median (min-max)':>22} {'median (min-max)':>22} {'median (min-max)':>22}")
    for name, t in table.items():
        cols = [f"{np.median(t[:, k]):.3f} ({t[:, k].min():.3f}-{t[:, k].max():.3f})" if k != 1 else
                f"{np.median(t[:, k]):.1f} ({t[:, k].min():.1f}-{t[:, k].max():.1f})" for k in range(3)]
        print(f"{name:<12} {cols[0]:>22} {cols[1]:>22} {cols[2]:>22}")
    stops = [r[3] for r in rows]
    print(f"DARTS+ stopped in {sum(s is not None for s in stops)} of {len(stops)} seeds (epochs {stops})")
    best = bench.best_config
    print(f"for scale: the table's best cell (by validation) {to_string(best)} has test accuracy "
          f"{1 - bench.test_error(best):.3f}, the median unique architecture "
          f"{1 - np.median(bench.unique_curve('test_error')[:, -1]):.3f}")

    for seed in range(args.second_order):
        result = darts.search(data, seed=seed, order=2, device=device, **settings)
        second = darts.evaluate(bench, result.config)
        print(f"second order, seed {seed}: {result.seconds:5.1f} s ({result.seconds / seconds[seed]:.1f}x the first "
              f"order's), {to_string(result.config)} test acc {second['test_accuracy']:.3f} percentile "
              f"{second['percentile']:.1f}, parameter-free per epoch {result.parameter_free}")

    print(f"\none first-order search: median {np.median(seconds):.1f} s wall ({np.median(cpu_seconds):.1f} s CPU), "
          f"max {seconds.max():.1f} s wall ({cpu_seconds.max():.1f} s CPU); target < 180 s: "
          f"{'MET' if seconds.max() < 180 else 'NOT MET'} by wall clock, "
          f"{'MET' if cpu_seconds.max() < 180 else 'NOT MET'} by CPU time")
    plain_median, remedy_median = np.median(table["plain DARTS"][:, 1]), np.median(table["DARTS+"][:, 1])
    print(f"median percentile DARTS+ {remedy_median:.1f} vs plain DARTS {plain_median:.1f} (target: above): "
          f"{'MET' if remedy_median > plain_median else 'NOT MET'}")
    print(f"total {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
