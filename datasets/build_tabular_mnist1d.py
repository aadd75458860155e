"""Build datasets/tabular_mnist1d.npz: every MLP of minilib.benchmarks.tabular.SPACE trained on MNIST-1D.

    python datasets/build_tabular_mnist1d.py            # about 20-30 minutes on one CPU thread

480 configurations x 2 training seeds x 27 epochs, one CPU thread (torch.set_num_threads(1)),
so that tests/test_tabular_benchmark.py can retrain entries and get the same numbers.
Progress goes to stdout; finished rows are saved every 20 configurations to a partial file
(in the system temp folder) and a restarted build resumes from it.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from minilib.benchmarks.tabular import (  # noqa: E402
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=TABULAR_FILE)
    parser.add_argument("--partial", type=Path, default=Path(tempfile.gettempdir()) / "tabular_mnist1d.partial.npz")
    parser.add_argument("--limit", type=int, default=None, help="only the first LIMIT configs (for a dry run)")
    args = parser.parse_args()

    torch.set_num_threads(1)
    device = torch.device("cpu")
    data = load_mnist1d()
    configs = all_configs(SPACE)[:args.limit]
    shape = (len(configs), len(TRAIN_SEEDS), MAX_EPOCHS)
    tables = {m: np.full(shape, np.nan) for m in METRICS}
    done, spent = 0, 0.0
    if args.partial.exists():
        with np.load(args.partial) as f:
            if f["val_loss"].shape == shape:
                tables = {m: f[m].astype(np.float64) for m in METRICS}
                done, spent = int(f["done"]), float(f["spent"])
                print(f"resuming after {done} configs ({spent:.0f} s already spent)", flush=True)

    start = time.perf_counter() - spent
    for i in range(done, len(configs)):
        for j, seed in enumerate(TRAIN_SEEDS):
            result = train_config(configs[i], MAX_EPOCHS, seed=seed, data=data, device=device)
            for m in METRICS:
                tables[m][i, j] = result[m]
        elapsed = time.perf_counter() - start
        if (i + 1) % 10 == 0 or i + 1 == len(configs):
            eta = elapsed / (i + 1) * (len(configs) - i - 1)
            best = 1 - np.nanmax(tables["val_accuracy"][: i + 1, :, -1].mean(axis=1))
            print(f"[{i + 1:4d}/{len(configs)}] {elapsed:7.0f} s elapsed, ~{eta:5.0f} s left; "
                  f"best val error so far {best:.3f}", flush=True)
        if (i + 1) % 20 == 0:
            np.savez(args.partial, done=i + 1, spent=time.perf_counter() - start, **tables)

    seconds = time.perf_counter() - start
    info = {"built_seconds": round(seconds, 1), "epochs": MAX_EPOCHS, "seeds": list(TRAIN_SEEDS),
            "torch": torch.__version__, "numpy": np.__version__, "python": sys.version.split()[0],
            "machine": f"{platform.system()} {platform.machine()}", "threads": 1, "device": "cpu",
            "date": time.strftime("%Y-%m-%d")}
    if args.limit is not None:
        info["limit"] = args.limit
        np.savez_compressed(args.out, **tables, info=np.array(str(info)))
    else:
        save_tables(args.out, tables, info)
        bench = load_tabular_mnist1d(args.out)
        print(bench)
    args.partial.unlink(missing_ok=True)
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.2f} MB) in {seconds:.0f} s", flush=True)


if __name__ == "__main__":
    main()
