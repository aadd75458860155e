"""Benchmark: REINFORCE and ENAS on the tabular NAS benchmark (issue 12, chapter 06).

    python bench/rl_nas.py                            # 50 seeds, 5 ENAS search seeds: about 15-20 minutes
    python bench/rl_nas.py --seeds 10 --enas-seeds 2 --enas-epochs 10    # a quicker look
    python bench/rl_nas.py --part rl                  # only the table searches (a few minutes)

Part 1 (``--part rl``): REINFORCE (``minilib.nas.reinforce.Reinforce``, the independent and the LSTM
policy), random search and regularized evolution (P = 10, S = 3 as NAS-Bench-201's R-EA) on the
table; reward = the table's validation accuracy after the full 6 epochs; the regret is the
incumbent's validation error minus the best in the table (``regret_by_evaluations``), printed
by number of models evaluated (median and quartiles over seeds). Target: REINFORCE's median regret
below random search's from 200 evaluations on.

Part 2 (``--part enas``): per search seed, one ENAS search (LSTM controller, ``minilib.nas.enas.search``)
and one random search with weight sharing (the same supernet trained with uniform children),
both for ``--enas-epochs`` epochs of the shared weights on MNIST-1D; each derives its answer from
100 candidates (from the controller, or uniform) ranked by shared-weight validation accuracy.
Printed: the seconds of each search, where the answer lands in the table (percentile among the
4,930 unique architectures by validation and by test error, in the top quartile or not), and the
Kendall tau and Spearman rho between the supernet's accuracy and the table's over a fixed sample
of unique architectures. Targets: one ENAS search < 5 minutes on 2 CPU cores; report the fraction
of answers in the top quartile for ENAS and for random weight sharing, and the Kendall tau.
"""

from __future__ import annotations

import argparse
import pickle
import time
from pathlib import Path

import numpy as np
import torch
from scipy.stats import kendalltau, spearmanr

from minilib.benchmarks.nas import load_tabular_nas, rows_of
from minilib.data import load_mnist1d
from minilib.hpo import RandomSearch
from minilib.nas import enas
from minilib.nas.evolution import RegularizedEvolution
from minilib.nas.reinforce import Reinforce, regret_by_evaluations
from minilib.nas.space import SPACE, to_string
from minilib.train import get_device

CHECKPOINTS = (25, 50, 100, 200, 300, 400, 500)


def part_rl(bench, seeds: int, n_evaluations: int) -> None:
    makers = {
        "random search": lambda s: RandomSearch(bench.space, seed=s),
        "regularized evolution": lambda s: RegularizedEvolution(bench.space, population_size=10, sample_size=3,
                                                                seed=s),
        "REINFORCE, independent": lambda s: Reinforce(bench.space, policy="independent", seed=s),
        "REINFORCE, LSTM": lambda s: Reinforce(bench.space, policy="lstm", seed=s),
    }
    results = {}
    for name, make in makers.items():
        start = time.perf_counter()
        results[name] = regret_by_evaluations(make, bench, range(seeds), n_evaluations)
        print(f"  {name:<24} {time.perf_counter() - start:6.1f} s of computing")
    checkpoints = [k for k in CHECKPOINTS if k <= n_evaluations]
    print(f"\nregret (validation error above the table's best, {bench.best_value:.4f}) after k models, "
          f"median [25%, 75%] over {seeds} seeds:")
    print(f"{'method':<24}" + "".join(f"{f'k={k}':>22}" for k in checkpoints))
    for name, regret in results.items():
        cells = [f"{np.median(regret[:, k - 1]):.4f} [{np.quantile(regret[:, k - 1], 0.25):.3f},"
                 f"{np.quantile(regret[:, k - 1], 0.75):.3f}]" for k in checkpoints]
        print(f"{name:<24}" + "".join(f"{c:>22}" for c in cells))
    print("\nmean regret:")
    for name, regret in results.items():
        print(f"{name:<24}" + "".join(f"{regret[:, k - 1].mean():>22.4f}" for k in checkpoints))
    rs = np.median(results["random search"], axis=0)
    for name in ("REINFORCE, independent", "REINFORCE, LSTM"):
        rl = np.median(results[name], axis=0)
        later = slice(199, n_evaluations)
        below = np.all(rl[later] < rs[later])
        at_most = np.all(rl[later] <= rs[later])
        verdict = "PASS" if below else ("TIE (<=, not <)" if at_most else "MISS")
        print(f"target: {name} median regret < random search's at every k >= 200: {verdict} "
              f"(k where it is not below: {int(np.sum(rl[later] >= rs[later]))} of {n_evaluations - 199})")


