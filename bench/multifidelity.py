"""Benchmark: random search vs successive halving vs Hyperband vs BOHB on the tabular MNIST-1D benchmark.

    python bench/multifidelity.py                  # 50 seeds, 160 simulated seconds, about 3-5 minutes
    python bench/multifidelity.py --seeds 10       # a quicker look

Every search runs on one simulated worker (``minilib.hpo.parallel.simulate``): a trial takes
the stored training seconds of its epochs (retraining from scratch), and the any-time regret
is the full-budget validation error of the incumbent minus the best in the table
(``TabularBenchmark.trajectory``). The targets (issue 5):

1. Hyperband reaches random search's final median regret with at most a third of the budget;
2. BOHB is at least as good as Hyperband at the end (median regret).

A last table runs 4 simulated workers: synchronous SH against ASHA.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from minilib.benchmarks.tabular import anytime_regret, load_tabular_mnist1d
from minilib.hpo import ASHA, BOHB, Hyperband, RandomSearch, SuccessiveHalving


def time_to_reach(curves: np.ndarray, grid: np.ndarray, target: float) -> float:
    """First time at which the median curve is at or below ``target`` (inf if never)."""
    median = np.nanmedian(curves, axis=0)
    hit = np.flatnonzero(median <= target + 1e-12)
    return float(grid[hit[0]]) if len(hit) else float("inf")


def table(results: dict[str, np.ndarray], grid: np.ndarray, horizons: list[float]) -> None:
    print(f"{'method':<22}" + "".join(f"{f'T={h:g}s median / mean':>28}" for h in horizons))
    for name, curves in results.items():
        cells = []
        for h in horizons:
            k = int(np.searchsorted(grid, h - 1e-9))
            cells.append(f"{np.nanmedian(curves[:, k]):.4f} / {np.nanmean(curves[:, k]):.4f}")
        print(f"{name:<22}" + "".join(f"{c:>28}" for c in cells))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=50)
    parser.add_argument("--horizon", type=float, default=160.0, help="simulated seconds per search")
    args = parser.parse_args()

    bench = load_tabular_mnist1d()
    space = bench.space
    grid = np.linspace(0, args.horizon, int(4 * args.horizon) + 1)[1:]
    print(bench)
    print(f"{args.seeds} seeds, {args.horizon:g} simulated seconds; a full 27-epoch training costs "
          f"{bench.curve('seconds').sum(axis=1).mean():.2f} s on average; R = 27, eta = 3\n")

    makers = {
        "random search": lambda s: RandomSearch(space, seed=s),
        "successive halving": lambda s: SuccessiveHalving(space, 27, eta=3, seed=s, n_brackets=None),
        "hyperband": lambda s: Hyperband(space, 27, eta=3, seed=s),
        "BOHB": lambda s: BOHB(space, 27, eta=3, seed=s),
        "hyperband, no repeats": lambda s: Hyperband(space, 27, eta=3, seed=s, avoid_duplicates=True),
        "BOHB, no repeats": lambda s: BOHB(space, 27, eta=3, seed=s, avoid_duplicates=True),
    }
    results = {}
    for name, make in makers.items():
        start = time.perf_counter()
        results[name] = anytime_regret(make, bench, range(args.seeds), grid)
        print(f"  {name:<22} {time.perf_counter() - start:6.1f} s of computing")
    print("\nregret (validation error above the best of the table) at simulated time T, over seeds:")
    table(results, grid, [args.horizon / 8, args.horizon / 4, args.horizon / 2, args.horizon])

    print("\ntarget 1: time for the median regret to reach random search's final median")
    final_rs = float(np.nanmedian(results["random search"][:, -1]))
    for name in ("hyperband", "hyperband, no repeats", "successive halving", "BOHB", "BOHB, no repeats"):
        t = time_to_reach(results[name], grid, final_rs)
        verdict = "PASS" if t <= args.horizon / 3 else "MISS"
        print(f"  {name:<22} reaches {final_rs:.4f} at T = {t:g} s = {t / args.horizon:.2f} of the budget"
              + (f"   [target <= 1/3: {verdict}]" if name == "hyperband" else ""))
    print("\ntarget 1 at shorter budgets (the same runs cut at T; fraction of T at which each median curve")
    print("reaches random search's median at T; <= 0.33 meets the target):")
    names = ("hyperband", "hyperband, no repeats", "BOHB, no repeats")
    print(f"{'T (s)':>8} {'random search':>14}" + "".join(f"{n:>24}" for n in names))
    for horizon in [h for h in (5, 10, 20, 40, 80, 160) if h <= args.horizon]:
        k = int(np.searchsorted(grid, horizon - 1e-9))
        target = float(np.nanmedian(results["random search"][:, k]))
        fractions = [time_to_reach(results[n][:, : k + 1], grid[: k + 1], target) / horizon for n in names]
        print(f"{horizon:>8g} {target:>14.4f}" + "".join(f"{f:>24.2f}" for f in fractions))
    print("\ntarget 2: BOHB at least as good as Hyperband at the end (median regret)")
    for a, b in (("BOHB", "hyperband"), ("BOHB, no repeats", "hyperband")):
        ma, mb = np.nanmedian(results[a][:, -1]), np.nanmedian(results[b][:, -1])
        print(f"  {a:<22} {ma:.4f} vs {b} {mb:.4f}   [{'PASS' if ma <= mb else 'MISS'}]"
              f"   (means {np.nanmean(results[a][:, -1]):.4f} vs {np.nanmean(results[b][:, -1]):.4f})")

    print("\n4 simulated workers, 60 simulated seconds:")
    grid4 = np.linspace(0, 60, 241)[1:]
    par = {
        "random search": lambda s: RandomSearch(space, seed=s),
        "SH (synchronous)": lambda s: SuccessiveHalving(space, 27, eta=3, seed=s, n_brackets=None),
        "hyperband (sync)": lambda s: Hyperband(space, 27, eta=3, seed=s),
        "ASHA": lambda s: ASHA(space, 27, eta=3, seed=s),
    }
    table({name: anytime_regret(make, bench, range(args.seeds), grid4, n_workers=4) for name, make in par.items()},
          grid4, [7.5, 15, 30, 60])


if __name__ == "__main__":
    main()
