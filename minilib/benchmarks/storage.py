"""How the book's tabular benchmarks store their learning curves compactly (shared by
``minilib.benchmarks.tabular`` and ``minilib.benchmarks.nas``).

Accuracies are stored exactly, as counts of correct predictions out of ``info["n_val"]`` and
``info["n_test"]`` (uint16); losses and seconds as float16 (about 3 significant digits, plenty
for a benchmark and half the size of float32).
"""

from __future__ import annotations

from typing import Any

import numpy as np

#: accuracies are stored exactly, as counts of correct predictions out of ``info["n_" + split]``
COUNTED = {"val_accuracy": "n_val", "test_accuracy": "n_test"}


def encode_metrics(tables: dict[str, np.ndarray], info: dict[str, Any]) -> dict[str, np.ndarray]:
    """``{metric: float array}`` -> ``{metric: compact array}`` (counts for accuracies, float16 otherwise)."""
    arrays = {}
    for m, table in tables.items():
        if m in COUNTED:
            n = int(info[COUNTED[m]])
            counts = np.rint(np.asarray(table, dtype=np.float64) * n)
            if np.abs(counts / n - table).max() > 1e-6:
                raise ValueError(f"{m} is not a multiple of 1/{n}: is {COUNTED[m]} the size of that split?")
            arrays[m] = counts.astype(np.uint16)
        else:
            arrays[m] = np.asarray(table, dtype=np.float16)
    return arrays


def decode_metrics(arrays: Any, metrics: tuple[str, ...], info: dict[str, Any]) -> dict[str, np.ndarray]:
    """The inverse of ``encode_metrics`` for ``metrics`` read from ``arrays`` (e.g. an open npz file)."""
    return {m: arrays[m] / int(info[COUNTED[m]]) if m in COUNTED else arrays[m].astype(np.float64) for m in metrics}
