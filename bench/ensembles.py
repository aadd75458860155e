"""Benchmark: the targets of issue 14 (chapters 08 and 09) on MNIST-1D, median over seeds.

    python bench/ensembles.py                       # 5 seeds, every target (about 15 minutes on 2 cores)
    python bench/ensembles.py --seeds 3 --only swa mc_dropout

1. ``independent``: a 5-member ensemble of 1-D CNNs (SGD, momentum 0.9, lr 0.1 with cosine annealing)
   beats its best member in test accuracy and in test NLL (the best member by each metric).
2. ``snapshot``: a snapshot ensemble with M >= 4 cycles against a single model trained for the same
   number of epochs with one cosine cycle (Huang et al. 2017); target: at least 1 point of test accuracy.
   The settings (``SNAPSHOT_SETTINGS``; ``--snapshot-settings 0 1`` picks some) vary the restart learning
   rate (the chapter's lr0 = 0.1, and 0.5), the number of cycles (4 and 5), the training set (all 4000
   examples or the first 1000), the network (the CNN with SGD, an MLP with Adam) and the labels (clean, or
   30 % of the training labels wrong: single models far from saturation). For each, the
   ensemble of all M snapshots and the ensemble of the last m snapshots with m chosen on the
   *validation* set are reported.
3. ``swa``: a CNN with BatchNorm trained with SGD at a constant learning rate; SWA over the last quarter
   of the epochs (``--swa-start 0.5``: the last half), evaluated with the BatchNorm statistics copied
   from the live model and after ``update_bn``.
4. ``mc_dropout``: an MLP with dropout; MC dropout's predictive entropy on misclassified test points
   against correctly classified ones.

Every run uses one thread (the networks are tiny) and the CPU unless ``MINILIB_DEVICE`` says otherwise.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from torch import nn

from minilib import train
from minilib.data import load_mnist1d
from minilib.ensembles import averaging, dropout, metrics, snapshot
from minilib.models import build_seeded, make_cnn1d, make_mlp

DATA = load_mnist1d()
BATCH = 128


def probs(model: nn.Module, X: np.ndarray) -> np.ndarray:
    return averaging.softmax(averaging.predict_logits(model, X))


def make_model(kind: str, seed: int) -> nn.Module:
    """``"cnn"``: make_cnn1d; ``"mlp"``: make_mlp with two hidden layers of 256 units."""
    return make_cnn1d(seed=seed) if kind == "cnn" else make_mlp(40, 10, width=256, depth=2, seed=seed)


def noisy_labels(y: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """``y`` with a random ``fraction`` of the labels replaced by a different, wrong class (seeded)."""
    rng = np.random.default_rng(1000 + seed)
    y = y.copy()
    flip = rng.random(len(y)) < fraction
    y[flip] = (y[flip] + rng.integers(1, 10, flip.sum())) % 10
    return y


def cnn_run(seed: int, epochs: int, n_cycles: int, lr: float, n_train: int, on_step=None, kind: str = "cnn",
            optimizer: str = "sgd", model: nn.Module | None = None, label_noise: float = 0.0) -> nn.Module:
    """A network (``model``, or a new one of ``kind``) trained with the cyclic cosine schedule
    (1 cycle = cosine annealing), on training labels of which ``label_noise`` are wrong."""
    model = model if model is not None else make_model(kind, seed)
    total = epochs * -(-n_train // BATCH)
    labels = noisy_labels(DATA.y_train[:n_train], label_noise, seed) if label_noise else DATA.y_train[:n_train]
    train.fit(model, DATA.X_train[:n_train], labels, epochs=epochs, lr=lr, optimizer=optimizer,
              seed=seed, batch_size=BATCH, scheduler=snapshot.cyclic_cosine_scheduler(total, n_cycles), on_step=on_step)
    return model


# --- 1. independent ensembles -----------------------------------------------------------

def independent(seed: int, members: int = 5, epochs: int = 30) -> dict[str, float]:
    member_probs = np.stack([probs(cnn_run(members * seed + i, epochs, 1, 0.1, len(DATA.X_train)), DATA.X_test)
                             for i in range(members)])
    ens = member_probs.mean(0)
    y = DATA.y_test
    return {"best member acc": max(metrics.accuracy(p, y) for p in member_probs),
            "ensemble acc": metrics.accuracy(ens, y),
            "best member NLL": min(metrics.nll(p, y) for p in member_probs),
            "ensemble NLL": metrics.nll(ens, y)}


# --- 2. snapshot ensembles --------------------------------------------------------------

SNAPSHOT_SETTINGS = {
    "lr0 0.1, 4 cycles x 25 epochs": {"lr": 0.1, "cycle_epochs": 25, "n_train": 4000},
    "lr0 0.5, 4 cycles x 25 epochs": {"lr": 0.5, "cycle_epochs": 25, "n_train": 4000},
    "lr0 0.5, 5 cycles x 20 epochs": {"lr": 0.5, "cycle_epochs": 20, "n_train": 4000, "n_cycles": 5},
    "lr0 0.3, 5 cycles x 20 epochs": {"lr": 0.3, "cycle_epochs": 20, "n_train": 4000, "n_cycles": 5},
    "lr0 0.3, 6 cycles x 20 epochs": {"lr": 0.3, "cycle_epochs": 20, "n_train": 4000, "n_cycles": 6},
    "1000 training examples, lr0 0.1, 4 cycles x 50 epochs": {"lr": 0.1, "cycle_epochs": 50, "n_train": 1000},
    "1000 training examples, lr0 0.5, 4 cycles x 50 epochs": {"lr": 0.5, "cycle_epochs": 50, "n_train": 1000},
    "MLP 2 x 256, Adam lr0 3e-3, 4 cycles x 25 epochs": {"lr": 3e-3, "cycle_epochs": 25, "n_train": 4000,
                                                          "kind": "mlp", "optimizer": "adam"},
    "MLP 2 x 256, Adam lr0 1e-2, 4 cycles x 25 epochs": {"lr": 1e-2, "cycle_epochs": 25, "n_train": 4000,
                                                          "kind": "mlp", "optimizer": "adam"},
    # far from saturation: 30 % of the training labels are wrong (validation and test labels are clean)
    "30% wrong training labels, lr0 0.1, 4 cycles x 25 epochs": {"lr": 0.1, "cycle_epochs": 25, "n_train": 4000,
                                                                 "label_noise": 0.3},
}


def snapshot_run(seed: int, lr: float, cycle_epochs: int, n_train: int, n_cycles: int = 4, kind: str = "cnn",
                 optimizer: str = "sgd", label_noise: float = 0.0) -> dict[str, float]:
    epochs = n_cycles * cycle_epochs
    total = epochs * -(-n_train // BATCH)
    single = probs(cnn_run(seed, epochs, 1, lr, n_train, kind=kind, optimizer=optimizer, label_noise=label_noise),
                   DATA.X_test)
    model = make_model(kind, seed)
    collector = snapshot.SnapshotCollector(model, snapshot.snapshot_steps(total, n_cycles))
    cnn_run(seed, epochs, n_cycles, lr, n_train, on_step=collector, optimizer=optimizer, model=model,
            label_noise=label_noise)
    val = np.stack([probs(m, DATA.X_val) for m in collector.snapshots])
    test = np.stack([probs(m, DATA.X_test) for m in collector.snapshots])
    val_acc = [metrics.accuracy(val[-m:].mean(0), DATA.y_val) for m in range(1, n_cycles + 1)]
    m_best = int(np.argmax(val_acc)) + 1                     # the last m, chosen on validation data
    y = DATA.y_test
    return {"single (1 cycle) acc": metrics.accuracy(single, y),
            "last snapshot acc": metrics.accuracy(test[-1], y),
            f"all {n_cycles} snapshots acc": metrics.accuracy(test.mean(0), y),
            "last m (m by val) acc": metrics.accuracy(test[-m_best:].mean(0), y),
            "m chosen": float(m_best)}


# --- 3. SWA with and without the BatchNorm update -------------------------------------------

def bn_cnn(seed: int, channels: int = 32) -> nn.Module:
    def build() -> nn.Module:
        layers: list[nn.Module] = [nn.Unflatten(1, (1, 40))]
        for i in range(3):
            layers += [nn.Conv1d(1 if i == 0 else channels, channels, 5, stride=2 if i == 0 else 1, padding=2),
                       nn.BatchNorm1d(channels), nn.ReLU()]
        return nn.Sequential(*layers, nn.AdaptiveAvgPool1d(1), nn.Flatten(), nn.Linear(channels, 10))
    return build_seeded(build, seed)


def swa(seed: int, epochs: int = 30, lr: float = 0.1, start_fraction: float = 0.75) -> dict[str, float]:
    live = bn_cnn(seed)
    avg = averaging.AveragedWeights(live)
    start = int(start_fraction * epochs)

    def on_epoch(epoch: int, history: train.History) -> None:
        if epoch > start:
            avg.update(live)

    train.fit(live, DATA.X_train, DATA.y_train, epochs=epochs, lr=lr, optimizer="sgd", seed=seed, on_epoch=on_epoch)
    y = DATA.y_test
    row = {"live (constant lr) acc": metrics.accuracy(probs(live, DATA.X_test), y),
           "SWA without update_bn acc": metrics.accuracy(probs(avg.model, DATA.X_test), y)}
    averaging.update_bn(avg.model, DATA.X_train)
    row["SWA with update_bn acc"] = metrics.accuracy(probs(avg.model, DATA.X_test), y)
    return row


# --- 4. MC dropout: entropy of wrong vs right predictions -----------------------------------

def mc_dropout(seed: int, p: float = 0.2, epochs: int = 40, n_samples: int = 100) -> dict[str, float]:
    net = make_mlp(40, 10, width=256, depth=2, dropout=p, seed=seed)
    train.fit(net, DATA.X_train, DATA.y_train, epochs=epochs, lr=1e-3, seed=seed)
    mc = dropout.mc_dropout_predict(net, DATA.X_test, n_samples=n_samples, seed=seed)
    H = metrics.entropy(mc["mean"])
    wrong = mc["mean"].argmax(1) != DATA.y_test
    return {"MC accuracy": metrics.accuracy(mc["mean"], DATA.y_test),
            "median entropy, correct": float(np.median(H[~wrong])),
            "median entropy, misclassified": float(np.median(H[wrong]))}


def table(title: str, rows: list[dict[str, float]]) -> dict[str, float]:
    keys = list(rows[0])
    widths = [max(16, len(k) + 2) for k in keys]
    print(f"\n{title}  ({len(rows)} seeds; per-seed values, then the median)")
    print("   " + "".join(f"{k:>{w}}" for k, w in zip(keys, widths)))
    for i, r in enumerate(rows):
        print(f"{i:>3}" + "".join(f"{r[k]:>{w}.4f}" for k, w in zip(keys, widths)))
    med = {k: float(np.median([r[k] for r in rows])) for k in keys}
    print("med" + "".join(f"{med[k]:>{w}.4f}" for k, w in zip(keys, widths)))
    return med


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--only", nargs="*", default=["independent", "snapshot", "swa", "mc_dropout"])
    parser.add_argument("--snapshot-settings", nargs="*", type=int, default=None,
                        help="indices into SNAPSHOT_SETTINGS (default: all)")
    parser.add_argument("--swa-start", type=float, default=0.75,
                        help="SWA averages the epochs after this fraction of the run (default 0.75)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    seeds = range(args.seeds)
    verdicts = []
    start = time.perf_counter()
    if "independent" in args.only:
        rows = [independent(s) for s in seeds]
        med = table("1. Independent ensemble of 5 CNNs (30 epochs each) vs its best member", rows)
        gain_acc = np.median([r["ensemble acc"] - r["best member acc"] for r in rows])
        gain_nll = np.median([r["best member NLL"] - r["ensemble NLL"] for r in rows])
        verdicts.append((f"5-member ensemble beats its best member: accuracy {med['ensemble acc']:.4f} vs "
                         f"{med['best member acc']:.4f}, NLL {med['ensemble NLL']:.4f} vs {med['best member NLL']:.4f} "
                         f"(medians; per-seed differences {100 * gain_acc:+.2f} points, {gain_nll:+.4f} NLL)",
                         gain_acc > 0 and gain_nll > 0))
    if "snapshot" in args.only:
        chosen = list(SNAPSHOT_SETTINGS.items())
        if args.snapshot_settings is not None:
            chosen = [chosen[i] for i in args.snapshot_settings]
        for name, setting in chosen:
            rows = [snapshot_run(s, **setting) for s in seeds]
            table(f"2. Snapshot ensemble vs one cosine cycle, same epochs: {name}", rows)
            all_key = [k for k in rows[0] if k.startswith("all ")][0]
            gain_all = np.median([r[all_key] - r["single (1 cycle) acc"] for r in rows])
            gain_val = np.median([r["last m (m by val) acc"] - r["single (1 cycle) acc"] for r in rows])
            verdicts.append((f"snapshot ensemble >= 1 point over one cosine cycle [{name}]: all snapshots "
                             f"{100 * gain_all:+.2f}, last m chosen on validation {100 * gain_val:+.2f} points",
                             max(gain_all, gain_val) >= 0.01))
    if "swa" in args.only:
        rows = [swa(s, start_fraction=args.swa_start) for s in seeds]
        table(f"3. SWA on a CNN with BatchNorm (constant lr 0.1, 30 epochs, averaging after {args.swa_start:.0%} "
              "of the epochs)", rows)
        gain = np.median([r["SWA with update_bn acc"] - r["SWA without update_bn acc"] for r in rows])
        wins = sum(r["SWA with update_bn acc"] > r["SWA without update_bn acc"] for r in rows)
        verdicts.append((f"SWA with update_bn beats SWA without: {100 * gain:+.2f} points (median), "
                         f"better in {wins} of {len(rows)} seeds", gain > 0))
    if "mc_dropout" in args.only:
        rows = [mc_dropout(s) for s in seeds]
        med = table("4. MC dropout (MLP 2 x 256, p = 0.2, T = 100): predictive entropy", rows)
        verdicts.append((f"MC-dropout entropy higher on misclassified points: median "
                         f"{med['median entropy, misclassified']:.3f} vs {med['median entropy, correct']:.3f}",
                         med["median entropy, misclassified"] > med["median entropy, correct"]))
    print(f"\nTargets ({time.perf_counter() - start:.0f} s):")
    for text, ok in verdicts:
        print(f"  [{'met' if ok else 'NOT met'}] {text}")


if __name__ == "__main__":
    main()
