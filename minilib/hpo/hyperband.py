"""Hyperband: successive halving over several trade-offs between "many configs" and "long runs".

Successive halving must choose how many configurations ``n`` to start for a total budget:
many configurations on tiny budgets (aggressive, risky when early results mislead) or a
few on large budgets (safe, slow). Hyperband (Li, Jamieson, DeSalvo, Rostamizadeh &
Talwalkar, JMLR 18(185), 2018) does not choose: it loops over every trade-off.

Algorithm 1 of the paper, with its symbols (``R`` = maximum budget in units of the
minimum budget, ``eta`` = reduction factor)::

    s_max = floor(log_eta(R)),  B = (s_max + 1) R
    for s in s_max, s_max - 1, ..., 0:                    # one "bracket" per s
        n = ceil(B / R * eta^s / (s + 1)),  r = R eta^-s
        run successive halving on n random configs: rung i has
            n_i = floor(n eta^-i) configs with r_i = r eta^i budget each, i = 0..s

For R = 81, eta = 3 the brackets start 81, 34, 15, 8 and 5 configurations: 206
evaluations and 1902 budget units per iteration. The paper's printed Table 1 uses
``n = floor((s_max + 1) / (s + 1)) * eta^s`` instead (81, 27, 9, 6, 5: 187 evaluations,
1701 units), and so do HpBandSter and DEHB; ``variant="table"`` gives that one.
SMAC3 follows the pseudocode (issue automl/SMAC3#977).

Chapter 04 ("Multi-fidelity HPO") walks through this module.
"""

from __future__ import annotations

import json
import math
from typing import Any

from minilib.hpo.successive_halving import Bracket, _nice, max_rung_index, sh_rungs
from minilib.space import Config, Space
from minilib.study import Searcher, Trial


def hyperband_schedule(max_budget: float, eta: int = 3, min_budget: float = 1,
                       variant: str = "pseudocode") -> list[list[tuple[int, float]]]:
    """All brackets of one Hyperband iteration, largest ``s`` first: ``[[(n_i, r_i), ...], ...]``.

    ``R = max_budget / min_budget``; budgets are in the units of ``max_budget`` (so
    ``r_i = max_budget * eta**(i - s)``; ``min_budget`` only fixes ``s_max``).

    >>> [b[0] for b in hyperband_schedule(81, eta=3)]
    [(81, 1), (34, 3), (15, 9), (8, 27), (5, 81)]
    """
    if variant not in ("pseudocode", "table"):
        raise ValueError(f"variant must be 'pseudocode' (Algorithm 1) or 'table' (the paper's Table 1), "
                         f"got {variant!r}")
    if not (min_budget > 0 and max_budget >= min_budget):
        raise ValueError(f"need 0 < min_budget <= max_budget, got {min_budget!r}, {max_budget!r}")
    s_max = max_rung_index(max_budget / min_budget, eta)   # integer arithmetic: s_max(243, 3) = 5
    brackets = []
    for s in range(s_max, -1, -1):
        if variant == "pseudocode":
            n = math.ceil((s_max + 1) * eta ** s / (s + 1))  # ceil(B/R * eta^s / (s+1)), B/R = s_max + 1
        else:
            n = ((s_max + 1) // (s + 1)) * eta ** s           # floor((s_max+1)/(s+1)) * eta^s
        brackets.append(sh_rungs(n, max_budget, eta, min_budget, s=s))
    return brackets


def schedule_totals(brackets: list[list[tuple[int, float]]]) -> tuple[int, float]:
    """(evaluations, budget units) of a schedule: 206 and 1902 for R = 81, eta = 3."""
    trials = sum(n for bracket in brackets for n, _ in bracket)
    units = sum(n * r for bracket in brackets for n, r in bracket)
    return trials, _nice(units)


class Hyperband(Searcher):
    """Hyperband over ``space``: successive-halving brackets ``s = s_max, ..., 0``, repeated.

    Args:
        max_budget, min_budget, eta, variant: see ``hyperband_schedule``.
        n_iterations: how many full Hyperband iterations (all brackets) to run; ``None`` = no
            limit (stop it with ``minimize(..., n_trials=...)``).
        avoid_duplicates: Algorithm 1 draws configurations i.i.d., so in a finite (discrete)
            space the same configuration is started again and again. With ``True`` a new
            configuration is one not started before, while there are any (an extension).

    Brackets run one after the other; within a bracket ``ask()`` returns ``None`` while a
    rung waits for results. New configurations come from ``sample_config`` (uniform here;
    BOHB overrides it with a model). Trials carry ``meta = {"iteration", "bracket": s,
    "rung": i, "config_id", "from_budget"}``.
    """

    multi_fidelity = True

    def __init__(self, space: Space, max_budget: float = 27, min_budget: float = 1, eta: int = 3,
                 seed: int | None = None, variant: str = "pseudocode", n_iterations: int | None = None,
                 avoid_duplicates: bool = False):
        super().__init__(space, seed)
        self.max_budget, self.min_budget, self.eta = max_budget, min_budget, eta
        self.schedule = hyperband_schedule(max_budget, eta, min_budget, variant)
        self.s_max = len(self.schedule) - 1
        self.n_iterations = n_iterations
        self.brackets: list[Bracket] = []                  # every bracket started, in order
        self.avoid_duplicates = avoid_duplicates
        self.started: set[str] = set()                      # every configuration started, as JSON

    def sample_config(self, budget: float) -> Config:
        """A new configuration for the first rung (budget ``budget``): uniform at random."""
        config = self.space.sample(1, rng=self.rng)[0]
        for _ in range(100):                                # with avoid_duplicates: redraw repeats
            if not self.avoid_duplicates or self.is_new(config):
                break
            config = self.space.sample(1, rng=self.rng)[0]
        return config

    def is_new(self, config: Config) -> bool:
        """True if ``config`` was never started by this searcher."""
        return json.dumps(config, sort_keys=True, default=repr) not in self.started

    def _current(self) -> Bracket | None:
        """The bracket to work on; start the next one (s = s_max, ..., 0, then again) when done."""
        if self.brackets and not self.brackets[-1].done:
            return self.brackets[-1]
        k = len(self.brackets)                              # brackets started so far
        if self.n_iterations is not None and k >= self.n_iterations * len(self.schedule):
            return None
        self.brackets.append(Bracket(self.schedule[k % len(self.schedule)]))
        return self.brackets[-1]

    def ask(self) -> Trial | None:
        bracket = self._current()
        if bracket is None:
            self.finished = True
            return None
        job = bracket.next()
        if job is None:
            return None                                     # waiting for the current rung's results
        config_id, rung, budget = job
        if config_id is None:
            config_id = bracket.add_config(self.sample_config(budget))
            self.started.add(json.dumps(bracket.configs[config_id], sort_keys=True, default=repr))
        k = len(self.brackets) - 1
        return self._new_trial(bracket.configs[config_id], budget, iteration=k // len(self.schedule),
                               bracket=self.s_max - k % len(self.schedule), bracket_index=k, rung=rung,
                               config_id=config_id, from_budget=bracket.budget_before(rung))

    def tell(self, trial: Trial, value: Any, error: str | None = None) -> Trial:
        super().tell(trial, value, error)
        bracket = self.brackets[trial.meta["bracket_index"]]
        bracket.report(trial.meta["config_id"], trial.meta["rung"], trial.value, trial.number)
        return trial
