"""Build datasets/tabular_nas_mnist1d.npz: every unique cell of minilib.nas.space trained on MNIST-1D.

    python datasets/build_tabular_nas.py --workers 2          # the whole table, about 2 hours on 2 cores
    python datasets/build_tabular_nas.py --workers 2 --seeds 0 --out /tmp/s0.npz   # in parts ...
    python datasets/build_tabular_nas.py --workers 2 --seeds 1 --out /tmp/s1.npz
    python datasets/build_tabular_nas.py --merge /tmp/s0.npz /tmp/s1.npz           # ... then joined
    python datasets/build_tabular_nas.py --merge datasets/tabular_nas_mnist1d.npz /tmp/s1.npz --out /tmp/both.npz
    python datasets/build_tabular_nas.py --sample 40 --seeds 0 --out /tmp/pilot.npz # a pilot: 40 random rows

4,930 unique architectures (one per class of minilib.nas.space.canonical among the 15,625 cells)
x 2 training seeds x EPOCHS epochs (minilib.benchmarks.nas.train_architecture), plus each
network's parameters, FLOPs and median CPU latency (one sequence). Every training run uses one
CPU thread (torch.set_num_threads(1)), so that tests can retrain entries and get the same
numbers; ``--workers N`` trains N architectures at a time in N processes (the numbers do not
depend on N; the stored seconds and latencies are those of a machine running N of them).
Progress goes to stdout; finished rows are saved every 40 architectures to a partial file (in
the system temp folder, or ``--partial PATH``) and a restarted build resumes from it. With
``--shuffle`` the rows are trained in a random order, so the rows finished so far are a random
sample of the space (its noise and landscape can be read before the build ends)."""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from minilib.benchmarks.nas import (  # noqa: E402
    ARCH_METRICS,
    BATCH_SIZE,
    CELLS_PER_STAGE,
    CHANNELS,
    EPOCHS,
    LR,
    NAS_FILE,
    STAGES,
    STEM_STRIDE,
    TRAIN_SEEDS,
    load_tabular_nas,
    measure_architecture,
    rows_of,
    save_table,
    train_architecture,
)
from minilib.benchmarks.storage import decode_metrics  # noqa: E402
from minilib.benchmarks.tabular import METRICS  # noqa: E402
from minilib.data import load_mnist1d  # noqa: E402
from minilib.nas.space import OPS  # noqa: E402

CHUNK = 40          # architectures per progress line and partial save (2 workers: about 1 min on free cores)


def _init_worker() -> None:
    torch.set_num_threads(1)


def train_row(config: dict, seeds: tuple[int, ...] = TRAIN_SEEDS) -> tuple[dict[str, np.ndarray], dict[str, float]]:
    """One row: ``({metric: (seeds, EPOCHS)}, {"params", "flops", "latency"})`` for cell ``config``."""
    data = load_mnist1d()
    runs = [train_architecture(config, EPOCHS, seed=seed, data=data, device=torch.device("cpu")) for seed in seeds]
    return {m: np.stack([run[m] for run in runs]) for m in METRICS}, measure_architecture(config)


def summary(val_accuracy: np.ndarray) -> str:
    """Quantiles of the final validation accuracy (mean over seeds) of the rows trained so far."""
    final = val_accuracy[:, :, -1].mean(axis=1)
    final = final[np.isfinite(final)]
    q = np.quantile(final, [0, 0.1, 0.5, 0.9, 0.99, 1])
    return (f"final val accuracy over {len(final)} architectures: min {q[0]:.3f}, 10% {q[1]:.3f}, median {q[2]:.3f}, "
            f"90% {q[3]:.3f}, 99% {q[4]:.3f}, max {q[5]:.3f}; share within 0.01 of the max "
            f"{np.mean(final >= final.max() - 0.01):.3f}")


