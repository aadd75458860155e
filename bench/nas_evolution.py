"""Benchmark: regularized evolution vs non-aging evolution vs random search vs TPE (and BOHB by
time) on the book's tabular NAS benchmark (chapter 05, issue 11).

    python bench/nas_evolution.py                 # 100 seeds x 300 models, about 5 minutes on one core
    python bench/nas_evolution.py --seeds 20      # a quicker look

Every search "trains" a cell by a table lookup (``NASBenchmark.objective``; the validation error
after 6 epochs, mean of the two training seeds). Regret is the incumbent's validation error minus
the best in the table; its test regret (the same incumbent's test error minus the best test error)
is printed separately. Evolution uses NAS-Bench-201's P = 10, S = 3. The targets:

1. regularized evolution's median regret is below random search's from 100 models evaluated on;
2. after the last model it is at least as good as non-aging evolution's (median over seeds).

A second table compares, on simulated training time, evolution, random search and BOHB (budgets of
2 and 6 epochs, eta = 3).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from minilib.benchmarks.nas import load_tabular_nas
from minilib.benchmarks.tabular import anytime_regret, regret_by_evaluations
from minilib.hpo import BOHB, TPE, RandomSearch
from minilib.nas.evolution import RegularizedEvolution


def first_lasting(holds: np.ndarray) -> int | None:
    """The first number of models k from which ``holds`` is true at every later k (None if never)."""
    return next((k + 1 for k in range(len(holds)) if holds[k:].all()), None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=100)
    parser.add_argument("--models", type=int, default=300)
    args = parser.parse_args()
    bench = load_tabular_nas()
    space, seeds = bench.space, range(args.seeds)
    print(bench)
    makers = {
        "regularized evolution": lambda s: RegularizedEvolution(space, 10, 3, seed=s),
        "non-aging evolution": lambda s: RegularizedEvolution(space, 10, 3, aging=False, seed=s),
        "random search": lambda s: RandomSearch(space, seed=s),
        "TPE": lambda s: TPE(space, seed=s),
    }
    marks = [k for k in (10, 25, 50, 100, 150, 200, 300, 500) if k <= args.models]
    val, test = {}, {}
    print(f"\nmedian regret after k models ({args.seeds} seeds; 25-75% in brackets at the end)")
    print(f"{'method':>22} " + " ".join(f"{k:>7}" for k in marks) + "   test regret at the end   seconds")
    for name, make in makers.items():
        start = time.perf_counter()
        val[name] = regret_by_evaluations(make, bench, seeds, args.models)
        test[name] = regret_by_evaluations(make, bench, seeds, args.models, metric="test_error")
        q = np.quantile(val[name][:, -1], [0.25, 0.75])
        print(f"{name:>22} " + " ".join(f"{np.median(val[name][:, k - 1]):>7.4f}" for k in marks)
              + f"  [{q[0]:.4f}, {q[1]:.4f}]  {np.median(test[name][:, -1]):>7.4f}"
              + f"  {time.perf_counter() - start:>8.1f}")

    re_med, rs_med = (np.median(val[n], axis=0) for n in ("regularized evolution", "random search"))
    not_above, below = first_lasting(re_med <= rs_med), first_lasting(re_med < rs_med)
    end_re = np.median(val["regularized evolution"][:, -1])
    end_na = np.median(val["non-aging evolution"][:, -1])
    wins = np.mean(val["regularized evolution"][:, -1] < val["random search"][:, -1])
    verdict = ("MET" if below is not None and below <= 100
               else "MET ONLY WITH TIES" if not_above is not None and not_above <= 100 else "MISSED")
    print(f"\ntarget 1: evolution's median regret is at or below random search's from model {not_above} on and "
          f"strictly below from model {below} on (target: below from 100): {verdict}")
    print(f"target 2: at model {args.models} evolution {end_re:.4f} vs non-aging {end_na:.4f}: "
          f"{'MET' if end_re <= end_na else 'MISSED'}")
    print(f"evolution ends ahead of random search in {wins:.0%} of the seeds (ties count as not ahead)")

    mean_cost = bench.curve("seconds").sum(axis=1).mean()
    grid = np.linspace(0, args.models * mean_cost, 301)[1:]
    timed = {"regularized evolution": makers["regularized evolution"], "random search": makers["random search"],
             "BOHB (2, 6 epochs)": lambda s: BOHB(space, 6, 2, eta=3, seed=s)}
    print(f"\nmedian regret by simulated training time (one worker; {mean_cost:.2f} s per full training on average)")
    fractions = (0.1, 0.25, 0.5, 1.0)
    print(f"{'method':>22} " + " ".join(f"{f * grid[-1] / 60:>6.1f} min" for f in fractions))
    for name, make in timed.items():
        curves = anytime_regret(make, bench, seeds, grid)
        print(f"{name:>22} " + " ".join(f"{np.nanmedian(curves[:, int(f * len(grid)) - 1]):>10.4f}"
                                        for f in fractions))


if __name__ == "__main__":
    main()
