"""Benchmark: hypernetwork HPO (Lorraine & Duvenaud 2018, Algorithm 3) against grid search (issue 13).

    python bench/hypernetwork.py              # 5 seeds, about 1-2 minutes on one core
    python bench/hypernetwork.py --seeds 2    # a quicker look

Two problems, the hyperparameter λ = log of the L2 penalty weight in
``L_train(w, λ) = mean loss + exp(λ) ||w||²`` (``minilib.hpo.hypernetwork``):

1. **Ridge regression** (30 points, 40 features, noise 0.5), where the validation-optimal λ* is
   known: a fine 1-D search (step 0.005) over the closed-form best response. A linear hypernetwork
   from λ̂ = -5 and from λ̂ = 2 against a grid of 19 values (step 0.5), each trained to convergence.
2. **Digits** (150 training images, the book's validation and test splits), a 64-32-10 MLP with
   cross-entropy: a linear hypernetwork from λ̂ = -3 and -9 against a grid of 21 values from -10 to 0.
   The grid trains each MLP 300 Adam steps with learning rate 0.02 (converged); the hypernetwork takes
   2 Adam steps of 0.005 per hyperparameter step (with 0.02 its validation loss spikes). Besides
   ``w_φ(λ̂)`` itself, a model retrained at λ̂ (one more training) is reported, so that both methods
   end with an ordinarily trained model; the test split is only read for the final numbers.

Cost = model gradient evaluations (one forward-backward pass of the model on the training set or
the validation set) and seconds on one CPU thread.
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
import torch

from minilib.data import load_digits
from minilib.hpo import hypernetwork as H

CPU = torch.device("cpu")


def ridge(seeds: list[int]) -> None:
    rng = np.random.default_rng(0)
    n, n_val, d = 30, 200, 40
    w_true = rng.standard_normal(d) / np.sqrt(d)
    X = rng.standard_normal((n + n_val, d))
    y = X @ w_true + 0.5 * rng.standard_normal(n + n_val)
    Xt, yt, Xv, yv = (torch.tensor(a, dtype=torch.float64) for a in (X[:n], y[:n], X[n:], y[n:]))
    val_of = lambda lam: ((Xv @ H.ridge_best_response(Xt, yt, lam) - yv) ** 2).mean().item()
    fine = np.arange(-6, 3, 0.005)
    curve = np.array([val_of(v) for v in fine])
    lam_star, best = float(fine[np.argmin(curve)]), float(curve.min())
    print(f"1. ridge regression, n = {n}, d = {d}: exact validation-optimal lambda* = {lam_star:.3f} "
          f"(validation MSE {best:.4f}; {curve[0]:.4f} at -6, {curve[-1]:.4f} at 3)")
    print(f"{'method':<34}{'lambda':>9}{'|l - l*|':>10}{'val MSE of w*(l)':>18}{'regret':>10}{'grad evals':>12}"
          f"{'seconds':>9}")
    grid = np.arange(-5, 4.01, 0.5)
    g = H.grid_search(grid, Xt, yt, Xv, yv, sizes=[d, 1], bias=False, task="regression", steps=1000, lr=0.01,
                      device=CPU)
    print(f"{'grid search, 19 x 1000 steps':<34}{g.best_log_lambda:>9.3f}{abs(g.best_log_lambda - lam_star):>10.3f}"
          f"{val_of(g.best_log_lambda):>18.4f}{val_of(g.best_log_lambda) - best:>10.1e}{g.gradient_evals:>12}"
          f"{g.seconds:>9.1f}")
    for start in (-5.0, 2.0):
        for seed in seeds:
            hnet = H.HyperNetwork([d, 1], bias=False, log_lambda0=start, seed=seed)
            r = H.hypertrain(hnet, Xt, yt, Xv, yv, task="regression", log_lambda0=start, steps=200, warmup=200,
                             train_steps=5, lr=0.01, hyper_lr=0.05, sigma=0.1, seed=seed, device=CPU)
            w_err = (hnet(torch.tensor(r.log_lambda)).detach().double() - H.ridge_best_response(Xt, yt, r.log_lambda))
            name = f"hypernetwork from {start:g}, seed {seed}"
            print(f"{name:<34}{r.log_lambda:>9.3f}{abs(r.log_lambda - lam_star):>10.3f}{val_of(r.log_lambda):>18.4f}"
                  f"{val_of(r.log_lambda) - best:>10.1e}{r.gradient_evals:>12}{r.seconds:>9.1f}"
                  f"   |w_phi - w*| / |w*| = {w_err.norm() / H.ridge_best_response(Xt, yt, r.log_lambda).norm():.1e}")


def digits(seeds: list[int]) -> None:
    data = load_digits(0)
    X, y = data.X_train[:150], data.y_train[:150]
    sizes, lr, steps, hn_lr = [64, 32, 10], 0.02, 300, 0.005
    Xte, yte = torch.as_tensor(data.X_test), torch.as_tensor(data.y_test)

    def test_of(w: torch.Tensor) -> tuple[float, float]:
        with torch.no_grad():
            out = H.mlp(w.float(), Xte, sizes)
        return H.task_loss(out, yte, "classification").item(), (out.argmax(1) == yte).float().mean().item()

    print(f"\n2. digits, {len(X)} training images, MLP {sizes}; the grid trains {steps} Adam steps (lr {lr}) "
          f"per value, the hypernetwork 2 steps (lr {hn_lr}) per hyperparameter step")
    print(f"{'method':<30}{'lambda':>8}{'val CE':>8}{'test CE':>9}{'test acc':>9}{'retrained: test CE':>20}"
          f"{'acc':>7}{'grad evals':>12}{'seconds':>9}")
    grid = np.arange(-10, 0.01, 0.5)
    g = H.grid_search(grid, X, y, data.X_val, data.y_val, sizes=sizes, task="classification", steps=steps, lr=lr,
                      device=CPU)
    tl, ta = test_of(g.best_weights)
    name = f"grid search, {len(grid)} values"
    print(f"{name:<30}{g.best_log_lambda:>8.2f}{min(g.val_loss):>8.3f}{tl:>9.3f}{ta:>9.3f}{'(the same)':>20}"
          f"{'':>7}{g.gradient_evals:>12}{g.seconds:>9.1f}")
    print("   grid validation CE:", " ".join(f"{v:g}:{loss:.3f}" for v, loss in zip(grid, g.val_loss)))
    found = []
    for start in (-3.0, -9.0):
        for seed in seeds:
            hnet = H.HyperNetwork(sizes, log_lambda0=start, seed=seed)
            r = H.hypertrain(hnet, X, y, data.X_val, data.y_val, task="classification", log_lambda0=start,
                             steps=250, warmup=200, train_steps=2, lr=hn_lr, hyper_lr=0.05, sigma=0.5, seed=seed,
                             device=CPU)
            w = hnet(torch.tensor(r.log_lambda)).detach()
            with torch.no_grad():
                val = H.task_loss(H.mlp(w, torch.as_tensor(data.X_val), sizes), torch.as_tensor(data.y_val),
                                  "classification").item()
            tl, ta = test_of(w)
            rl, ra = test_of(H.train_at(r.log_lambda, X, y, sizes=sizes, task="classification", steps=steps, lr=lr,
                                        seed=seed, device=CPU))
            found.append(r.log_lambda)
            name = f"hypernetwork from {start:g}, seed {seed}"
            print(f"{name:<30}{r.log_lambda:>8.2f}{val:>8.3f}{tl:>9.3f}{ta:>9.3f}{rl:>20.3f}{ra:>7.3f}"
                  f"{r.gradient_evals:>12}{r.seconds:>9.1f}")
    print(f"   lambda found by the hypernetwork: median {np.median(found):.2f}, range {min(found):.2f} to "
          f"{max(found):.2f}; grid search: {g.best_log_lambda:.2f} (grid step 0.5)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    seeds = list(range(args.seeds))
    start = time.perf_counter()
    ridge(seeds[:max(1, math.ceil(len(seeds) / 2))])
    digits(seeds)
    print(f"\ntotal {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
