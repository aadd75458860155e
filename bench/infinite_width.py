"""Benchmark: infinitely wide networks (issue 16) — closed-form kernels, Monte-Carlo convergence, trained ensembles.

    python bench/infinite_width.py              # about 1-3 minutes on 2 cores
    python bench/infinite_width.py --quick      # fewer networks and steps, a quicker look

The targets:

1. the closed-form kernels equal Neural Tangents' reference matrices (REFERENCES.md §15) to 1e-6;
2. the Monte-Carlo error of the empirical kernels falls with width with a log-log slope between
   -0.65 and -0.35 (about -1/2), over >= 4 widths: the relative Frobenius error of one network's
   empirical NNGP (its output covariance over the readout) and empirical NTK (J J^T), averaged
   over networks, for ReLU and erf networks with one hidden layer;
3. the mean prediction of a trained finite ensemble (full-batch GD on a 1-D regression) approaches
   the NTK predictive mean at the same training time as the width grows (the distance is printed
   with its Monte-Carlo floor, std / sqrt(members));
4. the cost: one kernel computation and O(n^3) solve against training the ensembles.
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
import torch
from threadpoolctl import threadpool_limits

from minilib import kernels as K
from minilib.data import make_regression_1d

# REFERENCES.md §15: Neural Tangents 0.6.5, Dense(w, W_std, b_std) -> Relu -> Dense(1, W_std, b_std), "ntk"
X_REF = np.array([[1.0, 0.0], [0.6, 0.8], [-1.0, 0.5]])
NT_REFERENCE = {
    (2.0, 0.0): (np.array([[1, 0.677548, 0.011571], [0.677548, 1, 0.261591], [0.011571, 0.261591, 1.25]]),
                 np.array([[2, 1.100447, -0.136012], [1.100447, 2, 0.173041], [-0.136012, 0.173041, 2.5]])),
    (1.0, 0.1): (np.array([[0.4, 0.317632, 0.124945], [0.317632, 0.4, 0.20497], [0.124945, 0.20497, 0.4625]]),
                 np.array([[0.7, 0.464088, 0.066429], [0.464088, 0.7, 0.20497], [0.066429, 0.20497, 0.825]])),
}


def target_reference() -> None:
    print("target 1: closed form vs Neural Tangents (max |difference|)")
    for (w2, b2), (nngp, ntk) in NT_REFERENCE.items():
        net = K.mlp(512, 1, 1, "relu", math.sqrt(w2), math.sqrt(b2))
        k = K.kernel(net, X_REF)
        d_nngp, d_ntk = np.abs(k.nngp - nngp).max(), np.abs(k.ntk - ntk).max()
        verdict = "PASS" if max(d_nngp, d_ntk) <= 1e-6 else "MISS"
        print(f"  sigma_w^2 = {w2:g}, sigma_b^2 = {b2:g}: NNGP {d_nngp:.1e}, NTK {d_ntk:.1e}   [<= 1e-6: {verdict}]")


def kernel_errors(act: str, widths: list[int], n_networks: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Mean relative error of one network's empirical NNGP and NTK, for each width."""
    X = np.random.default_rng(seed).standard_normal((12, 4))
    W_std = math.sqrt(2) if act == "relu" else 1.5
    exact = K.kernel(K.mlp(1, 1, 1, act, W_std, 0.1), X)
    errors = np.zeros((len(widths), 2))
    for i, width in enumerate(widths):
        net = K.mlp(width, 1, 1, act, W_std, 0.1)
        gen = torch.Generator().manual_seed(seed)
        for _ in range(n_networks):
            _, params = net.init_fn(X.shape[1], gen, torch.float64)
            errors[i] += [K.relative_error(K.empirical_nngp(net, params, X), exact.nngp),
                          K.relative_error(K.empirical_ntk(net, params, X), exact.ntk)]
    return errors / n_networks, X


