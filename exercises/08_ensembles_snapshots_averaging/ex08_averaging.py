"""Exercise 08 (part 2): the SWA and EMA updates of a running average of weights.

Chapter 08, section 5. Do not import ``minilib.ensembles.averaging``. Weights are numpy arrays; each
function returns a *new* array (do not modify its arguments). ``n_averaged`` is the number of updates
already in the average (0 before the first one).
"""

from __future__ import annotations

import numpy as np


def swa_update(average: np.ndarray, weights: np.ndarray, n_averaged: int) -> np.ndarray:
    """Equal-weight running mean (Polyak averaging, SWA): the first update copies ``weights``;
    afterwards ``average + (weights - average) / (n_averaged + 1)``."""
    ### BEGIN SOLUTION
    average, weights = np.asarray(average, dtype=float), np.asarray(weights, dtype=float)
    if n_averaged == 0:
        return weights.copy()
    return average + (weights - average) / (n_averaged + 1)
    ### END SOLUTION


def ema_update(average: np.ndarray, weights: np.ndarray, decay: float, n_averaged: int) -> np.ndarray:
    """Exponential moving average as ``torch.optim.swa_utils.get_ema_multi_avg_fn``: the first update
    copies ``weights``; afterwards ``decay * average + (1 - decay) * weights``. Raise ``ValueError``
    unless ``0 <= decay <= 1``."""
    ### BEGIN SOLUTION
    if not 0.0 <= decay <= 1.0:
        raise ValueError(f"decay must be in [0, 1], got {decay}")
    average, weights = np.asarray(average, dtype=float), np.asarray(weights, dtype=float)
    if n_averaged == 0:
        return weights.copy()
    return decay * average + (1.0 - decay) * weights
    ### END SOLUTION
