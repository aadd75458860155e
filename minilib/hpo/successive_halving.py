"""Successive halving (SH): start many configurations on a small budget, keep the best 1/eta.

Jamieson & Talwalkar (AISTATS 2016) cast HPO as a best-arm identification problem: give
n configurations a small budget r, throw away all but the best ``floor(n / eta)``, give
the survivors ``eta`` times the budget, and repeat until one is left or the maximum budget
is reached. Every rung costs about the same (``n_i * r_i`` is roughly constant), and most
of the money goes to the configurations that looked best so far.

The rungs (``sh_rungs``) follow Hyperband's Algorithm 1 (Li et al., JMLR 2018): with
``s = floor(log_eta(max_budget / min_budget))`` the budgets are derived *downward from the
maximum*, ``r_i = max_budget * eta**(i - s)``, and rung ``i`` holds ``n_i = floor(n * eta**-i)``
configurations. With eta = 2 and budgets 1..6 that gives configs [4, 2, 1] at budgets
[1.5, 3, 6], as in SMAC3 (its test suite pins exactly these numbers). Budgets are computed
exactly (``rung_budget``), so 27 epochs / 3**4 is the same float as a benchmark's ``1 / 3``.

The first rung holds ``n`` configurations and the last one is always at ``max_budget``: with ``n``
given, the number of halvings is ``s = min(s_max, floor(log_eta n))``, so that at least one
configuration is left for the last rung (``n = 4, eta = 3``: rungs at ``max_budget / 3`` and
``max_budget``). A failed trial is never promoted: when fewer than ``n_{i+1}`` results of rung
``i`` succeed, rung ``i + 1`` runs only the successful ones (ASHA follows the same rule).

Survivors are *retrained*: the searcher asks for ``objective(config, r_i)`` and does not
say how to get there. Each trial's ``meta["from_budget"]`` names the budget the config
already reached in the rung below, so an objective that keeps checkpoints may continue
from it instead. The tabular benchmark charges the full cost ``1..r_i`` epochs (retraining);
``minilib.hpo.parallel.simulate(..., resume=True)`` charges only the new epochs.

``SuccessiveHalving`` is also the driver of Hyperband and BOHB: it runs the brackets of a
*schedule* one after the other (here one bracket, repeated; Hyperband cycles through
``s = s_max, ..., 0``), and takes each new configuration from ``sample_config(budget)``
(``minilib.hpo.multi_fidelity``), the hook a model or an evolutionary sampler replaces.

Synchronous: a rung is decided only when all its results are in; until then ``ask()``
returns ``None`` (the ``Searcher`` contract for "waiting"). ``minilib.hpo.asha`` removes
that barrier. Chapter 04 ("Multi-fidelity HPO") walks through this module.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from fractions import Fraction
from typing import Any

from minilib.hpo._checks import check_budgets, check_int
from minilib.hpo.multi_fidelity import MultiFidelitySearcher
from minilib.space import Config, Space
from minilib.study import Trial


def max_rung_index(ratio: float, eta: int) -> int:
    """``floor(log_eta(ratio))`` by integer arithmetic: the exponent ``s_max`` of Hyperband.

    ``math.log(243, 3)`` is 4.999999999999999, so ``int(math.log(R, eta))`` gives 4 for
    R = 243 (a bug several libraries shipped). We count powers instead: the largest ``s``
    with ``eta**s <= ratio`` (with a 1e-9 relative slack for ratios like 8.1 / 0.1).
    """
    check_int("eta", eta, 2)
    if not ratio >= 1:
        raise ValueError(f"max_budget / min_budget must be >= 1, got {ratio!r}")
    s = 0
    while eta ** (s + 1) <= ratio * (1 + 1e-9):
        s += 1
    return s


def rung_budget(max_budget: float, eta: int, k: int) -> float | int:
    """``max_budget / eta**k``, computed exactly from ``max_budget`` as written.

    ``Fraction(str(8.1))`` is 81/10, so 8.1 / 3**4 is exactly 1/10 and comes back as the float
    0.1 (not 0.09999999999999999); 27 / 3**4 is one correctly rounded division, the float
    nearest 1/3, the same number as a benchmark's ``1 / 3``. Whole budgets come back as ``int``
    (9, not 9.0), so they print and index as people write them.
    """
    exact = Fraction(str(max_budget)) / eta ** k
    return int(exact) if exact.denominator == 1 else float(exact)


def sh_rungs(n_configs: int | None, max_budget: float, eta: int = 3, min_budget: float = 1,
             s: int | None = None) -> list[tuple[int, float]]:
    """The rungs ``[(n_i, r_i), ...]`` of one successive-halving run (Hyperband's inner loop).

    Args:
        n_configs: configurations in the first rung; ``None`` means ``eta**s``.
        max_budget, min_budget: the budget range (epochs, data fraction, ...); ``max_budget``
            is always the last rung's budget.
        eta: the reduction factor; rung ``i + 1`` keeps ``floor(n_i / eta)`` configurations.
        s: number of halvings (rungs - 1); default ``s_max = floor(log_eta(max_budget / min_budget))``,
            or ``min(s_max, floor(log_eta(n_configs)))`` when ``n_configs`` is given, so that one
            configuration is left for ``max_budget``. The first rung's budget is ``max_budget * eta**-s``.

    >>> sh_rungs(4, 27)            # 4 configurations: one halving, and the winner gets all 27
    [(4, 9), (1, 27)]
    """
    check_int("eta", eta, 2)
    check_budgets(max_budget, min_budget)
    s_max = max_rung_index(max_budget / min_budget, eta)
    if n_configs is not None:
        check_int("n_configs", n_configs, 1)
    if s is None:
        s = s_max if n_configs is None else min(s_max, max_rung_index(n_configs, eta))
    if check_int("s", s) > s_max:
        raise ValueError(f"s must be an integer in [0, {s_max}], got {s!r}")
    n = eta ** s if n_configs is None else n_configs
    if n < eta ** s:
        raise ValueError(f"n_configs = {n} is fewer than eta**s = {eta ** s}: no configuration would reach "
                         f"max_budget = {max_budget}")
    # n_i = floor(n * eta^-i) configurations at r_i = R * eta^(i - s), derived downward from the max
    return [(n // eta ** i, rung_budget(max_budget, eta, s - i)) for i in range(s + 1)]


def top_k(results: list[tuple[float | None, int]], k: int) -> list[int]:
    """Positions of the ``k`` best results ``(value, tie_break)``; failed (``None``) rank last.

    Ties are broken by ``tie_break`` (the trial number: the earlier trial wins), so the
    cut is deterministic.
    """
    order = sorted(range(len(results)),
                   key=lambda j: (math.inf if results[j][0] is None else results[j][0], results[j][1]))
    return order[:k]


class Bracket:
    """The bookkeeping of one synchronous successive-halving run.

    ``next()`` hands out ``(config_id, rung, budget)`` jobs: first ``n_0`` new configs
    (``config_id is None``: the caller samples one and calls ``add_config``), then, once
    every result of rung ``i`` is in, the best ``n_{i+1}`` *successful* ones of rung ``i``
    (fewer when fewer succeeded). It returns ``None`` while a rung waits for results and
    when the bracket is done.
    """

    def __init__(self, rungs: list[tuple[int, float]]):
        if not rungs:
            raise ValueError("a bracket needs at least one rung")
        self.rungs = list(rungs)
        self.configs: list[Config] = []
        self.rung = 0
        self.size = rungs[0][0]                          # jobs in the current rung (n_i, or fewer)
        self.queue: list[int] = []                       # config ids still to run in this rung
        self.results: list[list[tuple[float | None, int, int]]] = [[] for _ in self.rungs]
        self.n_asked = 0                                 # jobs handed out in the current rung

    @property
    def done(self) -> bool:
        """Every result of the last rung is in, or no result of the current rung succeeded."""
        if len(self.results[self.rung]) < self.size:
            return False
        return self.rung == len(self.rungs) - 1 or not self.survivors()

    def add_config(self, config: Config) -> int:
        self.configs.append(config)
        return len(self.configs) - 1

    def next(self) -> tuple[int | None, int, float] | None:
        if len(self.results[self.rung]) == self.size and not self.done:
            self._promote()
        r_i = self.rungs[self.rung][1]
        if self.n_asked >= self.size:
            return None                                  # waiting for results, or done
        self.n_asked += 1
        if self.rung == 0:
            return None, 0, r_i                          # a new configuration
        return self.queue.pop(0), self.rung, r_i

    def survivors(self) -> list[int]:
        """Config ids of the best ``n_{i+1}`` (= floor(n_i / eta)) successful results of the current rung."""
        ok = [(value, number, config_id) for value, number, config_id in self.results[self.rung]
              if value is not None]
        best = top_k([(value, number) for value, number, _ in ok], self.rungs[self.rung + 1][0])
        return [ok[j][2] for j in best]

    def _promote(self) -> None:
        """Move to the next rung with the survivors of this one (all of them if fewer succeeded)."""
        self.queue = self.survivors()
        self.rung += 1
        self.size, self.n_asked = len(self.queue), 0

    def report(self, config_id: int, rung: int, value: float | None, number: int) -> None:
        if rung != self.rung:
            raise ValueError(f"result for rung {rung} arrived while the bracket is at rung {self.rung}")
        self.results[rung].append((value, number, config_id))

    def budget_before(self, rung: int) -> float:
        """The budget a config reached before ``rung`` (0 for new configs)."""
        return 0 if rung == 0 else self.rungs[rung - 1][1]


class SuccessiveHalving(MultiFidelitySearcher):
    """Synchronous successive halving over ``space`` (one bracket, then ``finished``).

    Args:
        max_budget, min_budget, eta: see ``sh_rungs``; budgets r_i = max_budget * eta**(i - s).
        n_configs: first-rung size (default ``eta**s_max``, the most Hyperband's largest bracket uses).
        sampler, avoid_duplicates: where new configurations come from (``MultiFidelitySearcher``).
        n_brackets: how many SH runs to do one after the other, each on new configurations
            (default 1; ``None`` = until stopped from outside, for any-time comparisons).

    The driver runs the brackets of ``self.schedule`` in turn (SH: ``[self.rungs]``; Hyperband
    overrides it). Trials carry ``meta = {"bracket_index": k, "s": s, "rung": i, "config_id": j,
    "from_budget": r_{i-1}}`` and, when they start a configuration, ``"phase"``.
    """

    def __init__(self, space: Space, max_budget: float = 27, min_budget: float = 1, eta: int = 3,
                 n_configs: int | None = None, seed: int | None = None,
                 sampler: Callable[[Any], Config] | None = None, n_brackets: int | None = 1,
                 avoid_duplicates: bool = False):
        super().__init__(space, max_budget, min_budget, eta, seed, sampler, avoid_duplicates)
        self.rungs = sh_rungs(n_configs, max_budget, eta, min_budget)
        self.schedule = [self.rungs]                     # the brackets to cycle through
        self.n_brackets = None if n_brackets is None else check_int("n_brackets", n_brackets, 1)
        self.brackets = [Bracket(self.rungs)]            # every bracket started, in order

    @property
    def bracket(self) -> Bracket:
        """The bracket being run."""
        return self.brackets[-1]

    def _all_started(self) -> bool:
        return self.n_brackets is not None and len(self.brackets) >= self.n_brackets

    def bracket_meta(self, k: int) -> dict[str, Any]:
        """What the trials of the ``k``-th bracket record about it."""
        return {"bracket_index": k, "s": len(self.brackets[k].rungs) - 1}

    def ask(self) -> Trial | None:
        if self.bracket.done:
            if self._all_started():
                self.finished = True
                return None
            self.brackets.append(Bracket(self.schedule[len(self.brackets) % len(self.schedule)]))
        job = self.bracket.next()
        if job is None:
            return None                                  # waiting for this rung's results
        config_id, rung, budget = job
        meta = self.bracket_meta(len(self.brackets) - 1)
        if config_id is None:
            config_id = self.bracket.add_config(self.new_config(budget))
            meta["phase"] = self.phase
        return self._new_trial(self.bracket.configs[config_id], budget, **meta, rung=rung, config_id=config_id,
                               from_budget=self.bracket.budget_before(rung))

    def tell(self, trial: Trial, value: Any, error: str | None = None) -> Trial:
        super().tell(trial, value, error)
        bracket = self.brackets[trial.meta["bracket_index"]]
        bracket.report(trial.meta["config_id"], trial.meta["rung"], trial.value, trial.number)
        if bracket.done and self._all_started():
            self.finished = True
        return trial
