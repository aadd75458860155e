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

``Hyperband`` is ``SuccessiveHalving`` with a longer schedule: the same driver runs the
brackets one after the other and takes each new configuration from ``sample_config(budget)``.

Chapter 04 ("Multi-fidelity HPO") walks through this module.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from minilib.hpo._checks import check_budgets, check_int
from minilib.hpo.successive_halving import SuccessiveHalving, max_rung_index, sh_rungs
from minilib.space import Config, Space


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
    check_budgets(max_budget, min_budget)
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
    units = math.fsum(n * r for bracket in brackets for n, r in bracket)
    return trials, int(units) if units.is_integer() else units


class Hyperband(SuccessiveHalving):
    """Hyperband over ``space``: successive-halving brackets ``s = s_max, ..., 0``, repeated.

    Args:
        max_budget, min_budget, eta, variant: see ``hyperband_schedule``.
        n_iterations: how many full Hyperband iterations (all brackets) to run; ``None`` = no
            limit (stop it with ``minimize(..., n_trials=...)``). ``finished`` is set when the
            last result of the last bracket is told.
        sampler, avoid_duplicates: where new configurations come from (``MultiFidelitySearcher``):
            uniform by default, as in Algorithm 1; BOHB overrides ``sample_config`` with a model.

    Brackets run one after the other (the driver is ``SuccessiveHalving``'s); within a bracket
    ``ask()`` returns ``None`` while a rung waits for results. Trials carry ``meta = {"iteration",
    "bracket_index": k, "s": s, "rung": i, "config_id", "from_budget"}`` (and ``"bracket"``, an
    older name of ``"s"``).
    """

    def __init__(self, space: Space, max_budget: float = 27, min_budget: float = 1, eta: int = 3,
                 seed: int | None = None, variant: str = "pseudocode", n_iterations: int | None = None,
                 avoid_duplicates: bool = False, sampler: Callable[[Any], Config] | None = None):
        schedule = hyperband_schedule(max_budget, eta, min_budget, variant)
        if n_iterations is not None:
            check_int("n_iterations", n_iterations, 1)
        super().__init__(space, max_budget, min_budget, eta, seed=seed, sampler=sampler,
                         n_brackets=None if n_iterations is None else n_iterations * len(schedule),
                         avoid_duplicates=avoid_duplicates)
        self.schedule = schedule                         # its first bracket is SH's default: s = s_max
        self.s_max = len(schedule) - 1
        self.n_iterations = n_iterations

    def bracket_meta(self, k: int) -> dict[str, Any]:
        s = self.s_max - k % len(self.schedule)
        return {"iteration": k // len(self.schedule), "bracket_index": k, "s": s, "bracket": s}
