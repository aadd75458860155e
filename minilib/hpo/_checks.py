"""Argument checks the searchers share (one wording for every error message)."""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np


def check_int(name: str, value: Any, minimum: int = 0) -> int:
    """Return ``value`` as an ``int`` if it is an integer ``>= minimum``, else raise ``ValueError``.

    ``True`` is refused (it is an ``int`` in Python, but nobody means 1 by it), and so is ``2.0``.
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def check_budgets(max_budget: Any, min_budget: Any) -> None:
    """``0 < min_budget <= max_budget``, both finite numbers."""
    ok = all(isinstance(b, numbers.Real) and not isinstance(b, (bool, np.bool_)) and math.isfinite(b)
             for b in (max_budget, min_budget))
    if not (ok and 0 < min_budget <= max_budget):
        raise ValueError(f"need 0 < min_budget <= max_budget, got {min_budget!r}, {max_budget!r}")
