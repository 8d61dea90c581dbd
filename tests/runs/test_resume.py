"""Kill-and-resume gives bit-identical results; `ebkit sample` reads a run back."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

TRAIN = [
    "train",
    "--energy",
    "mlp",
    "--sampler",
    "generator",
    "--loss",
    "gan",
    "--data",
    "digits",
    "--steps",
    "120",
    "--batch-size",
    "16",
    "--quiet",
    "-o",
    "energy.width=32",
    "-o",
    "sampler.width=32",
    "-o",
    "train.checkpoint_every=20",
    "-o",
    "train.sample_every=50",
]


def ebkit(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [sys.executable, "-m", "ebkit", *args],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "OMP_NUM_THREADS": "1"},  # as kill_after_checkpoint's run
    )
    if check:
        assert result.returncode == 0, result.stderr
    return result


def final_weights(run: Path) -> dict[str, torch.Tensor]:
    return load_file(run / "checkpoints" / "step-0000120.safetensors")


def test_sigkill_then_resume_is_bit_identical(tmp_path: Path, kill_after_checkpoint) -> None:
    uninterrupted, killed = tmp_path / "uninterrupted", tmp_path / "killed"
    ebkit(*TRAIN, "--out", str(uninterrupted))

    kill_after_checkpoint(TRAIN, killed, 60)
    assert not (killed / "checkpoints" / "step-0000120.json").exists()

    resumed = ebkit("train", "--resume", "--out", str(killed))
    assert "step 120" in resumed.stderr

    expected, actual = final_weights(uninterrupted), final_weights(killed)
    assert expected.keys() == actual.keys()
    differing = [key for key in expected if not torch.equal(expected[key], actual[key])]
    assert differing == []
    assert (uninterrupted / "metrics.jsonl").read_text() == (killed / "metrics.jsonl").read_text()
    assert not list((killed / "checkpoints").glob(".*.tmp"))


def test_resume_refuses_changes_and_missing_runs(finished_run: Path, tmp_path: Path) -> None:
    changed = ebkit("train", "--resume", "--out", str(finished_run), "--seed", "3", check=False)
    assert changed.returncode == 2
    assert "train.seed=3 differs (the run has 0)" in changed.stderr
    missing = ebkit("train", "--resume", "--out", str(tmp_path / "nothing"), check=False)
    assert missing.returncode == 2
    assert missing.stderr.count("\n") == 1 and "not an ebkit run directory" in missing.stderr


def test_resume_extends_a_finished_run(tmp_path: Path) -> None:
    run = tmp_path / "run"
    ebkit(*TRAIN, "--out", str(run), "--steps", "40")
    ebkit("train", "--resume", "--out", str(run), "--steps", "60")
    steps = [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert steps == sorted(steps) and steps[-1] == 60
    assert json.loads((run / "config.json").read_text())["train"]["steps"] == 60


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("sample") / "run"
    ebkit(*TRAIN, "--out", str(run), "--steps", "20")
    return run


def test_sample_writes_png_and_npz_without_data(finished_run: Path, tmp_path: Path) -> None:
    png, npz = tmp_path / "grid.png", tmp_path / "samples.npz"
    ebkit("sample", str(finished_run), "--n", "16", "--out", str(png))
    assert png.read_bytes().startswith(b"\x89PNG")
    ebkit("sample", str(finished_run), "--n", "1500", "--out", str(npz), "--seed", "4")
    samples = np.load(npz)["samples"]
    assert samples.shape == (1500, 1, 8, 8)
    assert samples.min() >= -1 and samples.max() <= 1
    again = tmp_path / "again.npz"
    ebkit("sample", str(finished_run), "--n", "1500", "--out", str(again), "--seed", "4")
    np.testing.assert_array_equal(np.load(again)["samples"], samples)


def test_sample_errors_are_one_line(finished_run: Path, tmp_path: Path) -> None:
    wrong_suffix = ebkit("sample", str(finished_run), "--out", str(tmp_path / "x.jpg"), check=False)
    assert wrong_suffix.returncode == 2 and ".png or .npz" in wrong_suffix.stderr
    bad_option = ebkit("sample", str(finished_run), "-o", "energy.width=3", check=False)
    assert bad_option.returncode == 2 and "only sampler options" in bad_option.stderr
    weights = sorted((finished_run / "checkpoints").glob("*.safetensors"))[-1]
    damaged = tmp_path / "damaged"
    damaged.mkdir()
    (damaged / "config.json").write_bytes((finished_run / "config.json").read_bytes())
    (damaged / "checkpoints").mkdir()
    (damaged / "checkpoints" / weights.name).write_bytes(weights.read_bytes()[:100])
    (damaged / "checkpoints" / weights.with_suffix(".json").name).write_bytes(
        weights.with_suffix(".json").read_bytes()
    )
    result = ebkit("sample", str(damaged), check=False)
    assert result.returncode == 1
    assert result.stderr.startswith("Error: checkpoint") and "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1
    for path in (finished_run / "checkpoints").iterdir():
        assert os.path.getsize(path) > 0
