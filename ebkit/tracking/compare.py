"""Comparing finished runs (``ebkit compare``): the options in which they differ, their
final metrics and evaluation, and their training curves overlaid.

Everything is read from the run directories' files (``config.json``, ``metrics.jsonl``,
``eval.json``); nothing is rebuilt, so comparing imports no torch and works for runs
whose plugins are no longer installed.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ebkit.core.errors import UsageError
from ebkit.runs.config import SECTIONS, RunConfig

__all__ = ["ComparedRun", "Comparison", "compare_runs", "read_run", "save_comparison_curves"]

MISSING = None
"""The value of an option or metric that a run does not have."""

DPI = 100
LEGEND_COLUMNS = 3
LEGEND_ROW_INCHES = 0.3


@dataclass
class ComparedRun:
    """What one run directory holds, as read from its files."""

    path: Path
    options: dict[str, Any]
    """Every option as ``-o`` names it (``energy.width``), the component names under
    their section (``energy``: ``ebkit/mlp``); loggers are left out (they change
    nothing the run computes)."""
    records: list[dict[str, Any]]
    """The ``metrics.jsonl`` records (empty if nothing was logged)."""
    evaluation: dict[str, Any]
    """The numbers of ``eval.json`` by row name (``eval samples.fid``), empty without one."""

    @property
    def final_metrics(self) -> dict[str, Any]:
        """The last ``metrics.jsonl`` record (its step as ``step``)."""
        return dict(self.records[-1]) if self.records else {}


@dataclass
class Comparison:
    """The runs side by side: each row holds one value per run (``None``: missing)."""

    runs: list[ComparedRun]
    names: list[str]
    options: dict[str, list[Any]] = field(default_factory=dict)
    """Only the options whose values differ between the runs."""
    metrics: dict[str, list[Any]] = field(default_factory=dict)
    evaluation: dict[str, list[Any]] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "runs": [str(run.path) for run in self.runs],
            "names": self.names,
            "options": self.options,
            "final_metrics": self.metrics,
            "evaluation": self.evaluation,
        }


def read_run(path: str | Path) -> ComparedRun:
    """Read a run directory; a folder that is not a run is one :class:`UsageError`."""
    folder = Path(path)
    config_file = folder / "config.json"
    if not folder.is_dir():
        raise UsageError(f"{folder}: no such run directory")
    if not config_file.is_file():
        raise UsageError(f"{folder} is not an ebkit run (it has no config.json)")
    try:
        payload = json.loads(config_file.read_text())
    except (OSError, ValueError) as error:
        raise UsageError(f"{config_file} cannot be read as JSON ({error})") from None
    if not isinstance(payload, dict):
        raise UsageError(f"{config_file} is not an ebkit run configuration")
    try:
        config = RunConfig.from_json(payload)
    except UsageError as error:
        raise UsageError(f"{folder}: {error}") from None
    return ComparedRun(
        path=folder,
        options=flat_options(config),
        records=_read_records(folder / "metrics.jsonl"),
        evaluation=_read_evaluation(folder / "eval.json"),
    )


def flat_options(config: RunConfig) -> dict[str, Any]:
    """``{"energy": "ebkit/mlp", "energy.width": 64, ..., "train.steps": 2000}``."""
    options: dict[str, Any] = {}
    for section in SECTIONS:
        choice = config.component(section)
        options[section] = choice.id
        if section == "data":
            options["data.path"] = config.data_path
        for key, value in choice.options.items():
            options[f"{section}.{key}"] = value
    options["regularizers"] = ", ".join(choice.id for choice in config.regularizers) or "none"
    for choice in config.regularizers:
        name = choice.id.rpartition("/")[2]
        for key, value in choice.options.items():
            options[f"{name}.{key}"] = value
    for key, value in config.train.as_flat().items():
        options[f"train.{key}"] = value
    return options


def compare_runs(paths: Sequence[str | Path]) -> Comparison:
    """Read every run (all are checked before anything is written) and line them up."""
    runs = [read_run(path) for path in paths]
    names = _names([run.path for run in runs])
    comparison = Comparison(runs, names)
    for key in _union(run.options for run in runs):
        values = [run.options.get(key, MISSING) for run in runs]
        if any(value != values[0] for value in values[1:]):
            comparison.options[key] = values
    for key in _union(run.final_metrics for run in runs):
        comparison.metrics[key] = [run.final_metrics.get(key, MISSING) for run in runs]
    for key in _union(run.evaluation for run in runs):
        comparison.evaluation[key] = [run.evaluation.get(key, MISSING) for run in runs]
    return comparison


def save_comparison_curves(comparison: Comparison, path: str | Path) -> Path:
    """One subplot per metric logged by any of the runs, each run's curve overlaid on
    the same axes (one colour per run, a shared legend), against the step."""
    from matplotlib.figure import Figure

    series: dict[str, list[tuple[list[float], list[float]]]] = {}
    for index, run in enumerate(comparison.runs):
        for metric, (steps, values) in _series(run.records).items():
            series.setdefault(metric, [([], [])] * len(comparison.runs))[index] = (steps, values)
    columns = min(3, max(1, len(series)))
    rows = max(1, math.ceil(len(series) / columns))
    legend_rows = math.ceil(len(comparison.runs) / LEGEND_COLUMNS)
    height = 3.0 * rows + LEGEND_ROW_INCHES * legend_rows
    figure = Figure(figsize=(4.2 * columns, height), dpi=DPI)
    if not series:
        axes = figure.add_subplot()
        axes.text(0.5, 0.5, "none of the runs logged a metric", ha="center", va="center")
        axes.set_axis_off()
    lines: dict[str, Any] = {}
    for position, (metric, per_run) in enumerate(series.items()):
        axes = figure.add_subplot(rows, columns, position + 1)
        for index, (steps, values) in enumerate(per_run):
            if steps:
                (line,) = axes.plot(steps, values, color=f"C{index % 10}", linewidth=1.0)
                lines.setdefault(comparison.names[index], line)
        axes.set_title(metric, fontsize=9)
        axes.set_xlabel("step", fontsize=8)
        axes.tick_params(labelsize=7)
        axes.grid(alpha=0.3)
    if lines:
        figure.legend(
            list(lines.values()), list(lines), loc="upper center", ncol=LEGEND_COLUMNS, fontsize=8
        )
    # The subplots fill the figure below the legend's rows.
    figure.tight_layout(rect=(0, 0, 1, 1 - LEGEND_ROW_INCHES * legend_rows / height))
    return _write_png(figure, Path(path))


def format_value(value: Any) -> str:
    """How the table shows a value: ``—`` for missing, 4 significant digits for floats."""
    if value is MISSING:
        return "—"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list):
        return ", ".join(format_value(item) for item in value)
    return str(value)


def _write_png(figure: Any, target: Path) -> Path:
    """Save atomically, like the run's pictures (a temporary file, then one rename).
    Not through :mod:`ebkit.pictures`, whose package imports torch: comparing needs none."""
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.parent / f".{target.name}.{os.getpid()}.tmp"
    try:
        figure.savefig(temporary, format="png", dpi=DPI)
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return target


def _names(paths: Sequence[Path]) -> list[str]:
    """Each run's folder name, or its whole path where two folders share a name."""
    names = [path.name or str(path) for path in paths]
    return [
        str(path) if names.count(name) > 1 else name
        for name, path in zip(names, paths, strict=True)
    ]