def target_slopes(n_networks: int) -> None:
    widths = [16, 64, 256, 1024, 4096]
    print(f"\ntarget 2: relative error of one network's empirical kernel, mean of {n_networks} networks")
    print(f"  {'activation':<10} {'kernel':<6}" + "".join(f"{w:>9}" for w in widths) + f"{'slope':>9}")
    for act in ("relu", "erf"):
        errors, X = kernel_errors(act, widths, n_networks)
        for j, name in enumerate(("NNGP", "NTK")):
            slope = np.polyfit(np.log(widths), np.log(errors[:, j]), 1)[0]
            verdict = "PASS" if -0.65 <= slope <= -0.35 else "MISS"
            print(f"  {act:<10} {name:<6}" + "".join(f"{e:>9.4f}" for e in errors[:, j])
                  + f"{slope:>9.3f}   [in [-0.65, -0.35]: {verdict}]")
    # the NNGP estimated by sampling outputs: M networks x 1 output; it stops improving with width
    net_ref = K.mlp(1, 1, 1, "relu", math.sqrt(2), 0.1)
    exact = K.kernel(net_ref, X).nngp
    sampled = [K.relative_error(K.monte_carlo_nngp(K.mlp(w, 1, 1, "relu", math.sqrt(2), 0.1), X,
                                                   n_samples=n_networks, seed=1), exact) for w in widths]
    print(f"  (for contrast, relu NNGP from the outputs of {n_networks} networks:"
          + "".join(f" {e:.3f}" for e in sampled) + ": the sampling error 1/sqrt(networks) dominates)")


def regression_setup(seed: int = 0):
    data = make_regression_1d(n=40, noise=0.1, seed=seed)
    X, y = data.X_train.astype(np.float64), data.y_train.astype(np.float64)
    xs = np.linspace(-2.5, 2.5, 101)[:, None]
    return X, y, xs


def target_ensemble(widths: list[int], n_members: int, steps: int) -> dict[str, float]:
    X, y, xs = regression_setup()
    arch = dict(depth=1, out_features=1, activation="erf", W_std=1.5, b_std=0.5)
    start = time.perf_counter()
    net = K.mlp(1, **arch)
    k_train, k_test, k_tt = K.kernel(net, X), K.kernel(net, xs, X), K.kernel(net, xs)
    lr = 0.5 * len(X) / np.linalg.eigvalsh(k_train.ntk)[-1]       # c * lambda_max = 1: the top mode in one step
    mean, cov = K.ntk_ensemble(k_train, k_test, k_tt.nngp, y, t=steps, lr=lr)
    kernel_seconds = time.perf_counter() - start
    std = np.sqrt(np.clip(np.diag(cov), 0, None))
    floor = float(np.sqrt(np.mean(std**2) / n_members))
    print(f"\ntarget 3: {n_members} erf networks per width, {len(X)} points, full-batch GD, {steps} steps at "
          f"lr {lr:.3f}; RMS distance over {len(xs)} test inputs in [-2.5, 2.5]")
    print(f"  Monte-Carlo floor of an ensemble mean, RMS of std / sqrt({n_members}): {floor:.4f}")
    print(f"  {'width':>6} {'|mean - NTK mean|':>18} {'|std - NTK std|':>16} {'train MSE':>10} {'seconds':>8}")
    distances, train_seconds = [], 0.0
    for width in widths:
        start = time.perf_counter()
        run = K.train_ensemble(K.mlp(width, **arch), X, y, xs, n_members=n_members, steps=steps, lr=lr, seed=1,
                               dtype=torch.float32)
        seconds = time.perf_counter() - start
        train_seconds += seconds
        out = run.test_outputs[-1, :, :, 0]
        d_mean = float(np.sqrt(np.mean((out.mean(0) - mean) ** 2)))
        d_std = float(np.sqrt(np.mean((out.std(0) - std) ** 2)))
        distances.append(d_mean)
        print(f"  {width:>6} {d_mean:>18.4f} {d_std:>16.4f} {run.train_loss[-1]:>10.4f} {seconds:>8.1f}")
    shrinking = all(b < a for a, b in zip(distances, distances[1:]))
    print(f"  the distance shrinks at every step in width: {'PASS' if shrinking else 'MISS'}; "
          f"widest / narrowest = {distances[-1] / distances[0]:.2f}")
    return {"kernel": kernel_seconds, "train": train_seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    threadpool_limits(1)
    torch.set_num_threads(1)
    target_reference()
    target_slopes(n_networks=8 if args.quick else 20)
    seconds = target_ensemble([16, 64, 256, 1024], n_members=32 if args.quick else 128,
                              steps=200 if args.quick else 1000)
    print(f"\ntarget 4 (cost): closed-form kernels and the NTK-GP mean and covariance {seconds['kernel']:.2f} s; "
          f"training the four ensembles {seconds['train']:.1f} s")


if __name__ == "__main__":
    main()
