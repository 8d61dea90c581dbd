"""The report's pictures: histograms of several sweeps share their bins, with one panel
per sweep, and one panel per parameter."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from ebkit.sweeps.figures import objective_by_parameter, objective_histograms, shared_bins
from ebkit.sweeps.report import SweepTable, TrialRow


def table(name: str, values: list[float | None]) -> SweepTable:
    rows = [
        TrialRow(
            index,
            "complete" if value is not None else "failed",
            {"p": index % 3},
            value,
            1.0,
            "",
            f"trials/{index:04d}",
        )
        for index, value in enumerate(values)
    ]
    return SweepTable(Path(name), name, "score", "maximize", ["p"], rows)


def test_shared_bins_span_every_group() -> None:
    edges = shared_bins([[0.0, 1.0], [4.0]], 4)
    assert edges == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert shared_bins([[2.0]], 2) == [1.5, 2.0, 2.5]  # one value: one bin around it
    assert shared_bins([[], []], 3) == [0.0, 1.0]


def test_one_histogram_panel_per_sweep_and_one_scatter_per_parameter(tmp_path: Path) -> None:
    sweeps = [table("a", [1.0, 2.0, None]), table("b", [3.0, 3.5]), table("c", [])]
    path = objective_histograms(sweeps, tmp_path / "h.png", bins=5)
    width, height = Image.open(path).size
    assert (width, height) == (1200, 320)  # three panels of 4 × 3.2 inches at 100 dpi
    by_parameter = objective_by_parameter(sweeps[0], tmp_path / "p.png")
    assert Image.open(by_parameter).size == (360, 320)  # one parameter, one panel
    assert np.asarray(Image.open(path)).std() > 0
