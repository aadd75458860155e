"""Checks that a retrained benchmark entry matches its stored curves, shared by the HPO table's test
(tests/test_tabular_benchmark.py) and the NAS table's (tests/test_nas_benchmark.py).

``again`` holds the retrained curves, ``stored`` the table's curves of the same row and training seed
(``{metric: 1-D array}``). Both functions return the metrics that do NOT match, so a test asserts ``== []``
for the right entry and ``!= []`` for a wrong seed or configuration (the check can fail)."""

import numpy as np


def tight_mismatches(again: dict, stored: dict, points: int) -> list[str]:
    """Metrics whose first ``points`` records differ by more than the table's storage precision:
    losses are float16 (3 significant digits: rtol 1e-3), accuracies exact counts out of 1,000 (at most
    one prediction may flip: 1.5e-3)."""
    bad = []
    for m in ("val_loss", "test_loss", "train_loss"):
        if not np.allclose(again[m][:points], stored[m][:points], rtol=1e-3, atol=0):
            bad.append(m)
    for m in ("val_accuracy", "test_accuracy"):
        if not np.allclose(again[m][:points], stored[m][:points], rtol=0, atol=1.5e-3):
            bad.append(m)
    return bad


def statistical_mismatches(again: dict, stored: dict, accuracy_tol: float = 0.05, loss_tol: float = 0.1
                           ) -> list[str]:
    """Metrics whose whole curve differs on average by more than another CPU was seen to cause: mean
    |accuracy difference| above ``accuracy_tol``, mean relative loss difference above ``loss_tol``."""
    n = len(again["val_loss"])
    bad = []
    for m in ("val_accuracy", "test_accuracy"):
        if np.mean(np.abs(again[m] - stored[m][:n])) > accuracy_tol:
            bad.append(m)
    for m in ("val_loss", "test_loss"):
        if np.mean(np.abs(again[m] - stored[m][:n]) / stored[m][:n]) > loss_tol:
            bad.append(m)
    return bad
