"""Ensemble selection from a library of models (chapter 08).

Caruana, Niculescu-Mizil, Crew & Ksikes, *Ensemble Selection from Libraries of Models* (ICML
2004). An HPO search leaves behind many trained models; instead of keeping only the best one,
build an ensemble from them *greedily*, using their predictions on a held-out (validation, the
paper's "hillclimb") set:

1. start with an empty ensemble;
2. for every model of the library, score the average of (the current ensemble + that model) on
   the hillclimb set, and add the model with the best score. **With replacement**: a model may be
   added again, so good models earn larger integer weights;
3. repeat for ``ensemble_size`` steps;
4. return the ensemble with the best hillclimb score seen along the way (``use_best=True``; the
   first step is the best single model, so the result is never worse than it on that set).

The weights of the ensemble are the counts divided by the ensemble size. auto-sklearn and
AutoGluon use this algorithm (with ``use_best`` in AutoGluon); ties go here to the model with the
smaller index. Score on a test set only at the very end: the selection fits the hillclimb set.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from minilib.ensembles.metrics import accuracy, nll


def _error(probs: np.ndarray, y: np.ndarray) -> float:
    return 1.0 - accuracy(probs, y)


def _mse(pred: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean((np.asarray(pred, dtype=float) - np.asarray(y, dtype=float)) ** 2))


LOSSES: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {"nll": nll, "error": _error, "mse": _mse}


@dataclass
class Selection:
    """The result of ``ensemble_selection``.

    ``picks``: the model index added at each step; ``trajectory``: the hillclimb loss after each
    step; ``size``: the number of steps kept (``use_best``); ``weights``: per library model,
    count / size.
    """

    picks: list[int]
    trajectory: list[float]
    size: int
    weights: np.ndarray = field(repr=False)

    @property
    def members(self) -> list[int]:
        """The distinct models in the ensemble, by index."""
        return sorted(set(self.picks[: self.size]))

    def predict(self, predictions: np.ndarray) -> np.ndarray:
        """The weighted average of a library's predictions ``(n_models, n, ...)`` on any set."""
        return np.tensordot(self.weights, np.asarray(predictions, dtype=float), axes=1)


def ensemble_selection(predictions: np.ndarray, y: np.ndarray, ensemble_size: int = 25,
                       loss: str | Callable[[np.ndarray, np.ndarray], float] = "nll",
                       use_best: bool = True) -> Selection:
    """Greedy forward selection with replacement (Caruana et al. 2004).

    Args:
        predictions: the library's predictions on the hillclimb set, shape ``(n_models, n, ...)``,
            e.g. probabilities ``(n_models, n, K)``.
        y: the hillclimb targets (labels ``(n,)`` for ``"nll"`` and ``"error"``).
        ensemble_size: the number of greedy steps.
        loss: ``"nll"``, ``"error"``, ``"mse"`` or a callable ``(averaged_prediction, y) -> float``,
            smaller is better.
        use_best: keep the prefix of the steps with the smallest loss (ties: the shorter prefix)
            instead of all ``ensemble_size`` steps.
    """
    preds = np.asarray(predictions, dtype=float)
    if preds.ndim < 2 or len(preds) == 0:
        raise ValueError(f"need predictions of shape (n_models, n, ...), got {preds.shape}")
    if ensemble_size < 1:
        raise ValueError(f"ensemble_size must be >= 1, got {ensemble_size}")
    loss_fn = LOSSES[loss] if isinstance(loss, str) else loss
    running = np.zeros_like(preds[0])          # sum of the predictions of the models picked so far
    picks: list[int] = []
    trajectory: list[float] = []
    for step in range(1, ensemble_size + 1):
        # 2) score every candidate: the average of the current ensemble plus that model
        scores = [loss_fn((running + candidate) / step, y) for candidate in preds]
        best = int(np.argmin(scores))          # argmin returns the first (smallest) index on ties
        picks.append(best)
        trajectory.append(float(scores[best]))
        running += preds[best]
    # 4) keep the best prefix
    size = int(np.argmin(trajectory)) + 1 if use_best else ensemble_size
    counts = np.bincount(picks[:size], minlength=len(preds))
    return Selection(picks=picks, trajectory=trajectory, size=size, weights=counts / size)
