"""Exercise 08 (part 3): ensemble selection (Caruana et al. 2004), and the whole selection end to end.

Chapter 08, section 7. Do not import ``minilib.ensembles.selection``. ``predictions`` has shape
``(n_models, n, ...)``: one prediction array per library model on the same ``n`` examples.
"""

from __future__ import annotations

import numpy as np


def mse(pred: np.ndarray, y: np.ndarray) -> float:
    """Mean squared error (a loss for regression libraries)."""
    return float(np.mean((np.asarray(pred, dtype=float) - np.asarray(y, dtype=float)) ** 2))


def nll(probs: np.ndarray, y: np.ndarray) -> float:
    """Mean negative log-likelihood of integer labels ``y`` under probabilities ``(n, K)`` (clipped at 1e-12)."""
    probs = np.asarray(probs, dtype=float)
    return float(-np.mean(np.log(np.clip(probs[np.arange(len(y)), np.asarray(y)], 1e-12, 1.0))))


LOSSES = {"mse": mse, "nll": nll}


def greedy_selection(predictions: np.ndarray, y: np.ndarray, ensemble_size: int,
                     loss: str = "nll") -> tuple[list[int], list[float]]:
    """Greedy forward selection **with replacement**.

    At step ``s = 1 .. ensemble_size``, for every model ``j`` compute the loss of the average of the
    ``s - 1`` models picked so far and model ``j`` (a model picked twice counts twice); pick the model
    with the smallest loss (ties: the smallest index). Return the list of picked indices and the list
    of the losses after each step (``loss`` is ``"mse"`` or ``"nll"``, see ``LOSSES``).
    """
    ### BEGIN SOLUTION
    preds = np.asarray(predictions, dtype=float)
    loss_fn = LOSSES[loss]
    running = np.zeros_like(preds[0])
    picks, trajectory = [], []
    for step in range(1, ensemble_size + 1):
        scores = [loss_fn((running + p) / step, y) for p in preds]
        best = int(np.argmin(scores))
        picks.append(best)
        trajectory.append(float(scores[best]))
        running += preds[best]
    return picks, trajectory
    ### END SOLUTION


def select_ensemble(val_predictions: np.ndarray, y_val: np.ndarray, test_predictions: np.ndarray,
                    ensemble_size: int = 25, loss: str = "nll") -> tuple[np.ndarray, np.ndarray]:
    """The whole of ensemble selection, end to end.

    1. run ``greedy_selection`` on the validation predictions for ``ensemble_size`` steps;
    2. keep the prefix of the picks with the smallest validation loss (ties: the shorter prefix);
    3. the weight of model ``j`` is (how often ``j`` is in that prefix) / (its length);
    4. return ``(weights, ensemble_test_prediction)``: the weights, shape ``(n_models,)``, and the
       weighted average of ``test_predictions`` (shape of one model's test prediction).
    """
    ### BEGIN SOLUTION
    picks, trajectory = greedy_selection(val_predictions, y_val, ensemble_size, loss)
    size = int(np.argmin(trajectory)) + 1
    weights = np.bincount(picks[:size], minlength=len(val_predictions)) / size
    return weights, np.tensordot(weights, np.asarray(test_predictions, dtype=float), axes=1)
    ### END SOLUTION
