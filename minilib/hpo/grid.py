"""Grid search: evaluate every combination of a few values per hyperparameter.

The oldest and simplest HPO method. With ``k`` points on each of ``d`` dimensions it
costs ``k**d`` trials, and when only one hyperparameter matters it still tests only
``k`` distinct values of that one (Bergstra & Bengio, JMLR 2012). Chapter 01 shows
both facts in pictures.
"""

from __future__ import annotations

from minilib.space import Space
from minilib.study import Searcher, Trial


class GridSearch(Searcher):
    """Propose the points of ``space.grid(points_per_dim)`` in order, then stop.

    ``ask()`` returns ``None`` (and ``finished`` becomes True) once the grid is used up.
    ``seed`` is accepted for a uniform interface; with ``shuffle=True`` it fixes a
    random order of the grid, which gives a fairer any-time curve than row-major order.
    """

    def __init__(self, space: Space, points_per_dim: int | dict[str, int] = 5, seed: int | None = None,
                 shuffle: bool = False):
        super().__init__(space, seed)
        self.points = space.grid(points_per_dim)
        if shuffle:
            order = self.rng.permutation(len(self.points))
            self.points = [self.points[i] for i in order]

    def ask(self) -> Trial | None:
        if len(self.trials) >= len(self.points):
            self.finished = True
            return None
        return self._new_trial(self.points[len(self.trials)])
