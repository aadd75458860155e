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
[1.5, 3, 6], as in SMAC3 (its test suite pins exactly these numbers).

Survivors are *retrained*: the searcher asks for ``objective(config, r_i)`` and does not
say how to get there. Each trial's ``meta["from_budget"]`` names the budget the config
already reached in the rung below, so an objective that keeps checkpoints may continue
from it instead. The tabular benchmark charges the full cost ``1..r_i`` epochs (retraining);
``minilib.hpo.parallel.simulate(..., resume=True)`` charges only the new epochs.

Synchronous: a rung is decided only when all its results are in; until then ``ask()``
returns ``None`` (the ``Searcher`` contract for "waiting"). ``minilib.hpo.asha`` removes
that barrier. Chapter 04 ("Multi-fidelity HPO") walks through this module.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from minilib.space import Config, Space
from minilib.study import Searcher, Trial


def max_rung_index(ratio: float, eta: int) -> int:
    """``floor(log_eta(ratio))`` by integer arithmetic: the exponent ``s_max`` of Hyperband.

    ``math.log(243, 3)`` is 4.999999999999999, so ``int(math.log(R, eta))`` gives 4 for
    R = 243 (a bug several libraries shipped). We count powers instead: the largest ``s``
    with ``eta**s <= ratio`` (with a 1e-9 relative slack for ratios like 8.1 / 0.1).
    """
    _check_eta(eta)
    if not ratio >= 1:
        raise ValueError(f"max_budget / min_budget must be >= 1, got {ratio!r}")
    s = 0
    while eta ** (s + 1) <= ratio * (1 + 1e-9):
        s += 1
    return s


def _check_eta(eta: Any) -> None:
    if isinstance(eta, bool) or not isinstance(eta, int) or eta < 2:
        raise ValueError(f"eta must be an integer >= 2, got {eta!r}")


def _nice(budget: float) -> float | int:
    """9.0 -> 9 and 0.09999999999999999 -> 0.1: budgets print (and index) as people write them."""
    budget = float(f"{budget:.12g}")                   # drop the round-off of max_budget / eta**k
    return int(budget) if budget.is_integer() else budget