def _union(mappings: Iterable[Mapping[str, Any]]) -> list[str]:
    return list(dict.fromkeys(key for mapping in mappings for key in mapping))


def _read_records(path: Path) -> list[dict[str, Any]]:
    records = []
    if path.is_file():
        for line in path.read_text().splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                break  # a line cut short by a kill
            if isinstance(record, dict):
                records.append(record)
    return records


def _read_evaluation(path: Path) -> dict[str, Any]:
    """The numbers of ``eval.json``: its top-level numbers (``data_energy``,
    ``test_error``...) and each sample set's metrics as ``SET.METRIC``."""
    if not path.is_file():
        return {}
    try:
        results = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    numbers: dict[str, Any] = {}
    skipped = {"seed", "num_samples", "test_size"}
    for key, value in results.items():
        if key not in skipped and _is_number(value):
            numbers[f"eval {key}"] = value
    for set_name, metrics in (results.get("sets") or {}).items():
        for metric, value in (metrics or {}).items():
            if _is_number(value):
                numbers[f"eval {set_name}.{metric}"] = value
    return numbers


def _series(records: Sequence[Mapping[str, Any]]) -> dict[str, tuple[list[float], list[float]]]:
    series: dict[str, tuple[list[float], list[float]]] = {}
    for record in records:
        step = record.get("step")
        if not _is_number(step):
            continue
        for name, value in record.items():
            if name != "step" and _is_number(value) and math.isfinite(value):
                steps, values = series.setdefault(name, ([], []))
                steps.append(float(step))
                values.append(float(value))
    return series


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
