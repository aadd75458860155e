"""Benchmark: AdaNet on MNIST-1D against its baselines, and the chosen depth as lambda grows (issue 15).

    python bench/adanet.py                 # 5 seeds, about 6 minutes on a busy 2-core machine
    python bench/adanet.py --seeds 10      # more seeds

For every seed, AdaNet (``SimpleDNN``: MLPs of width 64, candidates as deep as the last chosen
subnetwork and one layer deeper, each trained for 20 epochs on its own loss) runs for
T = 5 iterations at each lambda in {0, 1e-3, 1e-2, 1e-1} (beta = 0). The candidates do not depend
on lambda, so the four runs share their trained subnetworks (``cache``). Reported on the test split:

* AdaNet's ensemble (learned mixture weights);
* the uniform average of the same subnetworks (w_j = 1/N, the tutorial's baseline);
* the best single subnetwork the ensemble contains (the best on the *test* split: the strictest choice);
* one MLP with as many parameters as the whole ensemble (as deep as its deepest member, wider).

The targets:

1. median over the seeds: AdaNet beats the best subnetwork it contains and the uniform average
   (test accuracy), at the lambda chosen on the validation split;
2. the total complexity sum_j r(h_j) of the chosen subnetworks falls as lambda grows (median).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from minilib.data import load_mnist1d
from minilib.ensembles.adanet import AdaNet, SimpleDNN
from minilib.models import make_mlp
from minilib.train import fit

LAMBDAS = (0.0, 1e-3, 1e-2, 1e-1)


def accuracy(logits: torch.Tensor, y: np.ndarray) -> float:
    return float((logits.argmax(dim=1).cpu().numpy() == y).mean())


def matched_width(in_features: int, out_features: int, depth: int, n_params: int) -> int:
    """The width of a ``depth``-layer MLP with about ``n_params`` parameters."""
    size = lambda w: (in_features + 1) * w + (depth - 1) * (w + 1) * w + (w + 1) * out_features
    return min(range(1, 4097), key=lambda w: abs(size(w) - n_params))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--initial-depth", type=int, default=1)
    parser.add_argument("--iterations", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest for these small nets)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    data = load_mnist1d()
    start = time.perf_counter()
    rows = {lam: [] for lam in LAMBDAS}   # (val AdaNet, test AdaNet, test uniform, test best, sum r, depth)
    matched = []
    for seed in range(args.seeds):
        cache: dict = {}
        for lam in LAMBDAS:
            search = AdaNet(SimpleDNN(40, 10, width=args.width, initial_depth=args.initial_depth), lam=lam,
                            max_iterations=args.iterations, epochs=args.epochs, lr=args.lr, seed=seed, cache=cache,
                            device=torch.device("cpu")).fit(data.X_train, data.y_train)
            members = [accuracy(out, data.y_test) for out in search.outputs(data.X_test)]
            rows[lam].append((accuracy(search.predict(data.X_val), data.y_val),
                              accuracy(search.predict(data.X_test), data.y_test),
                              accuracy(search.predict(data.X_test, uniform=True), data.y_test),
                              max(members), search.total_complexity, max(search.depths)))
            print(f"seed {seed} lambda {lam:g}: depths {search.depths}, "
                  f"w = [{', '.join(f'{w:.2f}' for w in search.weights.tolist())}], "
                  f"test accuracy AdaNet {rows[lam][-1][1]:.3f}, uniform {rows[lam][-1][2]:.3f}, "
                  f"best member {rows[lam][-1][3]:.3f}", flush=True)
        # one MLP as large as the lambda = 0 ensemble (as deep as its deepest member)
        search = AdaNet(SimpleDNN(40, 10, width=args.width, initial_depth=args.initial_depth), lam=0.0,
                        max_iterations=args.iterations, seed=seed, cache=cache)   # everything from the cache
        search.fit(data.X_train, data.y_train)
        depth, n_params = max(search.depths), search.n_parameters
        single = make_mlp(40, 10, matched_width(40, 10, depth, n_params), depth, seed=seed)
        fit(single, data.X_train, data.y_train, epochs=args.epochs, lr=args.lr, seed=seed, device=torch.device("cpu"))
        with torch.no_grad():
            matched.append(accuracy(single(torch.as_tensor(data.X_test)), data.y_test))
    seconds = time.perf_counter() - start

    print(f"\n{args.seeds} seeds, width {args.width}, {args.epochs} epochs, T = {args.iterations}, "
          f"{seconds:.0f} s in all")
    print(f"{'lambda':>8} {'val AdaNet':>11} {'AdaNet':>8} {'uniform':>8} {'best member':>12} "
          f"{'sum r(h)':>9} {'max depth':>10}   (medians; test accuracy unless marked)")
    medians = {}
    for lam in LAMBDAS:
        r = np.array(rows[lam])
        medians[lam] = np.median(r, axis=0)
        m = medians[lam]
        print(f"{lam:>8g} {m[0]:>11.3f} {m[1]:>8.3f} {m[2]:>8.3f} {m[3]:>12.3f} {m[4]:>9.2f} {m[5]:>10.1f}")
    print(f"one MLP with the parameters of the lambda = 0 ensemble: median test accuracy {np.median(matched):.3f}")

    lam_star = max(LAMBDAS, key=lambda lam: medians[lam][0])
    r = np.array(rows[lam_star])
    m = medians[lam_star]
    print(f"\nTarget 1 at lambda = {lam_star:g} (best median validation accuracy): AdaNet {m[1]:.3f} vs best member "
          f"{m[3]:.3f} and uniform {m[2]:.3f}; AdaNet ahead of the best member in {int((r[:, 1] > r[:, 3]).sum())}"
          f"/{len(r)} seeds, of the uniform average in {int((r[:, 1] > r[:, 2]).sum())}/{len(r)}: "
          f"{'MET' if m[1] > m[3] and m[1] > m[2] else 'NOT MET'}")
    total = [medians[lam][4] for lam in LAMBDAS]
    monotone = all(b <= a for a, b in zip(total, total[1:]))
    print(f"Target 2: median sum r(h) over lambda = {', '.join(f'{lam:g}' for lam in LAMBDAS)}: "
          f"{', '.join(f'{t:.2f}' for t in total)}: {'MET (non-increasing)' if monotone else 'NOT MET'}")


if __name__ == "__main__":
    main()
