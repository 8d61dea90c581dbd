"""Smoke test of ``benchmarks/semi_supervised.py``: a whole tiny run on the real MNIST
test set (one seed, a few steps) that must print every model's error, the verdict and
the paired difference."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
SCRIPT = REPO_ROOT / "benchmarks" / "semi_supervised.py"
SHARED_MNIST = REPO_ROOT.parent / "shared" / "data" / "mnist"
TINY = ("--steps", "4", "--seeds", "1", "--threads", "1")


@pytest.mark.skipif(
    not (SHARED_MNIST / "t10k-images-idx3-ubyte.gz").is_file(),
    reason=f"the real MNIST test set is not at {SHARED_MNIST}",
)
@pytest.mark.integration("ebkit-ladder", "ebkit-losses")
def test_a_tiny_run_prints_every_model_and_the_verdict():
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--data-path", str(SHARED_MNIST), *TINY],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    for model in ("mlp", "ladder", "ebgan-ln"):
        line = re.search(rf"^{model}\s+(\d+\.\d+) ± (\d+\.\d+)\s+\d+$", result.stdout, re.M)
        assert line is not None, result.stdout
        assert 0.0 <= float(line.group(1)) <= 100.0
    assert re.search(r"^EBGAN-LN vs Ladder: [+-]\d+\.\d% relative", result.stdout, re.M)
    paired = r"^EBGAN-LN - Ladder, paired over 1 seeds: [+-]\d+\.\d\d ± 0\.00 points"
    assert re.search(paired, result.stdout, re.M), result.stdout


def test_bad_options_are_refused():
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--data-path", "/nonexistent", "--steps", "4"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr.strip() == "error: --data-path /nonexistent is not a directory"
