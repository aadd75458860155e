"""Type and shape checks for graded exercise tests, with readable failure messages.

A test first checks what a student's function returned, then compares a *trusted* copy of it::

    import excheck as check

    ei = check.array(ex.expected_improvement(mu, sigma, best), shape=(3,))   # a plain float ndarray
    check.close(ei, expected, rtol=1e-9)            # shapes, first differing index, both arrays

    i = check.integer(ex.next_point(mu, sigma, best))    # a plain int
    assert i == 2

Every function raises ``AssertionError`` with a short message that names the value (``what``).
The returned values are plain ``int``, ``float``, ``list``, ``tuple``, ``dict`` or ``numpy.ndarray``
objects built by this module, never the student's object: an object whose ``==`` always returns True
(or whose ``__bool__`` is always True, or an ``ndarray`` subclass that overrides comparisons) fails the
type check instead of passing the comparison. The grader copies this file next to the tests (and the
release next to the handout's ``conftest.py``); it is guarded like ``numpy`` (replacing one of its
functions from a submission is flagged as tampering).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

#: exact scalar types accepted as numbers (no subclasses: a subclass can override ``==``)
INT_TYPES = (int, np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64)
FLOAT_TYPES = (float, np.float16, np.float32, np.float64)


def _kind(value: Any) -> str:
    kind = type(value)
    text = f"{kind.__module__}.{kind.__qualname__}" if kind.__module__ != "builtins" else kind.__qualname__
    if isinstance(value, np.ndarray) and type(value) is np.ndarray:
        text += f" of shape {value.shape} and dtype {value.dtype}"
    return text


def integer(value: Any, what: str = "the result") -> int:
    """``value`` as a plain ``int``; it must be an ``int`` or a numpy integer (not a bool, not a subclass)."""
    if type(value) not in INT_TYPES:
        raise AssertionError(f"{what} should be an int, got {_kind(value)}")
    return int(value)


def number(value: Any, what: str = "the result") -> float:
    """``value`` as a plain ``float``: an int, a float, a numpy scalar or a 0-d float ndarray (not a bool)."""
    if type(value) is np.ndarray and value.shape == () and value.dtype.kind in "iuf":
        return float(value.item())
    if type(value) not in INT_TYPES + FLOAT_TYPES:
        raise AssertionError(f"{what} should be a number (int or float), got {_kind(value)}")
    return float(value)


def array(value: Any, shape: tuple[int, ...] | None = None, what: str = "the result", dtype: Any = float,
          ) -> np.ndarray:
    """``value`` as a fresh ``numpy.ndarray`` of ``dtype``; it must be an ndarray (exactly), of ``shape`` if given.

    ``shape`` may use ``None`` for a free dimension: ``(None, 2)``.
    """
    if type(value) is not np.ndarray:
        raise AssertionError(f"{what} should be a numpy.ndarray, got {_kind(value)}")
    if shape is not None:
        shape = tuple(shape)
        if len(value.shape) != len(shape) or any(s is not None and s != v for s, v in zip(shape, value.shape)):
            raise AssertionError(f"{what} should have shape {shape}, got {value.shape}")
    if value.dtype == object:
        raise AssertionError(f"{what} should hold numbers, got dtype object")
    try:
        return np.array(value, dtype=dtype, copy=True, subok=False)
    except (TypeError, ValueError) as exc:
        raise AssertionError(f"{what} cannot be converted to {np.dtype(dtype)}: {exc}") from None


def int_list(value: Any, length: int | None = None, what: str = "the result") -> list[int]:
    """``value`` as a fresh ``list`` of plain ints; it must be a ``list`` (exactly) of ints, of ``length`` if given."""
    if type(value) is not list:
        raise AssertionError(f"{what} should be a list, got {_kind(value)}")
    if length is not None and len(value) != length:
        raise AssertionError(f"{what} should have {length} elements, got {len(value)}")
    return [integer(v, f"{what}[{i}]") for i, v in enumerate(value)]


def sequence(value: Any, length: int | None, what: str = "the result", kinds: tuple[type, ...] = (tuple,)) -> tuple:
    """``value`` as a plain ``tuple`` of its elements; it must be exactly one of ``kinds``, of ``length`` if given."""
    if type(value) not in kinds:
        names = " or ".join(k.__name__ for k in kinds)
        raise AssertionError(f"{what} should be a {names}, got {_kind(value)}")
    if length is not None and len(value) != length:
        raise AssertionError(f"{what} should have {length} elements, got {len(value)}")
    return tuple(value[i] for i in range(len(value)))


def mapping(value: Any, what: str = "the result") -> dict:
    """``value`` as a fresh ``dict``; it must be a ``dict`` (exactly)."""
    if type(value) is not dict:
        raise AssertionError(f"{what} should be a dict, got {_kind(value)}")
    return dict(value)


def _show(a: np.ndarray) -> str:
    return np.array2string(a, precision=6, threshold=12, edgeitems=3, max_line_width=100)


def close(got: Any, expected: Any, rtol: float = 1e-7, atol: float = 0.0, what: str = "the result",
          equal_nan: bool = True) -> None:
    """Assert that two arrays (or numbers) agree within ``atol + rtol * |expected|``, elementwise.

    ``got`` must already be trusted (the output of ``array`` or ``number``). On failure the message
    gives both shapes, the number of differing elements, the first differing index with both values,
    the largest difference, and both arrays abbreviated (never cut in the middle of a number).
    """
    a = np.asarray(got, dtype=float)
    b = np.asarray(expected, dtype=float)
    if a.shape != b.shape:
        raise AssertionError(f"{what}: shape {a.shape}, expected {b.shape}\n  got:      {_show(a)}\n"
                             f"  expected: {_show(b)}")
    ok = np.isclose(a, b, rtol=rtol, atol=atol, equal_nan=equal_nan)
    if ok.all():
        return
    bad = np.argwhere(~ok)
    first = tuple(int(i) for i in bad[0])
    diff = np.abs(a - b)
    finite = diff[np.isfinite(diff)]
    where = f"[{', '.join(map(str, first))}]" if first else ""
    lines = [f"{what}: {len(bad)} of {a.size} element(s) differ (rtol={rtol:g}, atol={atol:g}), shape {a.shape}",
             f"  first at index {first}: got{where} = {float(a[first])!r}, expected {float(b[first])!r}"]
    if finite.size:
        lines.append(f"  largest absolute difference {finite.max():.6g}")
    if a.ndim == 1 and a.size > 12:      # the neighbourhood of the first difference, which the abbreviation hides
        lo = max(0, first[0] - 3)
        lines.append(f"  got[{lo}:{lo + 7}]:      {_show(a[lo:lo + 7])}")
        lines.append(f"  expected[{lo}:{lo + 7}]: {_show(b[lo:lo + 7])}")
    lines += [f"  got:      {_show(a)}", f"  expected: {_show(b)}"]
    raise AssertionError("\n".join(lines))


def equal(got: Any, expected: Any, what: str = "the result") -> None:
    """Assert exact equality of two trusted values (arrays elementwise, with the message of ``close``)."""
    if isinstance(expected, np.ndarray) or isinstance(got, np.ndarray):
        close(got, expected, rtol=0.0, atol=0.0, what=what)
    elif got != expected:
        raise AssertionError(f"{what}: got {got!r}, expected {expected!r}")


def approx(got: float, expected: float, rel: float = 1e-7, abs: float = 0.0, what: str = "the result") -> None:  # noqa: A002
    """Assert ``|got - expected| <= max(rel * |expected|, abs)`` for two plain numbers (NaN equals NaN)."""
    if math.isnan(expected) and math.isnan(got):
        return
    if not abs_ok(got, expected, rel, abs):
        raise AssertionError(f"{what}: got {got!r}, expected {expected!r} (rel={rel:g}, abs={abs:g})")


def abs_ok(got: float, expected: float, rel: float, tol: float) -> bool:
    if math.isinf(expected) or math.isinf(got):
        return got == expected
    return math.fabs(got - expected) <= max(rel * math.fabs(expected), tol)
