"""What the multi-fidelity searchers share: the budget range and one hook for new configurations.

Successive halving, Hyperband, BOHB and ASHA differ in *when* they promote a configuration to
a larger budget. They agree on where a *new* configuration comes from: every one of them calls

    config = self.sample_config(budget)      # budget: the first rung's budget

whenever a slot of its bottom rung is free. The default draws uniformly from the space (or
calls ``sampler(rng)`` when one is given). BOHB overrides it with its density model
(``minilib.hpo.bohb``); an evolutionary sampler (mutate the best configurations so far) plugs
into any of the four the same way, by a subclass or by a ``sampler``.

``sample_config`` also sets ``self.phase``, how the configuration was chosen (``"random"`` or,
for BOHB, ``"model"``); the searcher stores it in the new trial's ``meta["phase"]``, the key
the model-based searchers of chapters 02 and 03 use as well.

Chapter 04 ("Multi-fidelity HPO") uses every searcher built on this class.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from minilib.hpo._checks import check_budgets, check_int
from minilib.space import Config, Space, config_key
from minilib.study import Searcher


class MultiFidelitySearcher(Searcher):
    """Base class of SH, Hyperband, BOHB and ASHA: budgets, ``eta`` and ``sample_config``.

    Args:
        max_budget, min_budget: the budget range (epochs, data fraction, ...), ``0 < min <= max``.
        eta: the reduction factor (an integer >= 2).
        sampler: ``sampler(rng) -> config`` for new configurations (default: uniform from ``space``).
        avoid_duplicates: in a finite space, i.i.d. draws start the same configuration again
            and again; with ``True`` a new configuration is one not started before, while
            100 redraws find one (an extension of the papers, which draw i.i.d.).
    """

    multi_fidelity = True

    def __init__(self, space: Space, max_budget: float = 27, min_budget: float = 1, eta: int = 3,
                 seed: int | None = None, sampler: Callable[[Any], Config] | None = None,
                 avoid_duplicates: bool = False):
        super().__init__(space, seed)
        check_budgets(max_budget, min_budget)
        self.max_budget, self.min_budget, self.eta = max_budget, min_budget, check_int("eta", eta, 2)
        self.sampler = sampler
        self.avoid_duplicates = avoid_duplicates
        self.started: set[str] = set()                  # config_key of every configuration started
        self.phase = "random"                            # how the last new configuration was chosen

    def sample_config(self, budget: float) -> Config:
        """A new configuration for the bottom rung (budget ``budget``): uniform, or ``sampler(rng)``.

        The one hook for new configurations: override it (BOHB does) or pass a ``sampler``.
        """
        self.phase = "random"
        config = self._draw()
        for _ in range(100):                             # with avoid_duplicates: redraw repeats
            if not self.avoid_duplicates or self.is_new(config):
                break
            config = self._draw()
        return config

    def _draw(self) -> Config:
        if self.sampler is not None:
            return self.sampler(self.rng)
        return self.space.sample(1, rng=self.rng)[0]

    def is_new(self, config: Config) -> bool:
        """True if ``config`` was never started by this searcher."""
        return config_key(config) not in self.started

    def new_config(self, budget: float) -> Config:
        """``sample_config(budget)``, recorded as started."""
        config = self.sample_config(budget)
        self.started.add(config_key(config))
        return config
