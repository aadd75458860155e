"""Benchmark: chapter 12's AutoML pipeline against its best single trial and chapter 00's CNN.

    python bench/pipeline.py                   # 3 seeds x 60 trials on 2 Dask workers, about 4 minutes idle
    python bench/pipeline.py --seeds 5 --trials 60

For each seed: ASHA (seed s; rungs at 1, 3, 9 epochs) searches ``minilib.pipeline.SPACE`` on a local
Dask cluster (2 workers, one thread each) for ``--trials`` trials; greedy ensemble selection on the
trials' validation probabilities builds the ensemble; the best single trial (lowest validation error),
the ensemble and chapter 00's hand-tuned CNN (trained with seed s) are evaluated once on MNIST-1D's test set.

Target (issue 17): the ensemble's median test accuracy over the seeds beats both the best single
trial's and the CNN's.
"""

from __future__ import annotations

import os
import sys

# this folder holds distributed.py: drop it from the path, or `import distributed` would import that file
sys.path = [p for p in sys.path if os.path.abspath(p or os.curdir) != os.path.dirname(os.path.abspath(__file__))]

import argparse  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
from distributed import Client, LocalCluster  # noqa: E402

from minilib import pipeline as P  # noqa: E402
from minilib.distributed import run_distributed  # noqa: E402
from minilib.ensembles.metrics import accuracy  # noqa: E402
from minilib.hpo.asha import ASHA  # noqa: E402


def one_seed(seed: int, n_trials: int, max_epochs: int, client: Client) -> dict[str, float]:
    data = P.load_data()
    start = time.perf_counter()
    study = run_distributed(ASHA(P.SPACE, max_budget=max_epochs, min_budget=1, eta=3, seed=seed), P.train_trial,
                            n_trials, client=client)
    seconds = time.perf_counter() - start
    trials = [t for t in study.trials if t.status == "ok"]
    selection = P.select_ensemble(trials, data.y_val)
    baseline = P.cnn_baseline(seed=seed)
    return {"single": accuracy(P.trial_probs(P.best_trial(trials), data.X_test), data.y_test),
            "ensemble": accuracy(P.ensemble_probs(selection, trials, data.X_test), data.y_test),
            "cnn": accuracy(baseline["test_probs"], data.y_test), "members": len(selection.members),
            "failed": len(study.trials) - len(trials), "seconds": seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--trials", type=int, default=60)
    parser.add_argument("--max-epochs", type=int, default=9)
    args = parser.parse_args()
    torch.set_num_threads(1)
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0")
    client = Client(cluster)
    client.run(P.warm_up)
    rows = []
    print(f"{'seed':>4} {'CNN (ch. 00)':>12} {'best trial':>10} {'ensemble':>9} {'members':>7} {'failed':>6} "
          f"{'search s':>8}")
    try:
        for seed in range(args.seeds):
            r = one_seed(seed, args.trials, args.max_epochs, client)
            rows.append(r)
            print(f"{seed:4d} {r['cnn']:12.3f} {r['single']:10.3f} {r['ensemble']:9.3f} {r['members']:7d} "
                  f"{r['failed']:6d} {r['seconds']:8.1f}", flush=True)
    finally:
        client.close()
        cluster.close()
    med = {k: float(np.median([r[k] for r in rows])) for k in ("cnn", "single", "ensemble")}
    print(f"median {med['cnn']:12.3f} {med['single']:10.3f} {med['ensemble']:9.3f}")
    wins = sum(r["ensemble"] > max(r["single"], r["cnn"]) for r in rows)
    ok = med["ensemble"] > med["single"] and med["ensemble"] > med["cnn"]
    print(f"target (median ensemble > median best trial and > median CNN): {'met' if ok else 'MISSED'}; "
          f"ensemble - best trial {100 * (med['ensemble'] - med['single']):+.1f} points, ensemble - CNN "
          f"{100 * (med['ensemble'] - med['cnn']):+.1f} points; the ensemble beats both in {wins} of {len(rows)} seeds")


if __name__ == "__main__":
    main()
