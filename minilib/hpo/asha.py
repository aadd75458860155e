"""ASHA: asynchronous successive halving, for many workers and no waiting.

Synchronous successive halving decides a rung only when *all* its results are in, so
with several workers the fast ones sit idle while the slowest trial of the rung finishes.
ASHA (Li, Jamieson, Rostamizadeh, Gonina, Ben-tzur, Hardt, Recht & Talwalkar, MLSys 2020,
arXiv 1810.05934, Algorithm 2) never waits. Whenever a worker is free:

    for k = top rung - 1, ..., 1, 0:                  # scan the rungs from the top down
        candidates = the top floor(|rung k| / eta) results of rung k, not promoted yet
        if candidates: promote the best of them to rung k + 1, return
    start a new random configuration in the bottom rung

Rung ``k`` uses budget ``r_k = max_budget * eta**(k - K)`` with ``K = floor(log_eta(R))``,
the same rungs as successive halving (derived downward from ``max_budget``). A config
can be promoted *once* per rung; early promotions rest on few results, so some are
"mis-promotions" that a synchronous rung would not have made. With ``rule="optuna"``
the best result of a rung is promotable even when the rung has fewer than ``eta``
results (Optuna's ``SuccessiveHalvingPruner`` rule: index ``max(len // eta - 1, 0)``).

A failed trial is never promoted, even when a rung has too few successes to fill its top
``floor(n / eta)``: the same rule as synchronous successive halving and Hyperband. New
configurations come from ``sample_config(budget)`` (``minilib.hpo.multi_fidelity``), the hook
that BOHB's model or an evolutionary sampler replaces.

Chapter 04 ("Multi-fidelity HPO") runs it on simulated workers.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable
from typing import Any

from minilib.hpo._checks import check_int
from minilib.hpo.multi_fidelity import MultiFidelitySearcher
from minilib.hpo.successive_halving import max_rung_index, rung_budget
from minilib.space import Config, Space
from minilib.study import Trial


class ASHA(MultiFidelitySearcher):
    """Asynchronous successive halving; ``ask()`` always has a job (it never waits).

    Args:
        max_budget, min_budget, eta: rung budgets ``max_budget * eta**(k - K)``, ``k = 0..K``.
        rule: ``"asha"`` (promote from the top ``floor(n / eta)``) or ``"optuna"``
            (the top ``max(floor(n / eta), 1)``: the best of a young rung is promotable).
        max_configs: stop starting new configurations after this many (``None``: no limit).
        sampler, avoid_duplicates: where new configurations come from (``MultiFidelitySearcher``).

    Trials carry ``meta = {"rung": k, "config_id": j, "from_budget": r_{k-1}}`` (and ``"phase"``
    when they start a configuration). A result counts in its rung when it is told; failed
    trials rank last and are never promoted.
    """

    def __init__(self, space: Space, max_budget: float = 27, min_budget: float = 1, eta: int = 3,
                 seed: int | None = None, rule: str = "asha", max_configs: int | None = None,
                 sampler: Callable[[Any], Config] | None = None, avoid_duplicates: bool = False):
        super().__init__(space, max_budget, min_budget, eta, seed, sampler, avoid_duplicates)
        if rule not in ("asha", "optuna"):
            raise ValueError(f"rule must be 'asha' or 'optuna', got {rule!r}")
        self.rule = rule
        self.max_configs = None if max_configs is None else check_int("max_configs", max_configs, 1)
        K = max_rung_index(max_budget / min_budget, eta)
        self.budgets = [rung_budget(max_budget, eta, K - k) for k in range(K + 1)]
        self.configs: list[Config] = []
        # each rung's results as (value, trial number, config id), kept sorted best first (failed
        # runs, value inf, last): the top floor(n / eta) is then a prefix, found without sorting
        self.rungs: list[list[tuple[float, int, int]]] = [[] for _ in self.budgets]
        self.promoted: list[set[int]] = [set() for _ in self.budgets]          # config ids per rung

    def _n_promotable(self, n_results: int) -> int:
        k = n_results // self.eta
        return max(k, 1) if self.rule == "optuna" and n_results > 0 else k

    def promotable(self, k: int) -> list[int]:
        """Config ids of rung ``k`` that may be promoted now, best first."""
        rung = self.rungs[k]
        top = rung[:self._n_promotable(len(rung))]
        return [config_id for value, _, config_id in top if value < math.inf and config_id not in self.promoted[k]]

    def ask(self) -> Trial | None:
        for k in range(len(self.budgets) - 2, -1, -1):     # 1) top rung first: finish good configs
            candidates = self.promotable(k)
            if candidates:
                config_id = candidates[0]
                self.promoted[k].add(config_id)            # never promoted twice from the same rung
                return self._new_trial(self.configs[config_id], self.budgets[k + 1], rung=k + 1,
                                       config_id=config_id, from_budget=self.budgets[k])
        if self.max_configs is not None and len(self.configs) >= self.max_configs:
            self.finished = not self.pending_trials
            return None                                    # 2) no new configs allowed
        self.configs.append(self.new_config(self.budgets[0]))          # 3) grow the bottom rung
        return self._new_trial(self.configs[-1], self.budgets[0], rung=0, config_id=len(self.configs) - 1,
                               from_budget=0, phase=self.phase)

    def tell(self, trial: Trial, value: Any, error: str | None = None) -> Trial:
        super().tell(trial, value, error)
        value = math.inf if trial.value is None else trial.value      # failed runs rank last
        bisect.insort(self.rungs[trial.meta["rung"]], (value, trial.number, trial.meta["config_id"]))
        return trial

    def rung_sizes(self) -> list[int]:
        """How many results each rung holds (rung occupancy)."""
        return [len(r) for r in self.rungs]

