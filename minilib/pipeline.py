"""An AutoML pipeline: one search over architecture and training hyperparameters, then an ensemble.

Chapter 12 ("An AutoML pipeline") puts the book together the way Auto-Keras, NNI and AutoGluon do:

1. **One search space** for the whole model: chapter 05's cell (six edges, five operations each)
   joined with the training hyperparameters (learning rate, weight decay, dropout). The number of
   epochs is the *fidelity*, so a multi-fidelity searcher from chapter 04 (ASHA, BOHB) can stop
   poor trials early.
2. **Trials anywhere**: ``train_trial(config, budget)`` is a module-level function that loads its
   data where it runs, so ``minilib.distributed.run_distributed`` can send it to Dask workers. It
   returns the validation error (the searcher's objective) and, as trial extras, everything needed
   later: the validation probabilities (for ensemble selection), the trained weights (to evaluate
   the chosen models on the test set *once*, at the end), parameters, FLOPs and training seconds.
3. **An ensemble from the trials**: greedy ensemble selection (Caruana et al. 2004,
   ``minilib.ensembles.selection``) on the stored validation probabilities.
4. **A cost-aware comparison**: ``netscore`` (Wong 2018) scores accuracy against parameters and
   multiply-accumulates.

Every trial trains from scratch with Adam and a cosine learning rate over *its own* budget (a trial
at 9 epochs is a fully trained 9-epoch model, not a stopped 27-epoch one), so each trial is a
usable ensemble member.
"""

from __future__ import annotations

import io
import math
import time
from functools import lru_cache
from typing import Any

import numpy as np
import torch
from torch import nn

from minilib.nas import space as cells
from minilib.space import Config, Float, Space

__all__ = ["SPACE", "best_trial", "build_model", "cnn_baseline", "ensemble_probs", "load_data", "load_trained",
           "netscore", "predict_probs", "select_ensemble", "train_trial", "trial_probs", "warm_up"]

#: chapter 05's cell (edges ``e01`` ... ``e23``) + the training hyperparameters
SPACE = Space({
    **cells.SPACE.dimensions,
    "lr": Float(1e-3, 3e-2, log=True),
    "weight_decay": Float(1e-6, 1e-2, log=True),
    "dropout": Float(0.0, 0.5),
})

CHANNELS = 16       # C of the first stage: twice the NAS table's, since there is no table to fill here
STEM_STRIDE = 2     # as in the NAS table: the stem halves the length 40 -> 20
BATCH_SIZE = 128


@lru_cache(maxsize=1)
def load_data() -> Any:
    """MNIST-1D (``minilib.data.load_mnist1d``), loaded once per process: once per Dask worker."""
    from minilib.data import load_mnist1d

    return load_mnist1d()


def build_model(config: Config, seed: int = 0) -> nn.Module:
    """The network of ``config``: chapter 05's ``CellNetwork`` with dropout before its linear head."""
    SPACE.validate(config)
    cell = {name: config[name] for name in cells.SPACE.names}
    model = cells.build(cell, channels=CHANNELS, stem_stride=STEM_STRIDE, seed=seed)
    model.head = nn.Sequential(nn.Dropout(float(config["dropout"])), model.head)
    return model


def _state_bytes(model: nn.Module) -> bytes:
    buffer = io.BytesIO()
    torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, buffer)
    return buffer.getvalue()


def train_trial(config: Config, budget: float, seed: int = 0, threads: int = 1) -> dict[str, Any]:
    """Train the model of ``config`` for ``budget`` epochs on MNIST-1D's training split.

    Returns ``{"value": validation error, "val_probs": (1000, 10) float32, "state": the weights
    (``torch.save`` bytes), "params", "flops", "train_seconds", "epochs"}``. ``threads``: PyTorch
    threads while training (one per Dask worker; the caller's setting is restored afterwards).
    """
    from minilib.train import fit

    epochs = int(round(budget))
    if epochs < 1 or not math.isclose(epochs, budget):
        raise ValueError(f"budget must be a whole number of epochs >= 1, got {budget!r}")
    data = load_data()
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        model = build_model(config, seed=seed)
        steps = epochs * -(-len(data.X_train) // BATCH_SIZE)
        start = time.perf_counter()
        fit(model, data.X_train, data.y_train, epochs=epochs, lr=float(config["lr"]),
            weight_decay=float(config["weight_decay"]), batch_size=BATCH_SIZE, seed=seed,
            device=torch.device("cpu"),
            scheduler=lambda opt: torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps))
        seconds = time.perf_counter() - start
        val_probs = predict_probs(model, data.X_val)
    finally:
        torch.set_num_threads(previous)
    val_error = float(np.mean(val_probs.argmax(axis=1) != data.y_val))
    if not np.all(np.isfinite(val_probs)):      # a diverged run: a failed trial, never an ensemble member
        raise FloatingPointError(f"training diverged (lr={config['lr']:.3g}): non-finite predictions")
    return {"value": val_error, "val_probs": val_probs.astype(np.float32), "state": _state_bytes(model),
            "params": cells.parameter_count(model), "flops": cells.flops(model), "train_seconds": seconds,
            "epochs": epochs}


