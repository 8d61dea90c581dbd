"""The pictures of ``ebkit sweep report``: histograms of the objective, sweeps side by
side on the same bins (the layout of Zhao et al. 2017, EBGAN, Fig. 2, which compares
the inception scores of every GAN and EBGAN of a grid), and the objective against each
parameter."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ebkit.pictures.figures import new_figure, save_figure

if TYPE_CHECKING:
    from ebkit.sweeps.report import SweepTable

__all__ = ["objective_by_parameter", "objective_histograms", "shared_bins"]


def shared_bins(groups: Sequence[Sequence[float]], bins: int) -> list[float]:
    """``bins + 1`` edges spanning every value of every group (one bin around a single
    value), so that histograms drawn side by side compare bar for bar."""
    values = [value for group in groups for value in group]
    if not values:
        return [0.0, 1.0]
    low, high = min(values), max(values)
    if low == high:
        low, high = low - 0.5, high + 0.5
    width = (high - low) / bins
    return [low + index * width for index in range(bins + 1)]


def objective_histograms(tables: Sequence[SweepTable], path: Path, bins: int) -> Path:
    """One histogram of the completed trials' objective per sweep, in a row, on the
    same bins and the same axes; bars are shares of the sweep's trials in percent, so
    sweeps of different sizes compare (as in the paper's figure)."""
    edges = shared_bins([table.values() for table in tables], bins)
    figure = new_figure((4.0 * len(tables), 3.2))
    axes = figure.subplots(1, len(tables), sharex=True, sharey=True, squeeze=False)[0]
    for axis, table in zip(axes, tables, strict=True):
        values = table.values()
        share = [100.0 / max(1, len(table.rows))] * len(values)
        axis.hist(values, bins=edges, weights=share, color="tab:blue", edgecolor="white")
        axis.set_title(f"{table.study}: {len(values)} of {len(table.rows)} trials", fontsize=9)
        axis.set_xlabel(table.objective)
        if not values:
            axis.text(0.5, 0.5, "no completed trial", ha="center", transform=axis.transAxes)
    axes[0].set_ylabel("% of trials")
    figure.tight_layout()
    return save_figure(figure, path)


_MAX_CATEGORIES = 8


def _numbers(values: Sequence[Any]) -> bool:
    return all(isinstance(value, (int, float)) and not isinstance(value, bool) for value in values)


def objective_by_parameter(table: SweepTable, path: Path) -> Path:
    """The objective of each completed trial against each parameter (log scale for
    positive numbers spanning two decades or more; categories in their order)."""
    names = table.parameters or ["trial"]
    figure = new_figure((3.6 * len(names), 3.2))
    axes = figure.subplots(1, len(names), sharey=True, squeeze=False)[0]
    done = [row for row in table.rows if row.state == "complete" and row.value is not None]
    for axis, name in zip(axes, names, strict=True):
        xs = [row.params.get(name, row.number) for row in done]
        ys = [row.value for row in done]
        distinct = sorted(set(xs), key=lambda x: (str(type(x)), x))
        if _numbers(xs) and len(distinct) > _MAX_CATEGORIES:
            axis.scatter(xs, ys, s=14, alpha=0.7)
            if xs and min(xs) > 0 and max(xs) / min(xs) >= 100:
                axis.set_xscale("log")
        else:
            # A few values (a grid's): one column each, in order.
            categories = [str(x) for x in distinct]
            axis.scatter([categories.index(str(x)) for x in xs], ys, s=14, alpha=0.7)
            axis.set_xticks(range(len(categories)), categories)
            axis.set_xlim(-0.5, len(categories) - 0.5)
        axis.set_xlabel(name)
    axes[0].set_ylabel(table.objective)
    failed = len(table.rows) - len(done)
    note = f" ({failed} not completed, not shown)" if failed else ""
    figure.suptitle(f"{table.study}: {table.objective} by parameter{note}", fontsize=9)
    figure.tight_layout()
    if not any(math.isfinite(row.value or math.nan) for row in done):
        axes[0].text(0.5, 0.5, "no completed trial", ha="center", transform=axes[0].transAxes)
    return save_figure(figure, path)
