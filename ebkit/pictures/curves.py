"""Training curves: one subplot per numeric metric of ``metrics.jsonl``, against the step."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ebkit.pictures.figures import PathLike, new_figure, save_figure

__all__ = ["save_curves"]


def save_curves(
    records: Sequence[Mapping[str, Any]], path: PathLike, *, smooth: float = 0.0
) -> Path:
    """One subplot per numeric metric in ``records`` (``metrics.jsonl`` rows), against
    ``"step"``, on linear axes.

    Values that are missing, not numbers (strings, booleans, lists) or not finite are
    skipped, as are records without a numeric step. ``smooth`` in [0, 1) adds an
    exponential moving average with that decay over the raw (faint) curve.
    """
    if not 0.0 <= smooth < 1.0:
        raise ValueError(f"smooth must be in [0, 1), not {smooth}")
    series = _curve_series(records)
    columns = min(3, max(1, len(series)))
    rows = max(1, math.ceil(len(series) / columns))
    figure = new_figure((4.0 * columns, 2.8 * rows))
    if not series:
        axes = figure.add_subplot()
        axes.text(0.5, 0.5, "no numeric metrics logged", ha="center", va="center")
        axes.set_axis_off()
    for index, (name, (steps, values)) in enumerate(series.items()):
        axes = figure.add_subplot(rows, columns, index + 1)
        if smooth > 0:
            axes.plot(steps, values, color="tab:blue", alpha=0.3, linewidth=0.8)
            axes.plot(steps, _moving_average(values, smooth), color="tab:blue", linewidth=1.2)
        else:
            axes.plot(steps, values, color="tab:blue", linewidth=1.0)
        axes.set_title(name, fontsize=9)
        axes.set_xlabel("step", fontsize=8)
        axes.tick_params(labelsize=7)
        axes.grid(alpha=0.3)
    figure.tight_layout()
    return save_figure(figure, path)


def _curve_series(
    records: Sequence[Mapping[str, Any]],
) -> dict[str, tuple[list[float], list[float]]]:
    """``{metric: (steps, values)}`` for the plottable values, in first-seen key order."""
    series: dict[str, tuple[list[float], list[float]]] = {}
    for record in records:
        step = record.get("step")
        if not _is_plottable(step):
            continue
        for name, value in record.items():
            if name == "step" or not _is_plottable(value):
                continue
            steps, values = series.setdefault(name, ([], []))
            steps.append(float(step))
            values.append(float(value))
    return series


def _is_plottable(value: Any) -> bool:
    # bool is an int subclass, but a flag plotted as 0/1 would only add noise.
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return math.isfinite(value)


def _moving_average(values: Sequence[float], decay: float) -> list[float]:
    smoothed, average = [], values[0]
    for value in values:
        average = decay * average + (1 - decay) * value
        smoothed.append(average)
    return smoothed