def predict_probs(model: nn.Module, X: Any) -> np.ndarray:
    """Class probabilities of ``model`` (in eval mode: no dropout) on ``X``, as a numpy array."""
    model.eval()
    with torch.no_grad():
        logits = model(torch.as_tensor(np.asarray(X), dtype=torch.float32))
    return torch.softmax(logits, dim=1).numpy()


def load_trained(config: Config, state: bytes) -> nn.Module:
    """Rebuild the trained model of a trial from its config and its ``state`` extra."""
    model = build_model(config)
    model.load_state_dict(torch.load(io.BytesIO(state), weights_only=True))
    return model


def netscore(accuracy: float, params: float, macs: float, alpha: float = 2.0, beta: float = 0.5,
             gamma: float = 0.5) -> float:
    """NetScore (Wong, *NetScore: towards universal metrics for large-scale performance analysis of
    deep neural networks*, ICIAR 2019, eq. 1): ``20 log10(a^alpha / (p^beta m^gamma))`` with ``a`` the
    accuracy in percent, ``p`` the parameters and ``m`` the multiply-accumulates, both in millions.
    ``accuracy`` is a fraction in (0, 1]; ``params`` and ``macs`` are plain counts. Higher is better."""
    if not 0.0 < accuracy <= 1.0:
        raise ValueError(f"accuracy must be a fraction in (0, 1], got {accuracy!r}")
    if not (params > 0 and macs > 0):
        raise ValueError(f"params and macs must be positive, got {params!r}, {macs!r}")
    a, p, m = 100.0 * accuracy, params / 1e6, macs / 1e6
    return float(20.0 * (alpha * math.log10(a) - beta * math.log10(p) - gamma * math.log10(m)))


def cnn_baseline(seed: int = 0, epochs: int = 30) -> dict[str, Any]:
    """Chapter 00's hand-tuned 1-D CNN (32 channels, 3 layers, Adam lr 3e-3, batch 128, 30 epochs)
    trained on the training split; its test probabilities, parameters, FLOPs and training seconds."""
    from minilib.models import count_parameters, make_cnn1d
    from minilib.train import fit

    data = load_data()
    model = make_cnn1d(channels=32, depth=3, seed=seed)
    start = time.perf_counter()
    fit(model, data.X_train, data.y_train, epochs=epochs, lr=3e-3, batch_size=128, seed=seed,
        device=torch.device("cpu"))
    seconds = time.perf_counter() - start
    return {"test_probs": predict_probs(model, data.X_test), "params": count_parameters(model),
            "flops": cells.flops(model), "train_seconds": seconds}


def warm_up() -> None:
    """Import, load the data and run one small training step in this process, so that the first
    trial of a fresh Dask worker is not charged for it: ``client.run(warm_up)`` on every worker."""
    data = load_data()
    config = SPACE.sample(1, seed=0)[0]
    model = build_model(config)
    loss = nn.functional.cross_entropy(model(torch.as_tensor(data.X_train[:BATCH_SIZE])),
                                       torch.as_tensor(data.y_train[:BATCH_SIZE]))
    loss.backward()


# --- after the search: the final models, chosen on validation data --------------------------------

def best_trial(trials: list[Any]) -> Any:
    """The finished trial with the lowest validation error (ties: the longer training)."""
    finished = [t for t in trials if t.status == "ok"]
    if not finished:
        raise ValueError("no finished trial to choose from")
    return min(finished, key=lambda t: (t.value, -t.budget))


def select_ensemble(trials: list[Any], y_val: np.ndarray, ensemble_size: int = 25) -> Any:
    """Greedy ensemble selection (Caruana et al. 2004) on the finished trials' validation
    probabilities, by validation NLL; ``selection.members`` index ``[t for t in trials if ok]``."""
    from minilib.ensembles.selection import ensemble_selection

    finished = [t for t in trials if t.status == "ok"]
    if not finished:
        raise ValueError("no finished trial to build an ensemble from")
    return ensemble_selection(np.stack([t.user_attrs["val_probs"] for t in finished]), y_val,
                              ensemble_size=ensemble_size, loss="nll")


def trial_probs(trial: Any, X: Any) -> np.ndarray:
    """Class probabilities on ``X`` of the model a trial trained (rebuilt from its stored weights)."""
    return predict_probs(load_trained(trial.config, trial.user_attrs["state"]), X)


def ensemble_probs(selection: Any, trials: list[Any], X: Any) -> np.ndarray:
    """The selected ensemble's weighted average of its members' probabilities on ``X``."""
    finished = [t for t in trials if t.status == "ok"]
    return sum(selection.weights[i] * trial_probs(finished[i], X) for i in selection.members)
