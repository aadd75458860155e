"""Build datasets/tabular_mnist1d.npz: every MLP of minilib.benchmarks.tabular.SPACE trained on MNIST-1D.

    python datasets/build_tabular_mnist1d.py --workers 2   # both seeds, about 22 minutes on 2 cores
    python datasets/build_tabular_mnist1d.py --workers 2 --seeds 0 --out /tmp/s0.npz   # in parts ...
    python datasets/build_tabular_mnist1d.py --workers 2 --seeds 1 --out /tmp/s1.npz
    python datasets/build_tabular_mnist1d.py --merge /tmp/s0.npz /tmp/s1.npz           # ... then joined

2016 configurations x 2 training seeds x MAX_EPOCHS epochs, with a point of every curve after
each third of an epoch (EVALS_PER_EPOCH). Every training run uses one CPU thread
(torch.set_num_threads(1)), so that tests/test_tabular_benchmark.py can retrain entries and get
the same numbers; ``--workers N`` trains N configurations at a time in N processes (the numbers
do not depend on N; the stored seconds are those of a machine running N of them).
Progress goes to stdout; finished rows are saved every 20 configurations to a partial file
(in the system temp folder) and a restarted build resumes from it."""

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

from minilib.benchmarks.tabular import (  # noqa: E402
    EVALS_PER_EPOCH,
    MAX_EPOCHS,
    METRICS,
    SPACE,
    TABULAR_FILE,
    TRAIN_SEEDS,
    all_configs,
    load_tabular_mnist1d,
    save_tables,
    train_config,
)
from minilib.data import load_mnist1d  # noqa: E402


def _init_worker() -> None:
    torch.set_num_threads(1)


def train_row(config: dict, seeds: tuple[int, ...] = TRAIN_SEEDS) -> dict[str, np.ndarray]:
    """One row of the table: ``{metric: array (seeds, epochs * EVALS_PER_EPOCH)}`` for ``config``."""
    data = load_mnist1d()
    runs = [train_config(config, MAX_EPOCHS, seed=seed, data=data, device=torch.device("cpu"),
                         evals_per_epoch=EVALS_PER_EPOCH)
            for seed in seeds]
    return {m: np.stack([run[m] for run in runs]) for m in METRICS}


def merge(parts: list[Path], out: Path) -> None:
    """Join tables built for different training seeds (``--seeds 0`` and ``--seeds 1``) into one."""
    tables, infos = {m: [] for m in METRICS}, []
    for part in parts:
        with np.load(part) as f:
            for m in METRICS:
                tables[m].append(f[m])
            infos.append(json.loads(str(f["info"])))
    seeds = [s for info in infos for s in info["seeds"]]
    if seeds != list(TRAIN_SEEDS):
        raise SystemExit(f"the parts hold seeds {seeds}, the table needs {list(TRAIN_SEEDS)}")
    data = load_mnist1d()
    info = dict(infos[0], seeds=seeds, built_seconds=round(sum(i["built_seconds"] for i in infos), 1),
                date=max(i["date"] for i in infos), n_val=len(data.y_val), n_test=len(data.y_test))
    info.pop("limit", None)
    save_tables(out, {m: np.concatenate(tables[m], axis=1) for m in METRICS}, info)
    print(load_tabular_mnist1d(out), f"written to {out}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=TABULAR_FILE)
    parser.add_argument("--partial", type=Path, default=None,
                        help="where finished rows are kept for a restart (default: in the temp folder)")
    parser.add_argument("--limit", type=int, default=None, help="only the first LIMIT configs (for a dry run)")
    parser.add_argument("--workers", type=int, default=1, help="configurations trained at the same time")
    parser.add_argument("--seeds", type=int, nargs="+", default=list(TRAIN_SEEDS),
                        help="train only these seeds (build in parts, then --merge)")
    parser.add_argument("--merge", type=Path, nargs="+", default=None,
                        help="join parts built with --seeds into --out, in seed order")
    args = parser.parse_args()
    if args.merge:
        return merge(args.merge, args.out)

    torch.set_num_threads(1)
    configs = all_configs(SPACE)[:args.limit]
    seeds = tuple(args.seeds)
    if (seeds != TRAIN_SEEDS or args.limit is not None) and args.out == TABULAR_FILE:
        parser.error("a part (--seeds) or a dry run (--limit) needs its own --out: it is not the whole table")
    if args.partial is None:
        name = f"tabular_mnist1d.seeds{'-'.join(map(str, seeds))}.partial.npz"
        args.partial = Path(tempfile.gettempdir()) / name
    shape = (len(configs), len(seeds), MAX_EPOCHS * EVALS_PER_EPOCH)
    tables = {m: np.full(shape, np.nan) for m in METRICS}
    done, spent = 0, 0.0
    if args.partial.exists():
        with np.load(args.partial) as f:
            if f["val_loss"].shape == shape:
                tables = {m: f[m].astype(np.float64) for m in METRICS}
                done, spent = int(f["done"]), float(f["spent"])
                print(f"resuming after {done} configs ({spent:.0f} s already spent)", flush=True)

    start = time.perf_counter() - spent
    with ProcessPoolExecutor(max_workers=args.workers, initializer=_init_worker) as pool:
        for chunk_start in range(done, len(configs), 20):
            chunk = range(chunk_start, min(chunk_start + 20, len(configs)))
            rows = pool.map(train_row, [configs[i] for i in chunk], [seeds] * len(chunk))
            for i, row in zip(chunk, rows):
                for m in METRICS:
                    tables[m][i] = row[m]
            i = chunk[-1]
            elapsed = time.perf_counter() - start
            eta = elapsed / (i + 1 - done) * (len(configs) - i - 1) if i + 1 > done else 0.0
            best = 1 - np.nanmax(tables["val_accuracy"][: i + 1, :, -1].mean(axis=1))
            print(f"[{i + 1:4d}/{len(configs)}] {elapsed:7.0f} s elapsed, ~{eta:5.0f} s left; "
                  f"best val error so far {best:.3f}", flush=True)
            np.savez(args.partial, done=i + 1, spent=time.perf_counter() - start, **tables)

    seconds = time.perf_counter() - start
    data = load_mnist1d()
    info = {"built_seconds": round(seconds, 1), "epochs": MAX_EPOCHS, "evals_per_epoch": EVALS_PER_EPOCH,
            "seeds": list(seeds), "n_val": len(data.y_val), "n_test": len(data.y_test),
            "torch": torch.__version__, "numpy": np.__version__, "python": sys.version.split()[0],
            "machine": f"{platform.system()} {platform.machine()}", "threads": 1, "workers": args.workers,
            "device": "cpu",
            "date": time.strftime("%Y-%m-%d")}
    if args.limit is not None or seeds != TRAIN_SEEDS:
        info["limit"] = args.limit
        np.savez_compressed(args.out, **tables, info=np.array(json.dumps(info)))
    else:
        save_tables(args.out, tables, info)
        bench = load_tabular_mnist1d(args.out)
        print(bench)
    args.partial.unlink(missing_ok=True)
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.2f} MB) in {seconds:.0f} s", flush=True)


if __name__ == "__main__":
    main()
