"""What a search prints while it runs: a progress bar and a Keras-Tuner-style summary per trial."""

from __future__ import annotations

from typing import Any


def progress_bar(n_trials: int, progress: bool) -> Any:
    """A ``tqdm`` bar over ``n_trials``, or ``None`` when ``progress`` is off."""
    if not progress:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=n_trials, desc="trials", leave=False)


def report(bar: Any, study: Any, trial: Any) -> None:
    """Advance the bar and print ``trial_summary`` under it (nothing when ``bar`` is ``None``)."""
    if bar is None:
        return
    bar.update(1)
    bar.write(trial_summary(study, trial))


def trial_summary(study: Any, trial: Any) -> str:
    """A Keras-Tuner-style report: this trial's value, the best so far, and each
    hyperparameter's value next to the best configuration's."""
    lines = [f"Trial {trial.number} {'complete' if trial.ok else 'FAILED'} "
             f"[{trial.duration or 0.0:.2f} s]"]
    lines.append(f"value: {trial.value:.6g}" if trial.ok else f"error: {(trial.error or '').splitlines()[0]}")
    try:
        best = study.best_trial
    except ValueError:
        best = None
    if best is not None:
        lines.append(f"best value so far: {best.value:.6g} (trial {best.number})")
    lines.append(f"{'hyperparameter':<16}|{'value':<14}|{'best so far':<14}")
    for name, value in trial.config.items():
        best_value = best.config.get(name, "") if best is not None else ""
        lines.append(f"{name:<16}|{_fmt(value):<14}|{_fmt(best_value):<14}")
    if trial.budget is not None:
        lines.append(f"{'budget':<16}|{_fmt(trial.budget):<14}|{_fmt(best.budget if best else ''):<14}")
    return "\n".join(lines) + "\n"


def _fmt(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)
