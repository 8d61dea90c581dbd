"""A ``[search]``: Optuna's sampler proposes ``trials`` points within the ranges, each
trained and scored like a grid point; running the command again adds none."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from ebkit.cli.main import cli

pytest.importorskip("optuna")

SEARCH = """
[search]
"train.energy_lr" = { low = 1e-4, high = 1e-2, log = true }
"energy.width" = { low = 4, high = 16, step = 4 }
"""


def test_a_search_runs_its_trials_within_the_ranges(
    write_spec: Callable[..., Path], tmp_path: Path
) -> None:
    spec = write_spec(SEARCH, search_trials=3)
    out = str(tmp_path / "sweep")
    for _ in range(2):  # the second run finds the search done
        result = CliRunner().invoke(cli, ["sweep", str(spec), "--out", out])
        assert result.exit_code == 0, result.output
        assert "3 complete" in result.output
    from ebkit.sweeps.report import load_sweep

    rows = load_sweep(tmp_path / "sweep").rows
    assert len(rows) == 3 and all(row.state == "complete" for row in rows)
    for row in rows:
        assert 1e-4 <= row.params["train.energy_lr"] <= 1e-2
        assert row.params["energy.width"] in (4, 8, 12, 16)
        assert row.value is not None and math.isfinite(row.value)
    assert len({row.params["train.energy_lr"] for row in rows}) == 3