def merge(parts: list[Path], out: Path) -> None:
    """Join tables built for different training seeds (``--seeds 0`` and ``--seeds 1``) into one. A
    part may also be a saved table (``datasets/tabular_nas_mnist1d.npz`` holding fewer seeds)."""
    tables, infos, arch = {m: [] for m in METRICS}, [], None
    for part in parts:
        with np.load(part) as f:
            info = json.loads(str(f["info"]))
            saved = "archs" in f                     # a saved table: counts and float16, decode them
            for m, values in (decode_metrics(f, METRICS, info) if saved else {m: f[m] for m in METRICS}).items():
                tables[m].append(values)
            infos.append(info)
            arch = arch if arch is not None else {name: f[name] for name in ARCH_METRICS}   # the first part's
    seeds = [s for info in infos for s in info["seeds"]]
    if seeds != list(TRAIN_SEEDS) or any(i.get("limit") is not None or i.get("sample") is not None for i in infos):
        raise SystemExit(f"the parts hold seeds {seeds} (or are dry runs); the table needs {list(TRAIN_SEEDS)}, "
                         "every row")
    info = dict(infos[0], seeds=seeds, built_seconds=round(sum(i["built_seconds"] for i in infos), 1),
                date=max(i["date"] for i in infos))
    for key in ("limit", "sample", "note"):         # a part's own remarks do not describe the joined table
        info.pop(key, None)
    save_table(out, {m: np.concatenate(tables[m], axis=1) for m in METRICS}, arch, info)
    print(load_tabular_nas(out), f"written to {out}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=NAS_FILE)
    parser.add_argument("--partial", type=Path, default=None,
                        help="where finished rows are kept for a restart (default: in the temp folder)")
    parser.add_argument("--limit", type=int, default=None, help="only the first LIMIT architectures (a dry run)")
    parser.add_argument("--sample", type=int, default=None,
                        help="only SAMPLE architectures drawn at random (seed 0): a pilot of the landscape")
    parser.add_argument("--workers", type=int, default=1, help="architectures trained at the same time")
    parser.add_argument("--seeds", type=int, nargs="+", default=list(TRAIN_SEEDS),
                        help="train only these seeds (build in parts, then --merge)")
    parser.add_argument("--shuffle", action="store_true",
                        help="train the rows in a random order (seed 0): a build stopped early is then a random sample")
    parser.add_argument("--merge", type=Path, nargs="+", default=None,
                        help="join parts built with --seeds into --out, in seed order")
    args = parser.parse_args()
    if args.merge:
        return merge(args.merge, args.out)

    torch.set_num_threads(1)
    representatives, _ = rows_of()
    rows = np.arange(len(representatives))
    if args.sample is not None:
        rows = np.sort(np.random.default_rng(0).choice(len(representatives), args.sample, replace=False))
    rows = rows[:args.limit]
    configs = [representatives[i] for i in rows]
    order = np.random.default_rng(0).permutation(len(configs)) if args.shuffle else np.arange(len(configs))
    seeds = tuple(args.seeds)
    whole = seeds == TRAIN_SEEDS and args.limit is None and args.sample is None
    if not whole and args.out == NAS_FILE:
        parser.error("a part (--seeds) or a dry run (--limit, --sample) needs its own --out: it is not the whole table")
    if args.partial is None:
        name = (f"{args.out.stem}.seeds{'-'.join(map(str, seeds))}.limit{args.limit}.sample{args.sample}"
                f"{'.shuffled' if args.shuffle else ''}.partial.npz")
        args.partial = Path(tempfile.gettempdir()) / name
    shape = (len(configs), len(seeds), EPOCHS)
    tables = {m: np.full(shape, np.nan) for m in METRICS}
    arch = {name: np.full(len(configs), np.nan) for name in ARCH_METRICS}
    done, spent = 0, 0.0
    if args.partial.exists():
        with np.load(args.partial) as f:
            if f["val_loss"].shape == shape and np.array_equal(f.get("order", np.arange(len(configs))), order):
                tables = {m: f[m].astype(np.float64) for m in METRICS}
                arch = {name: f[name].astype(np.float64) for name in ARCH_METRICS}
                done, spent = int(f["done"]), float(f["spent"])
                print(f"resuming after {done} architectures ({spent:.0f} s already spent)", flush=True)

    print(f"{len(configs)} architectures x seeds {list(seeds)} x {EPOCHS} epochs, {args.workers} worker(s)", flush=True)
    start = time.perf_counter() - spent
    with ProcessPoolExecutor(max_workers=args.workers, initializer=_init_worker) as pool:
        for chunk_start in range(done, len(configs), CHUNK):
            chunk = order[chunk_start:chunk_start + CHUNK]
            results = pool.map(train_row, [configs[i] for i in chunk], [seeds] * len(chunk))
            for i, (row, measured) in zip(chunk, results):
                for m in METRICS:
                    tables[m][i] = row[m]
                for name in ARCH_METRICS:
                    arch[name][i] = measured[name]
            finished = chunk_start + len(chunk)
            elapsed = time.perf_counter() - start
            eta = (elapsed - spent) / (finished - done) * (len(configs) - finished)
            best = np.nanmax(tables["val_accuracy"][:, :, -1].mean(axis=1))
            print(f"[{finished:4d}/{len(configs)}] {elapsed:7.0f} s elapsed, ~{eta:5.0f} s left; "
                  f"best val accuracy so far {best:.3f}", flush=True)
            np.savez_compressed(args.partial, done=finished, spent=time.perf_counter() - start, order=order,
                                **tables, **arch)

    seconds = time.perf_counter() - start
    data = load_mnist1d()
    info = {"built_seconds": round(seconds, 1), "epochs": EPOCHS, "seeds": list(seeds), "ops": list(OPS),
            "channels": CHANNELS, "cells_per_stage": CELLS_PER_STAGE, "stages": STAGES, "stem_stride": STEM_STRIDE,
            "batch_size": BATCH_SIZE, "lr": LR, "optimizer": "adam, cosine to 0 per mini-batch",
            "n_val": len(data.y_val), "n_test": len(data.y_test), "latency": "median s, batch of 1, 1 thread",
            "torch": torch.__version__, "numpy": np.__version__, "python": sys.version.split()[0],
            "machine": f"{platform.system()} {platform.machine()}", "threads": 1, "workers": args.workers,
            "device": "cpu", "date": time.strftime("%Y-%m-%d")}
    print(summary(tables["val_accuracy"]))
    if not whole:
        info.update(limit=args.limit, sample=args.sample)
        np.savez_compressed(args.out, **tables, **arch, rows=rows, info=np.array(json.dumps(info)))
    else:
        save_table(args.out, tables, arch, info)
        print(load_tabular_nas(args.out))
    args.partial.unlink(missing_ok=True)
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.2f} MB) in {seconds:.0f} s", flush=True)


if __name__ == "__main__":
    main()