def enas_searches(seeds: int, epochs: int, controller_steps: int, n_candidates: int, sample_cells: list,
                  cache: str | None) -> list[dict]:
    """The table-free half of part 2: run the searches, derive the answers, score the sample with each
    supernet. With ``cache`` the results are pickled there and reused by a later run with the same settings
    (so the searches can run before the table exists)."""
    key = {"seeds": seeds, "epochs": epochs, "controller_steps": controller_steps, "candidates": n_candidates,
           "sample": [to_string(c) for c in sample_cells]}
    if cache and Path(cache).exists():
        with open(cache, "rb") as f:
            saved = pickle.load(f)
        if saved["key"] == key:
            print(f"(searches read from {cache})")
            return saved["runs"]
    data = load_mnist1d()
    device = get_device()
    Xv, yv = torch.as_tensor(data.X_val, device=device), torch.as_tensor(data.y_val, device=device)
    runs = []
    for seed in range(seeds):
        for method in ("ENAS", "random WS"):
            controller = Reinforce(SPACE, policy="lstm", seed=seed) if method == "ENAS" else None
            start, cpu_start = time.perf_counter(), time.process_time()
            result = enas.search(data, epochs=epochs, controller=controller, controller_steps=controller_steps,
                                 seed=seed, device=device)
            seconds, cpu = time.perf_counter() - start, time.process_time() - cpu_start
            supernet = result["supernet"]
            answer = enas.derive(supernet, data.X_val, data.y_val, n=n_candidates, controller=controller,
                                 seed=seed)[0][0]
            shared = np.array([enas.accuracy(supernet, c, Xv, yv) for c in sample_cells])
            runs.append({"seed": seed, "method": method, "seconds": seconds, "cpu": cpu, "answer": answer,
                         "shared": shared})
            print(f"  searched: seed {seed}, {method}: {seconds:.0f} s wall-clock, {cpu:.0f} s CPU", flush=True)
    if cache:
        with open(cache, "wb") as f:
            pickle.dump({"key": key, "runs": runs}, f)
    return runs


