"""Benchmark: random search vs successive halving vs Hyperband vs BOHB on the tabular MNIST-1D benchmark.

    python bench/multifidelity.py                  # 50 seeds, 120 simulated seconds, about 3-5 minutes
    python bench/multifidelity.py --seeds 10       # a quicker look

Budgets run from R / 81 = 1/3 epoch to R = 27 epochs with eta = 3 (Hyperband's s_max = 4, the
setting of the paper's Table 1); one row also runs Hyperband from 1 epoch (s_max = 3) to show what
the smallest budget is worth. Every search runs on one simulated worker
(``minilib.hpo.parallel.simulate``): a trial takes the stored training seconds of its budget
(retraining from scratch), and the any-time regret
is the full-budget validation error of the incumbent minus the best in the table
(``TabularBenchmark.trajectory``). The targets (issue 5):

1. Hyperband reaches random search's final median regret with at most a third of the budget;
2. BOHB is at least as good as Hyperband at the end (median regret).

A last table runs 4 simulated workers: synchronous SH against ASHA.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from minilib.benchmarks.tabular import anytime_regret, load_tabular_mnist1d
from minilib.hpo import ASHA, BOHB, Hyperband, RandomSearch, SuccessiveHalving
from minilib.hpo.parallel import simulate


def time_to_reach(curves: np.ndarray, grid: np.ndarray, target: float) -> float:
    """First time at which the median curve is at or below ``target`` (inf if never)."""
    median = np.nanmedian(curves, axis=0)
    hit = np.flatnonzero(median <= target + 1e-12)
    return float(grid[hit[0]]) if len(hit) else float("inf")


def repeat_fraction(make, bench, seeds, horizon: float) -> float:
    """Share of the configurations a searcher starts (first rung) that it had started before."""
    shares = []
    for seed in seeds:
        study = simulate(make(seed), bench, n_workers=1, time_limit=horizon)
        started = [json.dumps(t.config, sort_keys=True) for t in study.trials if t.meta.get("rung", 0) == 0]
        shares.append(1 - len(set(started)) / len(started))
    return float(np.mean(shares))


def table(results: dict[str, np.ndarray], grid: np.ndarray, horizons: list[float]) -> None:
    print(f"{'method':<22}" + "".join(f"{f'T={h:g}s median / mean':>28}" for h in horizons))
    for name, curves in results.items():
        cells = []
        for h in horizons:
            k = int(np.searchsorted(grid, h - 1e-9))
            cells.append(f"{np.nanmedian(curves[:, k]):.4f} / {np.nanmean(curves[:, k]):.4f}")
        print(f"{name:<22}" + "".join(f"{c:>28}" for c in cells))


R, R_MIN, ETA = 27, 1 / 3, 3      # epochs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=50)
    parser.add_argument("--horizon", type=float, default=120.0, help="simulated seconds per search")
    args = parser.parse_args()

    bench = load_tabular_mnist1d()
    space = bench.space
    grid = np.linspace(0, args.horizon, 1201)[1:]
    print(bench)
    full = bench.curve("seconds").sum(axis=1).mean()
    print(f"{args.seeds} seeds, {args.horizon:g} simulated seconds = {args.horizon / full:.0f} average full "
          f"trainings ({full:.3f} s each); budgets {R_MIN:.3g} to {R} epochs, eta = {ETA}\n")

    makers = {
        "random search": lambda s: RandomSearch(space, seed=s),
        "successive halving": lambda s: SuccessiveHalving(space, R, R_MIN, ETA, seed=s, n_brackets=None),
        "hyperband": lambda s: Hyperband(space, R, R_MIN, ETA, seed=s),
        "hyperband from 1 epoch": lambda s: Hyperband(space, R, 1, ETA, seed=s),
        "BOHB": lambda s: BOHB(space, R, R_MIN, ETA, seed=s),
        "BOHB as HpBandSter": lambda s: BOHB(space, R, R_MIN, ETA, seed=s, avoid_duplicates=False),
        "hyperband, no repeats": lambda s: Hyperband(space, R, R_MIN, ETA, seed=s, avoid_duplicates=True),
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
    for name in [n for n in results if n != "random search"]:
        t = time_to_reach(results[name], grid, final_rs)
        verdict = "PASS" if t <= args.horizon / 3 else "MISS"
        print(f"  {name:<22} reaches {final_rs:.4f} at T = {t:g} s = {t / args.horizon:.2f} of the budget"
              + (f"   [target <= 1/3: {verdict}]" if name == "hyperband" else ""))
    print("\ntarget 1 at shorter budgets (the same runs cut at T; fraction of T at which each median curve")
    print("reaches random search's median at T; <= 0.33 meets the target):")
    names = ("hyperband", "hyperband from 1 epoch", "hyperband, no repeats", "BOHB")
    print(f"{'T (s)':>8} {'random search':>14}" + "".join(f"{n:>24}" for n in names))
    for horizon in [args.horizon / 2 ** k for k in range(4, -1, -1)]:
        k = int(np.searchsorted(grid, horizon - 1e-9))
        target = float(np.nanmedian(results["random search"][:, k]))
        fractions = [time_to_reach(results[n][:, : k + 1], grid[: k + 1], target) / horizon for n in names]
        print(f"{horizon:>8.4g} {target:>14.4f}" + "".join(f"{f:>24.2f}" for f in fractions))
    print("\ntarget 2: BOHB at least as good as Hyperband at the end (median regret)")
    for a, b in (("BOHB", "hyperband"), ("BOHB", "hyperband, no repeats"), ("BOHB as HpBandSter", "hyperband")):
        ma, mb = np.nanmedian(results[a][:, -1]), np.nanmedian(results[b][:, -1])
        print(f"  {a:<18} {ma:.4f} vs {b:<21} {mb:.4f}   [{'PASS' if ma <= mb else 'MISS'}]"
              f"   (means {np.nanmean(results[a][:, -1]):.4f} vs {np.nanmean(results[b][:, -1]):.4f})")

    print(f"\nrepeated configurations (share of the configurations started, mean of {min(args.seeds, 10)} seeds):")
    for name in ("random search", "hyperband", "BOHB", "BOHB as HpBandSter"):
        share = repeat_fraction(makers[name], bench, range(min(args.seeds, 10)), args.horizon)
        print(f"  {name:<22} {share:.0%}")

    print("\n4 simulated workers, a quarter of the horizon:")
    h4 = args.horizon / 4
    grid4 = np.linspace(0, h4, int(8 * h4) + 1)[1:]
    par = {
        "random search": lambda s: RandomSearch(space, seed=s),
        "SH (synchronous)": lambda s: SuccessiveHalving(space, R, R_MIN, ETA, seed=s, n_brackets=None),
        "hyperband (sync)": lambda s: Hyperband(space, R, R_MIN, ETA, seed=s),
        "ASHA": lambda s: ASHA(space, R, R_MIN, ETA, seed=s),
    }
    table({name: anytime_regret(make, bench, range(args.seeds), grid4, n_workers=4) for name, make in par.items()},
          grid4, [h4 / 8, h4 / 4, h4 / 2, h4])


if __name__ == "__main__":
    main()
