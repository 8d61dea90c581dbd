"""``ebkit evaluate --metrics standard``: the whole path on a tiny image run with generated
Inception weights (the real ones cannot be downloaded here), and its one-line errors."""

from __future__ import annotations

import hashlib
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import ebkit
from ebkit.core.errors import UsageError
from ebkit.evaluation.evaluate import evaluate_run

TINY = {
    "energy.width": 16,
    "sampler.width": 16,
    "sampler.latent_dim": 4,
    "train.sample_every": 0,
    "train.checkpoint_every": 0,
}


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("digits") / "run"
    ebkit.train(
        energy="mlp", sampler="generator", loss="gan", data="digits", steps=2, options=TINY, out=out
    )
    return out


def run_cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ebkit", *args],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "OMP_NUM_THREADS": "1", **env},
    )


def test_standard_metrics_run_end_to_end_on_generated_weights(
    digits_run: Path, inception_weights: Path
) -> None:
    run = ebkit.load_run(digits_run)
    results = evaluate_run(run, n=4, metrics="standard", inception_weights=str(inception_weights))
    values = results["sets"]["samples"]
    for key in ("standard_fid", "standard_kid", "standard_kid_std", "standard_is"):
        assert math.isfinite(values[key]), key
    assert values["standard_fid"] > 0 and values["standard_is"] >= 1.0
    assert "frechet_distance" not in values  # the offline classifier was not asked for
    provenance = results["standard_metrics"]
    digest = hashlib.sha256(inception_weights.read_bytes()).hexdigest()
    assert provenance["weights_sha256"] == digest
    assert provenance["published_weights"] is False  # random weights, not the real file
    assert provenance["library"].startswith("torchmetrics ")
    assert provenance["num_real"] == 4 and provenance["kid_subset_size"] == 4
    assert provenance["is_splits"] == 2
    json.dumps(results)  # JSON-ready


def test_standard_metrics_refuse_data_that_are_not_images(tmp_path: Path) -> None:
    out = tmp_path / "ring"
    ebkit.train(
        energy="mlp",
        sampler="generator",
        loss="gan",
        steps=1,
        options=TINY,
        out=out,
        data="8gaussians",
    )
    with pytest.raises(UsageError, match=r"grey or RGB images.*shape \(2,\)"):
        evaluate_run(ebkit.load_run(out), n=4, metrics="standard")


def test_weights_without_the_standard_metrics_are_refused(digits_run: Path) -> None:
    with pytest.raises(UsageError, match="--inception-weights is used with --metrics standard"):
        evaluate_run(ebkit.load_run(digits_run), n=4, inception_weights="w.pth")
    with pytest.raises(UsageError, match="--metrics best: choose one of offline, standard, all"):
        evaluate_run(ebkit.load_run(digits_run), n=4, metrics="best")


def test_the_cli_says_in_one_line_where_missing_weights_go(
    digits_run: Path, tmp_path: Path
) -> None:
    result = run_cli("evaluate", str(digits_run), "--metrics", "standard", TORCH_HOME=str(tmp_path))
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "pt_inception-2015-12-05-6726825d.pth" in lines[0]
    assert str(tmp_path / "hub" / "checkpoints") in lines[0]
    assert not (digits_run / "eval.json").exists()


def test_the_cli_names_a_file_that_is_not_the_inception(
    digits_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from ebkit.cli.main import main

    other = tmp_path / "other.pth"
    torch.save({"fc.weight": torch.zeros(3)}, other)
    with pytest.raises(SystemExit) as exited:
        main(["evaluate", str(digits_run), "--metrics", "all", "--inception-weights", str(other)])
    assert exited.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "not the FID Inception-v3 weights" in lines[0], lines


class _CountingNetwork(torch.nn.Module):
    """Stands in for the Inception: features from the pixels, and a count of images seen."""

    def __init__(self) -> None:
        super().__init__()
        self.seen = 0

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        assert images.dtype == torch.uint8 and images.shape[1] == 3
        self.seen += len(images)
        flat = images.flatten(1).double()
        return flat[:, :6], flat[:, 6:11]


def test_the_real_features_are_computed_once_for_every_sample_set(tmp_path: Path) -> None:
    from ebkit.core.interfaces import DataSpec
    from ebkit.evaluation.standard import StandardBackend, standard_set_metrics

    network = _CountingNetwork()
    backend = StandardBackend(
        network, tmp_path / "w.pth", "6726825d" + "0" * 56, "torchmetrics x", DataSpec((1, 4, 4))
    )
    generator = torch.Generator().manual_seed(0)
    real, fake, raw = (torch.rand(6, 1, 4, 4, generator=generator) * 2 - 1 for _ in range(3))
    first = standard_set_metrics(backend, real, fake, seed=0)
    second = standard_set_metrics(backend, real, raw, seed=0)
    assert network.seen == 18  # 6 real images once, and 6 of each sample set
    assert set(first) == {
        "standard_fid",
        "standard_kid",
        "standard_kid_std",
        "standard_is",
        "standard_is_std",
    }
    assert first["standard_fid"] != second["standard_fid"]
    assert backend.provenance() == {
        "weights": str(tmp_path / "w.pth"),
        "weights_sha256": "6726825d" + "0" * 56,
        "published_weights": True,
        "library": "torchmetrics x",
        "num_real": 6,
        "kid_subset_size": 6,
        "is_splits": 3,
    }


def test_the_table_says_which_weights_made_the_standard_numbers(capsys) -> None:
    from ebkit.cli.inspect import _print_evaluation

    results = {
        "run": "runs/x",
        "step": 3,
        "energy": "mlp",
        "sampler": "generator",
        "loss": "gan",
        "data": "digits",
        "num_samples": 4,
        "data_energy": 0.5,
        "sets": {"samples": {"energy": 0.1, "standard_fid": 12.25}},
        "standard_metrics": {
            "weights": "/w/pt_inception.pth",
            "published_weights": False,
            "library": "torchmetrics 1.9.0",
            "num_real": 4,
        },
    }
    _print_evaluation(results)
    out = " ".join(capsys.readouterr().out.split())  # rich wraps long lines
    assert "standard_fid" in out and "12.25" in out
    assert "torchmetrics 1.9.0, Inception weights /w/pt_inception.pth (not published)" in out
