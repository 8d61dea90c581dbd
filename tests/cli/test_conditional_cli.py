"""Tests for conditional runs from the command line (``--conditional``), with the
installed components: class grids, sampling and evaluating by class, refusals."""

from __future__ import annotations

import json
import math

import pytest
import torch
from cli_runs import error_lines


@pytest.fixture
def conditional_run(installed_cli, tmp_path):
    out = tmp_path / "cond"
    result = installed_cli(
        *("train", "--conditional", "--energy", "mlp", "--sampler", "generator"),
        *("--loss", "gan", "--steps", "4", "--batch-size", "20", "--quiet"),
        *("-o", "energy.width=16", "-o", "sampler.width=16", "-o", "sampler.latent_dim=4"),
        *("-o", "train.sample_count=20", "--out", str(out)),
    )
    assert result.exit_code == 0, result.output
    return out


def test_cli_conditional_run_writes_a_class_grid(conditional_run):
    from PIL import Image

    config = json.loads((conditional_run / "config.json").read_text())
    assert config["train"]["conditional"] is True
    # 10 classes of 2 samples: 10 rows of 2 tiles of 8×8 pixels enlarged 4×, 2-px gaps
    with Image.open(conditional_run / "samples" / "final.png") as picture:
        assert picture.size == (2 * 32 + 3 * 2, 10 * 32 + 11 * 2)


def test_cli_sample_by_class(installed_cli, conditional_run, tmp_path):
    import numpy as np

    target = tmp_path / "threes.npz"
    result = installed_cli(
        "sample", str(conditional_run), "--class", "3", "--n", "5", "--out", str(target)
    )
    assert result.exit_code == 0, result.output
    assert np.load(target)["samples"].shape == (5, 1, 8, 8)
    grid = tmp_path / "grid.png"
    assert (
        installed_cli("sample", str(conditional_run), "--n", "30", "--out", str(grid)).exit_code
        == 0
    )
    from PIL import Image

    with Image.open(grid) as picture:  # ⌈30 / 10⌉ = 3 per row, one row per class
        assert picture.size == (3 * 32 + 4 * 2, 10 * 32 + 11 * 2)
    bad = installed_cli("sample", str(conditional_run), "--class", "10")
    assert bad.exit_code == 2
    assert error_lines(bad.stderr) == ["Error: class 10 is not one of the run's 10 classes (0–9)"]


def test_cli_evaluate_reports_a_class_match_share(
    installed_cli, conditional_run, monkeypatch, tmp_path
):
    monkeypatch.setenv("EBKIT_CACHE_DIR", str(tmp_path / "cache"))
    result = installed_cli("evaluate", str(conditional_run), "--json", "--n", "100")
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.stdout)["sets"]["samples"]
    assert 0.0 <= metrics["class_match_share"] <= 1.0
    assert math.isfinite(metrics["energy"])


def test_cli_refuses_sample_by_class_on_an_unconditional_run(installed_cli, tmp_path):
    out = tmp_path / "plain"
    trained = installed_cli(
        *("train", "--energy", "mlp", "--sampler", "generator", "--loss", "gan"),
        *("--steps", "2", "--batch-size", "8", "--quiet", "--out", str(out)),
    )
    assert trained.exit_code == 0, trained.output
    result = installed_cli("sample", str(out), "--class", "1")
    assert result.exit_code == 2
    assert len(error_lines(result.stderr)) == 1
    assert "was not trained with --conditional" in result.stderr


def test_cli_conditional_needs_labelled_data(installed_cli, tmp_path):
    result = installed_cli(
        *("train", "--conditional", "--energy", "mlp", "--sampler", "generator", "--loss"),
        *("gan", "--data", "moons", "--steps", "2", "--out", str(tmp_path / "x")),
    )
    assert result.exit_code == 2
    lines = error_lines(result.stderr)
    assert len(lines) == 1 and lines[0].startswith("Error: --conditional needs a dataset")
    assert not (tmp_path / "x").exists()


def test_conditional_run_on_points_draws_its_landscape(installed_cli, tmp_path):
    import numpy as np

    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, size=300)
    x = rng.normal(size=(300, 2)) * 0.1 + np.array([[-2, 0], [0, 2], [2, 0]])[y]
    np.savez(tmp_path / "points.npz", x=x.astype(np.float32), y=y)
    out = tmp_path / "run"
    result = installed_cli(
        *("train", "--conditional", "--energy", "mlp", "--sampler", "generator", "--loss"),
        *("gan", "--data", "npz", "--data-path", str(tmp_path / "points.npz"), "--quiet"),
        *("--steps", "3", "--batch-size", "16", "--out", str(out)),
    )
    assert result.exit_code == 0, result.output
    assert (out / "samples" / "landscape.png").is_file()
    assert (out / "samples" / "final.png").is_file()


def test_cli_score_of_a_conditional_run_uses_the_best_class(
    installed_cli, conditional_run, tmp_path
):
    import csv

    target = tmp_path / "energies.csv"
    result = installed_cli("score", str(conditional_run), "digits", "--out", str(target))
    assert result.exit_code == 0, result.output
    with target.open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 1797
    from ebkit.builtins.datasets.digits import Digits
    from ebkit.runs.saved import SavedRun

    run = SavedRun.open(conditional_run)
    digits = Digits()
    expected = run.energies(digits.x[:5])
    per_class = torch.stack([run.energies(digits.x[:5], torch.full((5,), k)) for k in range(10)])
    torch.testing.assert_close(expected, per_class.amin(0))
    written = torch.tensor([float(row["energy"]) for row in rows[:5]])
    torch.testing.assert_close(written, expected, atol=1e-4, rtol=1e-5)