def sh_rungs(n_configs: int | None, max_budget: float, eta: int = 3, min_budget: float = 1,
             s: int | None = None) -> list[tuple[int, float]]:
    """The rungs ``[(n_i, r_i), ...]`` of one successive-halving run (Hyperband's inner loop).

    Args:
        n_configs: configurations in the first rung; ``None`` means ``eta**s``.
        max_budget, min_budget: the budget range (epochs, data fraction, …); ``max_budget``
            is always the last rung's budget.
        eta: the reduction factor; rung ``i + 1`` keeps ``floor(n_i / eta)`` configurations.
        s: number of halvings (rungs - 1); default ``floor(log_eta(max_budget / min_budget))``.
            The first rung's budget is ``max_budget * eta**-s``.
    """
    _check_eta(eta)
    if not (min_budget > 0 and max_budget >= min_budget):
        raise ValueError(f"need 0 < min_budget <= max_budget, got {min_budget!r}, {max_budget!r}")
    s_max = max_rung_index(max_budget / min_budget, eta)
    s = s_max if s is None else s
    if isinstance(s, bool) or not isinstance(s, int) or not 0 <= s <= s_max:
        raise ValueError(f"s must be an integer in [0, {s_max}], got {s!r}")
    n = eta ** s if n_configs is None else n_configs
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n_configs must be a positive integer, got {n_configs!r}")
    rungs = []
    for i in range(s + 1):
        n_i = n // eta ** i                            # n_i = floor(n * eta^-i)
        r_i = _nice(max_budget / eta ** (s - i))       # r_i = R * eta^(i - s), downward from the max
        if n_i < 1:
            break
        rungs.append((n_i, r_i))
    return rungs


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
    every result of rung ``i`` is in, the top ``n_{i+1}`` of rung ``i``. It returns ``None``
    while a rung waits for results and when the bracket is done.
    """

    def __init__(self, rungs: list[tuple[int, float]]):
        if not rungs:
            raise ValueError("a bracket needs at least one rung")
        self.rungs = list(rungs)
        self.configs: list[Config] = []
        self.rung = 0
        self.queue: list[int] = []                       # config ids still to run in this rung
        self.results: list[list[tuple[float | None, int, int]]] = [[] for _ in self.rungs]
        self.n_asked = 0                                 # jobs handed out in the current rung

    @property
    def done(self) -> bool:
        last = len(self.rungs) - 1
        return self.rung == last and len(self.results[last]) == self.rungs[last][0]

    def add_config(self, config: Config) -> int:
        self.configs.append(config)
        return len(self.configs) - 1

    def next(self) -> tuple[int | None, int, float] | None:
        n_i, r_i = self.rungs[self.rung]
        if len(self.results[self.rung]) == n_i and self.rung < len(self.rungs) - 1:
            self._promote()
            n_i, r_i = self.rungs[self.rung]
        if self.n_asked >= n_i:
            return None                                  # waiting for results, or done
        self.n_asked += 1
        if self.rung == 0:
            return None, 0, r_i                          # a new configuration
        return self.queue.pop(0), self.rung, r_i

    def _promote(self) -> None:
        """Keep the top ``n_{i+1}`` (= floor(n_i / eta)) configurations of the finished rung."""
        done = self.results[self.rung]
        best = top_k([(value, number) for value, number, _ in done], self.rungs[self.rung + 1][0])
        self.queue = [done[j][2] for j in best]
        self.rung += 1
        self.n_asked = 0

    def report(self, config_id: int, rung: int, value: float | None, number: int) -> None:
        if rung != self.rung:
            raise ValueError(f"result for rung {rung} arrived while the bracket is at rung {self.rung}")
        self.results[rung].append((value, number, config_id))

    def budget_before(self, rung: int) -> float:
        """The budget a config reached before ``rung`` (0 for new configs)."""
        return 0 if rung == 0 else self.rungs[rung - 1][1]


class SuccessiveHalving(Searcher):
    """Synchronous successive halving over ``space`` (one bracket, then ``finished``).

    Args:
        max_budget, min_budget, eta: see ``sh_rungs``; budgets r_i = max_budget * eta**(i - s).
        n_configs: first-rung size (default ``eta**s``, the most Hyperband's largest bracket uses).
        sampler: ``sampler(rng) -> config`` for new configurations (default: uniform from ``space``).
        n_brackets: how many SH runs to do one after the other, each on new configurations
            (default 1; ``None`` = until stopped from outside, for any-time comparisons).

    Trials carry ``meta = {"bracket_index": k, "rung": i, "config_id": j, "from_budget": r_{i-1}}``.
    """

    multi_fidelity = True

    def __init__(self, space: Space, max_budget: float = 27, min_budget: float = 1, eta: int = 3,
                 n_configs: int | None = None, seed: int | None = None,
                 sampler: Callable[[Any], Config] | None = None, n_brackets: int | None = 1):
        super().__init__(space, seed)
        self.max_budget, self.min_budget, self.eta = max_budget, min_budget, eta
        self.rungs = sh_rungs(n_configs, max_budget, eta, min_budget)
        self.n_brackets = n_brackets
        self.brackets = [Bracket(self.rungs)]
        self.sampler = sampler or (lambda rng: self.space.sample(1, rng=rng)[0])

    @property
    def bracket(self) -> Bracket:
        """The bracket being run."""
        return self.brackets[-1]

    def ask(self) -> Trial | None:
        if self.bracket.done:
            if self.n_brackets is not None and len(self.brackets) >= self.n_brackets:
                self.finished = True
                return None
            self.brackets.append(Bracket(self.rungs))     # the next SH run, on new configurations
        job = self.bracket.next()
        if job is None:
            return None                                  # waiting for this rung's results
        config_id, rung, budget = job
        if config_id is None:
            config_id = self.bracket.add_config(self.sampler(self.rng))
        return self._new_trial(self.bracket.configs[config_id], budget, bracket_index=len(self.brackets) - 1,
                               rung=rung, config_id=config_id, from_budget=self.bracket.budget_before(rung))

    def tell(self, trial: Trial, value: Any, error: str | None = None) -> Trial:
        super().tell(trial, value, error)
        bracket = self.brackets[trial.meta["bracket_index"]]
        bracket.report(trial.meta["config_id"], trial.meta["rung"], trial.value, trial.number)
        if bracket.done and self.n_brackets is not None and len(self.brackets) >= self.n_brackets:
            self.finished = True
        return trial
