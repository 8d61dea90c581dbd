"""Smoke test of ``benchmarks/data.py``'s throughput half: one tiny round with no
workers prints every row of its table; a bad worker list exits 2 in one line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "data.py"


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )


def test_bad_worker_list_exits_2_in_one_line() -> None:
    result = _run("--workers", "0,-1")
    assert result.returncode == 2
    assert (
        result.stderr.strip()
        .splitlines()[-1]
        .endswith("'0,-1': give counts >= 0 separated by commas, e.g. 0,2,4")
    )


@pytest.mark.slow
def test_one_tiny_round_prints_both_bare_loops_and_each_source() -> None:
    result = _run(
        "--skip-memory", "--rounds", "1", "--images", "40", "--batches", "2",
        "--batch-size", "8", "--per-shard", "10", "--side", "24", "--size", "16",
        "--workers", "0",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    table = [line for line in result.stdout.splitlines() if line.startswith("| ")]
    rows = table[2:]  # after the header and its separator
    names = [row.split(" | ")[0].removeprefix("| ") for row in rows]
    assert names == [
        "bare Pillow loop",
        "bare tarfile + Pillow loop",
        "folder, 0 workers",
        "shards, 0 workers",
    ]
    for row in rows:
        assert float(row.split(" | ")[2]) > 0  # a ratio to the bare loop was measured
