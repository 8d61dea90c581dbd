"""Tests for ``ebkit evaluate`` and ``ebkit score`` on small runs of each sampler family."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import ebkit
from ebkit.core.errors import UsageError
from ebkit.evaluation.evaluate import evaluate_run, score_summary

SMALL = {"energy.width": 32, "sampler.width": 32, "sampler.latent_dim": 4}
QUIET = {"train.sample_every": 0, "train.checkpoint_every": 0}


@pytest.fixture(scope="module")
def ring_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ring") / "run"
    ebkit.train(
        energy="mlp",
        sampler="generator",
        loss="gan",
        data="8gaussians",
        steps=30,
        options={**SMALL, **QUIET},
        out=out,
    )
    return out


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ebkit", *args],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "OMP_NUM_THREADS": "1", **(env or {})},
    )


def test_a_mixture_run_gets_mode_coverage_and_distances(ring_run: Path) -> None:
    results = evaluate_run(ebkit.load_run(ring_run), n=300)
    metrics = results["sets"]["samples"]
    assert set(results["sets"]) == {"samples"}
    assert metrics["num_modes"] == 8 and 0 <= metrics["modes_covered"] <= 8
    assert 0.0 <= metrics["high_quality_share"] <= 1.0
    assert metrics["sliced_wasserstein"] > 0 and np.isfinite(metrics["mmd2"])
    assert np.isfinite(metrics["energy"]) and np.isfinite(results["data_energy"])
    assert results["step"] == 30 and results["num_samples"] == 300


def test_the_same_seed_gives_the_same_evaluation(ring_run: Path) -> None:
    run = ebkit.load_run(ring_run)
    first = evaluate_run(run, n=200, seed=4)
    assert evaluate_run(run, n=200, seed=4) == first
    assert evaluate_run(run, n=200, seed=5)["sets"] != first["sets"]


def test_evaluate_cli_prints_a_table_and_writes_eval_json(ring_run: Path) -> None:
    result = run_cli("evaluate", str(ring_run), "--n", "200")
    assert result.returncode == 0, result.stderr
    assert "modes_covered" in result.stdout and "sliced_wasserstein" in result.stdout
    saved = json.loads((ring_run / "eval.json").read_text())
    assert saved["sets"]["samples"]["num_modes"] == 8
    as_json = run_cli("evaluate", str(ring_run), "--n", "200", "--json")
    assert json.loads(as_json.stdout)["sets"] == saved["sets"]
    refused = run_cli("evaluate", str(ring_run), "--n", "200", "-o", "energy.width=8")
    assert refused.returncode == 2
    assert refused.stderr.strip().splitlines() == [
        "Error: -o 'energy.width=8': only sampler options can change when sampling"
    ]
    assert json.loads((ring_run / "eval.json").read_text()) == saved  # not rewritten


def test_generator_langevin_is_evaluated_raw_and_refined(tmp_path: Path) -> None:
    out = tmp_path / "hybrid"
    ebkit.train(
        energy="mlp",
        sampler="generator-langevin",
        loss="gan",
        data="25gaussians",
        steps=20,
        options={**SMALL, **QUIET},  # sampler.steps auto: 10 refinement steps on vectors
        out=out,
    )
    results = evaluate_run(ebkit.load_run(out), n=200)
    assert set(results["sets"]) == {"samples", "raw"}
    raw, refined = results["sets"]["raw"], results["sets"]["samples"]
    assert raw["num_modes"] == refined["num_modes"] == 25
    assert refined["energy"] != raw["energy"]  # the refinement moved the samples
    # Latent steps alone also refine: raw is then drawn with both kinds of steps at 0.
    latent_only = ebkit.load_run(out, sampler_options={"steps": 0, "latent_steps": 3})
    results = evaluate_run(latent_only, n=200)
    assert results["sets"]["raw"] == raw
    assert results["sets"]["samples"]["energy"] != raw["energy"]
    options = ["-o", "sampler.steps=0", "-o", "sampler.latent_steps=3"]
    printed = run_cli("evaluate", str(out), "--n", "200", "--json", *options)
    assert printed.returncode == 0, printed.stderr
    assert json.loads(printed.stdout)["sets"] == results["sets"]
    saved = json.loads((out / "eval.json").read_text())
    assert saved["sampler_overrides"] == ["sampler.steps=0", "sampler.latent_steps=3"]


def test_a_replay_run_is_evaluated(tmp_path: Path) -> None:
    out = tmp_path / "replay"
    ebkit.train(
        energy="mlp",
        sampler="replay",
        loss="cd",
        data="moons",
        steps=10,
        options={**QUIET, "energy.width": 16, "sampler.steps": 5, "sampler.capacity": 256},
        out=out,
    )
    results = evaluate_run(ebkit.load_run(out), n=100)
    assert set(results["sets"]) == {"samples"}
    assert "modes_covered" not in results["sets"]["samples"]  # moons are no mixture
    assert results["sets"]["samples"]["sliced_wasserstein"] >= 0


def test_an_image_run_gets_classifier_metrics(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("EBKIT_CACHE_DIR", str(tmp_path / "cache"))
    out = tmp_path / "digits"
    ebkit.train(
        energy="mlp",
        sampler="generator",
        loss="gan",
        steps=10,
        options={**SMALL, **QUIET},
        out=out,
    )
    results = evaluate_run(ebkit.load_run(out), n=200)
    metrics = results["sets"]["samples"]
    for key in ("frechet_distance", "kid", "inception_score", "ebgan_inception_score"):
        assert np.isfinite(metrics[key]), key
    assert 1.0 <= metrics["inception_score"] <= 10.0
    assert metrics["real_inception_score"] > metrics["inception_score"]  # untrained samples
    assert list((tmp_path / "cache").rglob("*.safetensors"))  # the classifier is cached
    assert "standard_fid" not in metrics and "standard_metrics" not in results  # opt-in


def test_evaluate_needs_at_least_two_samples(ring_run: Path) -> None:
    with pytest.raises(UsageError, match="at least 2 samples"):
        evaluate_run(ebkit.load_run(ring_run), n=1)


# -- score -------------------------------------------------------------------------------


def test_score_writes_energies_and_an_auroc(ring_run: Path, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    angles = rng.uniform(0, 2 * np.pi, 200)
    on_ring = np.stack([np.cos(angles), np.sin(angles)], axis=1).astype(np.float32)
    np.savez(tmp_path / "ring.npz", x=on_ring, y=np.zeros(200, np.int64))
    np.savez(tmp_path / "far.npz", x=rng.uniform(3.0, 4.0, (100, 2)).astype(np.float32))
    target = tmp_path / "energies.csv"
    result = run_cli(
        "score", str(ring_run), str(tmp_path / "ring.npz"), "--ood", str(tmp_path / "far.npz"),
        "--out", str(target),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(target.open()))
    assert len(rows) == 200 and set(rows[0]) == {"index", "energy", "label"}
    assert "AUROC" in result.stdout
    run = ebkit.load_run(ring_run)
    expected = run.energies(torch.from_numpy(on_ring))
    assert float(rows[7]["energy"]) == pytest.approx(float(expected[7]), rel=1e-6)


def test_score_to_npz_and_from_a_dataset_name(ring_run: Path, tmp_path: Path) -> None:
    target = tmp_path / "e.npz"
    result = run_cli("score", str(ring_run), "8gaussians", "--out", str(target))
    assert result.returncode == 0, result.stderr
    with np.load(target) as saved:
        assert saved["energy"].shape == (10000,)


def test_score_errors_are_one_line(ring_run: Path, tmp_path: Path) -> None:
    np.savez(tmp_path / "wide.npz", x=np.zeros((5, 3), np.float32))
    for args, expected in (
        (["nonsense-input"], "neither an .npz file, an image folder nor a dataset name"),
        ([str(tmp_path / "wide.npz")], "samples of shape (3,), but the run's energy takes (2,)"),
        (["8gaussians", "--out", str(tmp_path / "e.txt")], "must end in .csv or .npz"),
    ):
        result = run_cli("score", str(ring_run), *args)
        assert result.returncode == 2, args
        assert expected in result.stderr and result.stderr.count("\n") == 1, result.stderr


def test_score_summary_orients_the_auroc() -> None:
    summary = score_summary(torch.tensor([0.0, 1.0]), torch.tensor([2.0, 3.0]))
    assert summary["auroc"] == 1.0 and summary["mean"] == 0.5 and summary["ood_mean"] == 2.5
    assert "auroc" not in score_summary(torch.tensor([1.0, 2.0]), None)
