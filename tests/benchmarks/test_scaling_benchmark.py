"""Smoke test of ``benchmarks/scaling.py``: one tiny round of 1 and 2 CPU ranks on the
real MNIST test set must print the table and the verdict; bad options exit 2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
SCRIPT = REPO_ROOT / "benchmarks" / "scaling.py"
SHARED_MNIST = REPO_ROOT.parent / "shared" / "data" / "mnist"


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if key not in ("RANK", "WORLD_SIZE")}
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**env, "OMP_NUM_THREADS": "1"},
    )


def test_bad_options_exit_2_in_one_line(tmp_path: Path) -> None:
    result = _run("--data-path", str(tmp_path / "missing"))
    assert result.returncode == 2
    assert result.stderr.strip() == f"error: --data-path {tmp_path / 'missing'} is not a folder"
    assert _run("--data-path", str(tmp_path), "--ranks", "1").returncode == 2


@pytest.mark.skipif(
    not (SHARED_MNIST / "t10k-images-idx3-ubyte.gz").is_file(),
    reason=f"the real MNIST test set is not at {SHARED_MNIST}",
)
@pytest.mark.integration("ebkit-autoencoder", "ebkit-losses")
def test_a_tiny_round_prints_the_table_and_the_verdict() -> None:
    tiny = ("--rounds", "1", "--steps", "1", "--warmup", "0", "--batch-size", "2")
    result = _run("--data-path", str(SHARED_MNIST), *tiny)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.splitlines()
    assert any(line.split()[:1] == ["2"] and len(line.split()) == 3 for line in lines)
    assert lines[-1].startswith("verdict: 2-rank efficiency ")
