"""The book's plotting helpers: one style, any-time curves over seeds, trial tables.

* ``use_book_style()`` sets readable defaults (grid, sizes, no top/right spines).
* ``anytime(ax, curves, ...)`` draws the median and the inter-quartile band of
  best-so-far curves over seeds, one colour per method: the figure every HPO
  comparison in the book uses.
* ``trial_table(study)`` renders a study's trials as a text table.
* ``draw_cell(ax, config)`` draws a NAS cell (``minilib.nas.space``) as a graph.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from minilib.study import Study

BOOK_COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"]


def use_book_style() -> None:
    """Apply the book's matplotlib style (call once at the top of a chapter).

    In Jupyter it also makes inline figures sharp on high-DPI screens: they are stored as PNGs
    at twice the resolution and shown at their normal size ("retina" format), so a 7-inch figure
    is 700 CSS pixels wide, the width of the book's content column.
    """
    plt.rcParams.update({
        "figure.figsize": (7.0, 4.0), "figure.dpi": 100, "axes.grid": True, "grid.alpha": 0.3,
        "axes.spines.top": False, "axes.spines.right": False, "axes.titlesize": 12,
        "axes.labelsize": 11, "legend.fontsize": 9, "legend.frameon": False,
        "axes.prop_cycle": plt.cycler(color=BOOK_COLORS),
    })
    try:
        from IPython import get_ipython
        from matplotlib_inline.backend_inline import set_matplotlib_formats
    except ImportError:
        return
    if get_ipython() is not None:
        set_matplotlib_formats("retina")


def best_so_far(values: Sequence[float] | np.ndarray, maximize: bool = False) -> np.ndarray:
    """Running minimum (or maximum) of ``values``; NaNs (failed trials) are skipped."""
    values = np.asarray(values, dtype=float)
    filled = np.where(np.isnan(values), -np.inf if maximize else np.inf, values)
    running = np.maximum.accumulate(filled) if maximize else np.minimum.accumulate(filled)
    return np.where(np.isinf(running), np.nan, running)


def _quantile_missing_worst(runs: np.ndarray, q: float) -> np.ndarray:
    """Column-wise ``q``-quantile (linear interpolation, as ``np.quantile``) with NaN ranked
    worst; NaN where the quantile falls on or next to a missing value."""
    ordered = np.sort(np.where(np.isnan(runs), np.inf, runs), axis=0)
    pos = q * (len(ordered) - 1)
    below, above, frac = ordered[int(np.floor(pos))], ordered[int(np.ceil(pos))], pos - np.floor(pos)
    with np.errstate(invalid="ignore"):                       # inf - inf: both missing, NaN
        value = below if frac == 0 else below + (above - below) * frac
    return np.where(np.isfinite(value), value, np.nan)


def anytime(ax: plt.Axes, curves: Mapping[str, Any], x: Mapping[str, Any] | Sequence[float] | None = None,
            xlabel: str = "number of evaluations", ylabel: str = "best value so far",
            title: str | None = None, logy: bool = False, logx: bool = False) -> plt.Axes:
    """Median (line) and 25-75 % band (shaded) of any-time curves, one entry per method.

    Args:
        curves: ``{method: array of shape (n_seeds, n_steps)}``; each row is one seed's
            best-so-far curve. NaN means "no result yet" and counts as worse than any result,
            so a median is drawn from the first step at which half the seeds have a result.
        x: the x positions, shared (a sequence) or per method (a mapping); default 1..n.
    """
    for i, (name, runs) in enumerate(curves.items()):
        runs = np.atleast_2d(np.asarray(runs, dtype=float))
        xs = x.get(name) if isinstance(x, Mapping) else x
        xs = np.arange(1, runs.shape[1] + 1) if xs is None else np.asarray(xs)
        color = BOOK_COLORS[i % len(BOOK_COLORS)]
        lo, median, hi = (_quantile_missing_worst(runs, q) for q in (0.25, 0.5, 0.75))
        ax.plot(xs, median, color=color, label=f"{name} (median of {runs.shape[0]})")
        if runs.shape[0] > 1:
            ax.fill_between(xs, lo, hi, color=color, alpha=0.2, linewidth=0)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    if logy:
        ax.set_yscale("log")
    if logx:
        ax.set_xscale("log")
    ax.legend()
    return ax


def trial_table(study: Study, top: int | None = None, sort: bool = False) -> str:
    """The trials of ``study`` as a fixed-width text table (best first when ``sort``)."""
    trials = list(study.trials)
    if sort:
        sign = 1 if study.direction == "minimize" else -1
        trials.sort(key=lambda t: (not t.ok, sign * t.value if t.ok else 0.0))
    if top is not None:
        trials = trials[:top]
    names: list[str] = []
    for trial in trials:
        names += [k for k in trial.config if k not in names]
    has_budget = any(t.budget is not None for t in trials)
    header = ["#", *names] + (["budget"] if has_budget else []) + ["value", "status"]
    rows = []
    for t in trials:
        cells = [str(t.number), *(_cell(t.config.get(k, "")) for k in names)]
        cells += [_cell(t.budget)] if has_budget else []
        cells += [_cell(t.value) if t.ok else "-", t.status]
        rows.append(cells)
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)]
    lines = ["  ".join(h.rjust(w) for h, w in zip(header, widths))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.rjust(w) for c, w in zip(r, widths)) for r in rows]
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "" if value is None else str(value)


def draw_cell(ax: plt.Axes, config: Mapping[str, str], title: str | None = None) -> plt.Axes:
    """Draw a cell of ``minilib.nas.space`` as its DAG: nodes 0 (input) to 3 (output) on a line,
    one arc per edge labelled with its operation; ``none`` edges are left out, edges whose output
    cannot reach node 3 are grey and dashed (they do not change what the cell computes)."""
    from minilib.nas.space import EDGES, N_NODES, edge_name

    reaches = {N_NODES - 1}                       # nodes with a path of non-none edges to the output
    for i in range(N_NODES - 2, -1, -1):
        if any(config[edge_name(i, j)] != "none" and j in reaches for j in range(i + 1, N_NODES)):
            reaches.add(i)
    for i, j in EDGES:
        op = config[edge_name(i, j)]
        if op == "none":
            continue
        live = j in reaches and i in reaches
        height = 0.35 * (j - i - 1) + 0.25 if j - i > 1 else 0.0
        sign = -1 if (i, j) == (1, 3) else 1         # 0->2 nests inside 0->3 above, 1->3 below
        xs = np.linspace(i, j, 50)
        ys = sign * height * np.sin(np.pi * (xs - i) / (j - i))
        ax.plot(xs, ys, color="black" if live else "0.6", linestyle="-" if live else "--", linewidth=1.5, zorder=1)
        ax.annotate("", xy=(xs[-1], ys[-1]), xytext=(xs[-4], ys[-4]),
                    arrowprops=dict(arrowstyle="-|>", color="black" if live else "0.6"), zorder=2)
        ax.text((i + j) / 2, sign * height + (0.08 if sign > 0 else -0.08) * (height > 0), op, ha="center",
                va="bottom" if sign > 0 else "top", fontsize=9, color="black" if live else "0.5",
                bbox=dict(boxstyle="round,pad=0.15", facecolor="white", edgecolor="none"), zorder=3)
    for node in range(N_NODES):
        ax.scatter([node], [0], s=500, color=BOOK_COLORS[0] if node in (0, N_NODES - 1) else "white",
                   edgecolor=BOOK_COLORS[0], linewidth=2, zorder=4)
        ax.text(node, 0, str(node), ha="center", va="center", fontsize=10, zorder=5,
                color="white" if node in (0, N_NODES - 1) else "black")
    ax.set_xlim(-0.4, N_NODES - 0.6)
    ax.set_ylim(-1.35, 1.35)
    ax.set_aspect("equal")
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=10)
    return ax
