"""Several workers on one study: ``--jobs 2``, two ``ebkit sweep`` processes started at
once, and one of two workers killed mid-trial. Every grid point completes exactly once
and every trial is an ordinary run directory."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

pytest.importorskip("optuna")

TWELVE_POINTS = """
[grid]
"energy.width" = [4, 8, 16]
"train.energy_lr" = [1e-3, 2e-3]
"train.seed" = [0, 1]
"""
SIX_POINTS = (
    '[grid]\n"energy.width" = [4, 8]\n"train.energy_lr" = [1e-3]\n"train.seed" = [0, 1, 2]\n'
)

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "EBKIT_DEBUG": "1"}


def ebkit(*args: str, cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "ebkit", *args],
        cwd=cwd,
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def finish(process: subprocess.Popen[str], timeout: float = 240) -> str:
    output, _ = process.communicate(timeout=timeout)
    assert process.returncode == 0, output
    return output


def trials_csv(sweep_dir: Path) -> list[dict[str, str]]:
    """The rows of the report's CSV (made here: a process less to start)."""
    import csv
    import io

    from ebkit.sweeps.report import load_sweep, table_csv

    return list(csv.DictReader(io.StringIO(table_csv(load_sweep(sweep_dir)))))


def assert_every_point_once(sweep_dir: Path, points: int) -> list[dict[str, str]]:
    rows = trials_csv(sweep_dir)
    complete = [row for row in rows if row["state"] == "complete"]
    keys = [(row["energy.width"], row["train.energy_lr"], row["train.seed"]) for row in complete]
    assert len(complete) == points and len(set(keys)) == points
    for row in complete:
        run = sweep_dir / row["run_dir"]
        config = json.loads((run / "config.json").read_text())
        assert config["energy"]["options"]["width"] == int(row["energy.width"])
        assert list((run / "checkpoints").glob("step-*.safetensors"))
        # [sweep] pictures = false: no sample pictures, no curves.
        assert not (run / "curves.png").exists() and not (run / "samples").exists()
    return rows


@pytest.mark.slow
def test_a_twelve_point_grid_with_two_jobs_runs_each_point_once(
    write_spec: Callable[..., Path], tmp_path: Path
) -> None:
    spec = write_spec(TWELVE_POINTS)
    output = finish(ebkit("sweep", str(spec), "--jobs", "2", "--out", "grid", cwd=tmp_path))
    assert "12 complete" in output
    rows = assert_every_point_once(tmp_path / "grid", 12)
    assert len(rows) == 12


@pytest.mark.slow
def test_two_processes_on_one_storage_share_the_grid(
    write_spec: Callable[..., Path], tmp_path: Path
) -> None:
    spec = write_spec(TWELVE_POINTS)
    first, second = (ebkit("sweep", str(spec), "--out", "grid", cwd=tmp_path) for _ in range(2))
    outputs = [finish(first), finish(second)]
    rows = assert_every_point_once(tmp_path / "grid", 12)
    assert len(rows) == 12
    # Which process ran how many points is up to timing (on an idle machine the first
    # may run all twelve tiny trials before the second has started): both end the
    # sweep complete, and no point ran twice.
    assert all("12 complete" in output for output in outputs), outputs


def _holder_of_a_running_trial(sweep_dir: Path) -> int | None:
    for lock in sweep_dir.glob("trials/*/.ebkit.lock"):
        try:
            return int(json.loads(lock.read_text())["pid"])
        except (ValueError, KeyError, OSError):
            continue
    return None


@pytest.mark.slow
def test_a_worker_killed_mid_trial_leaves_it_lost_and_retried(
    write_spec: Callable[..., Path], tmp_path: Path
) -> None:
    spec = write_spec(SIX_POINTS, steps=150)
    survivor = ebkit("sweep", str(spec), "--out", "grid", cwd=tmp_path)
    victim = ebkit("sweep", str(spec), "--out", "grid", cwd=tmp_path)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if _holder_of_a_running_trial(tmp_path / "grid") == victim.pid:
            break
        time.sleep(0.02)
    assert victim.poll() is None, "the victim finished before it was caught mid-trial"
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait()
    output = finish(survivor)
    assert "6 complete, 1 fail" in output
    rows = assert_every_point_once(tmp_path / "grid", 6)
    (lost,) = [row for row in rows if row["state"] == "lost"]
    assert f":{victim.pid} " in lost["note"] and "retried as trial" in lost["note"]
    retry = int(lost["note"].rsplit(" ", 1)[1])
    (retried,) = [row for row in rows if row["trial"] == str(retry)]
    assert retried["state"] == "complete"
    # The retry resumes the lost run if it had written its config, else starts its own.
    lost_dir = tmp_path / "grid" / lost["run_dir"]
    expected = lost["run_dir"] if (lost_dir / "config.json").is_file() else f"trials/{retry:04d}"
    assert retried["run_dir"] == expected