def part_enas(bench, seeds: int, epochs: int, controller_steps: int, n_candidates: int, n_sample: int,
              cache: str | None = None) -> None:
    # a fixed sample of unique architectures (the same for every supernet) for the rank correlation
    representatives, _ = rows_of()
    rng = np.random.default_rng(12345)
    rows = rng.choice(len(representatives), size=min(n_sample, len(representatives)), replace=False)
    sample_cells = [representatives[r] for r in rows]
    runs = enas_searches(seeds, epochs, controller_steps, n_candidates, sample_cells, cache)
    if bench is None:
        print("the table is missing: the searches are cached; run again once it exists")
        return
    true_val = np.array([1 - bench.lookup(c) for c in sample_cells])
    upper = true_val >= np.median(true_val)
    print(f"rank correlation over {len(sample_cells)} unique architectures, and over their better half by the table")
    header = (f"{'seed':>4} {'method':<14} {'wall s':>7} {'CPU s':>6} {'answer val %ile':>16} {'test %ile':>10} "
              f"{'top 25% (val/test)':>19} {'test err':>9} {'tau':>7} {'rho':>7} {'tau, top half':>14}")
    print(header)
    summary: dict[str, list[dict[str, float]]] = {"ENAS": [], "random WS": []}
    for run in runs:
        answer, shared, method, seconds, cpu = run["answer"], run["shared"], run["method"], run["seconds"], run["cpu"]
        row = {"seconds": seconds, "cpu": cpu,
               "val_pct": bench.percentile(answer, "val_error"),
               "test_pct": bench.percentile(answer, "test_error"),
               "top_val": bench.in_top_quartile(answer, "val_error"),
               "top_test": bench.in_top_quartile(answer, "test_error"),
               "test_error": bench.test_error(answer),
               "tau": kendalltau(shared, true_val).statistic,
               "rho": spearmanr(shared, true_val).statistic,
               "tau_top": kendalltau(shared[upper], true_val[upper]).statistic}
        summary[method].append(row)
        print(f"{run['seed']:>4} {method:<14} {seconds:>7.1f} {cpu:>6.1f} {row['val_pct']:>16.1f} "
              f"{row['test_pct']:>10.1f} "
              f"{str(row['top_val']) + '/' + str(row['top_test']):>19} {row['test_error']:>9.4f} "
              f"{row['tau']:>7.3f} {row['rho']:>7.3f} {row['tau_top']:>14.3f}")
    print(f"\nover {seeds} search seeds, {epochs} epochs of shared weights each:")
    for method, rows_ in summary.items():
        mean = {k: float(np.mean([r[k] for r in rows_])) for k in rows_[0]}
        print(f"  {method:<10} answer in the top quartile: {mean['top_test']:.0%} by test error, "
              f"{mean['top_val']:.0%} by validation error; mean test percentile {mean['test_pct']:.1f}; "
              f"Kendall tau {mean['tau']:.3f} (better half {mean['tau_top']:.3f}), Spearman {mean['rho']:.3f}; "
              f"search {mean['seconds']:.0f} s wall-clock (max {max(r['seconds'] for r in rows_):.0f} s), "
              f"{mean['cpu']:.0f} s of CPU time (max {max(r['cpu'] for r in rows_):.0f} s)")
    slowest = max(r["seconds"] for r in summary["ENAS"])
    slowest_cpu = max(r["cpu"] for r in summary["ENAS"])
    print(f"target: one ENAS search under 5 minutes: {'PASS' if slowest < 300 else 'MISS'} by wall-clock "
          f"(slowest {slowest:.0f} s, on a shared machine), {'PASS' if slowest_cpu < 300 else 'MISS'} by CPU time "
          f"(slowest {slowest_cpu:.0f} s; torch threads {torch.get_num_threads()})")
    enas_top = np.mean([r["top_test"] for r in summary["ENAS"]])
    ws_top = np.mean([r["top_test"] for r in summary["random WS"]])
    print(f"ENAS vs its random baseline (top-quartile fraction by test error): {enas_top:.0%} vs {ws_top:.0%}: "
          + ("weight sharing with a controller beats random weight sharing here" if enas_top > ws_top
             else "ENAS does NOT beat random search with weight sharing here"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--part", choices=("rl", "enas", "all"), default="all")
    parser.add_argument("--table", default=None, help="path of the table (default: datasets/tabular_nas_mnist1d.npz)")
    parser.add_argument("--seeds", type=int, default=50, help="seeds of the table searches")
    parser.add_argument("--evaluations", type=int, default=500, help="models evaluated per table search")
    parser.add_argument("--enas-seeds", type=int, default=5)
    parser.add_argument("--enas-epochs", type=int, default=30, help="epochs of the shared weights per search")
    parser.add_argument("--controller-steps", type=int, default=20, help="controller updates per epoch")
    parser.add_argument("--candidates", type=int, default=100, help="children ranked to derive the answer")
    parser.add_argument("--sample", type=int, default=300, help="unique architectures for the rank correlation")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (small models: 1 is fastest)")
    parser.add_argument("--cache", default=None, help="pickle the ENAS searches here and reuse them (same settings)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    try:
        bench = load_tabular_nas(args.table)
        print(bench)
    except FileNotFoundError as exc:
        if args.part != "enas":
            raise
        bench = None
        print(exc)
    if args.part in ("rl", "all"):
        print(f"\n== part 1: searches on the table, {args.seeds} seeds x {args.evaluations} models ==")
        part_rl(bench, args.seeds, args.evaluations)
    if args.part in ("enas", "all"):
        print(f"\n== part 2: ENAS and random search with weight sharing, {args.enas_seeds} search seeds ==")
        part_enas(bench, args.enas_seeds, args.enas_epochs, args.controller_steps, args.candidates, args.sample,
                  args.cache)


if __name__ == "__main__":
    main()
