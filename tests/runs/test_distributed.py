"""Data-parallel training (:mod:`ebkit.runs.distributed`) end to end, in small jobs:
``ebkit train --nproc N`` and ``torchrun`` launchers in subprocesses, one thread per
rank, free ports, and timeouts so that a bug fails a test instead of hanging CI."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import torch

JOB_TIMEOUT = 300
"""Seconds a whole job may take on a busy 2-core machine before the test fails."""


def job_environment() -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in _TORCHRUN_VARIABLES}
    env.update(OMP_NUM_THREADS="1", EBKIT_COLLECTIVE_TIMEOUT="60", PYTHONUNBUFFERED="1")
    return env


_TORCHRUN_VARIABLES = {"RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"}


def ebkit_job(args: Sequence[str], *, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run ``python -m ebkit ARGS`` to the end."""
    result = subprocess.run(
        [sys.executable, "-m", "ebkit", *args],
        env=job_environment(),
        capture_output=True,
        text=True,
        timeout=JOB_TIMEOUT,
    )
    if check:
        assert result.returncode == 0, result.stderr[-3000:]
    return result


def start_job(command: Sequence[str], log: Path) -> subprocess.Popen[bytes]:
    """Start ``command`` (a launcher) in its own session, its output in ``log``."""
    with log.open("wb") as handle:
        return subprocess.Popen(
            list(command),
            env=job_environment(),
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def descendants(pid: int) -> list[int]:
    """The processes started by ``pid`` and by them (torchrun's workers run in sessions
    of their own, so killing the launcher's group does not reach them)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    found, pending = [], [pid]
    while pending:
        for child in children.get(pending.pop(), []):
            found.append(child)
            pending.append(child)
    return found


def kill_job_when(process: subprocess.Popen[bytes], ready: Path) -> None:
    """SIGKILL the launcher and every rank once ``ready`` exists (a crash mid-run)."""
    deadline = time.monotonic() + JOB_TIMEOUT
    while not ready.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert process.poll() is None, "the job ended before it could be killed"
    for pid in [*descendants(process.pid), process.pid]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    process.wait(timeout=30)


def wait(process: subprocess.Popen[bytes], log: Path) -> str:
    """Wait for ``process`` (failing the test after :data:`JOB_TIMEOUT`); its output."""
    try:
        process.wait(timeout=JOB_TIMEOUT)
    except subprocess.TimeoutExpired:
        for pid in [*descendants(process.pid), process.pid]:
            os.kill(pid, signal.SIGKILL)
        raise AssertionError(f"the job hung:\n{log.read_text()[-3000:]}") from None
    return log.read_text()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def metrics(run: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def checkpoint(run: Path, step: int, rank: int = 0) -> dict[str, Any]:
    from safetensors.torch import load_file

    part = "" if rank == 0 else f".rank-{rank}"
    return load_file(str(run / "checkpoints" / f"step-{step:07d}{part}.safetensors"))


# -- the tests -------------------------------------------------------------------------

DATA_ONLY = ["--energy", "mlp", "--sampler", "none", "--loss", "none", "--data", "digits"]
REPLAY = [
    "--energy", "mlp", "--sampler", "replay", "--loss", "cd", "--data", "rings",
    "-o", "energy.width=16", "-o", "sampler.capacity=64", "-o", "sampler.steps=3",
]  # fmt: skip
BEGAN = [
    "--energy", "autoencoder", "--sampler", "generator", "--loss", "began", "--data", "digits",
    "-o", "energy.arch=began", "-o", "energy.filters=2", "-o", "energy.embedding=4",
    "-o", "sampler.arch=began", "-o", "sampler.filters=2", "-o", "sampler.latent_dim=4",
    "-o", "loss.lambda_k=0.5", "-o", "loss.gamma=0.5", "-o", "loss.k0=0",  # k_t moves from 0
]  # fmt: skip
EVERY_4 = [
    "--quiet", "-o", "train.log_every=4", "-o", "train.checkpoint_every=4",
    "-o", "train.keep_checkpoints=0", "-o", "train.sample_every=0", "-o", "train.sample_count=4",
]  # fmt: skip


def test_two_ranks_at_half_the_batch_train_the_weights_one_rank_trains_at_the_whole(
    tmp_path: Path,
) -> None:
    """Gradients averaged over two ranks of B/2 are the gradient of the global batch B,
    and the ranks' slices of it are the batch one process draws."""
    import ebkit
    from ebkit.runs.config import resolve_config
    from ebkit.runs.training import train_run

    common = [*DATA_ONLY, "--steps", "6", "--quiet", "-o", "train.log_every=3"]
    two = start_job(
        [sys.executable, "-m", "ebkit", "train", "--nproc", "2", *common,
         "--batch-size", "8", "--out", str(tmp_path / "two")],
        tmp_path / "two.log",
    )  # fmt: skip
    names = {"energy": "mlp", "sampler": "none", "loss": "none", "data": "digits"}
    config = resolve_config(
        ebkit.get_plugin_manager(), names=names, regularizers=(), data_path=None, toml=None,
        train={"steps": 6, "batch_size": 16, "log_every": 3}, overrides=(), loggers=(),
    )  # fmt: skip
    train_run(config, tmp_path / "one", progress=False)
    output = wait(two, tmp_path / "two.log")
    assert two.returncode == 0, output[-3000:]
    assert "batch 8 per rank, global batch 16" in output
    saved = json.loads((tmp_path / "two" / "config.json").read_text())
    assert saved["distributed"]["global_batch_size"] == 16
    one, both = checkpoint(tmp_path / "one", 6), checkpoint(tmp_path / "two", 6)
    weights = [key for key in one if key.startswith(("energy.", "optimizer."))]
    assert weights and set(weights) <= set(both)
    for key in weights:
        torch.testing.assert_close(both[key], one[key], rtol=1e-5, atol=1e-6, msg=key)
    # The logged losses are the ranks' mean: the loss of the global batch.
    for logged, alone in zip(metrics(tmp_path / "two"), metrics(tmp_path / "one"), strict=True):
        assert logged["loss_energy"] == pytest.approx(alone["loss_energy"], rel=1e-5)


@pytest.mark.parametrize(
    "model",
    [
        "replay",
        pytest.param("began", marks=pytest.mark.integration("ebkit-losses", "ebkit-autoencoder")),
    ],
)
def test_a_killed_two_rank_run_resumes_as_if_never_interrupted(model: str, tmp_path: Path) -> None:
    options = {"replay": [*REPLAY, "--batch-size", "8"], "began": [*BEGAN, "--batch-size", "4"]}
    command = ["train", "--nproc", "2", *options[model], "--steps", "12", *EVERY_4]
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    ebkit_job([*command, "--out", str(straight)])
    resumable = [*command, "--resume", "auto", "--out", str(killed)]
    process = start_job([sys.executable, "-m", "ebkit", *resumable], tmp_path / "killed.log")
    kill_job_when(process, killed / "checkpoints" / "step-0000004.json")
    ebkit_job(resumable)  # the same command continues the run

    assert metrics(killed) == metrics(straight)
    for step in (4, 8, 12):
        for rank in (0, 1):
            resumed, uninterrupted = (
                checkpoint(killed, step, rank),
                checkpoint(straight, step, rank),
            )
            assert resumed.keys() == uninterrupted.keys()
            for key in resumed:
                assert torch.equal(resumed[key], uninterrupted[key]), (step, rank, key)
    if model == "began":  # every rank steers the same k_t, at every logged step
        for step in (4, 8, 12):
            assert torch.equal(
                checkpoint(straight, step)["loss.k"], checkpoint(straight, step, 1)["loss.k"]
            )
        assert len({record["k"] for record in metrics(straight)}) > 1
    else:  # each rank keeps its own replay chains
        assert not torch.equal(
            checkpoint(straight, 12)["sampler.buffer"],
            checkpoint(straight, 12, 1)["sampler.buffer"],
        )
    # Another world size is refused in one line, before anything changes.
    result = ebkit_job(["train", "--nproc", "3", "--resume", "--out", str(killed)], check=False)
    assert (result.returncode, result.stderr.strip().splitlines()) == (
        2,
        [f"Error: {killed} was trained by 2 process(es); resume it with the same number "
         "(--nproc 2), not 3"],
    )  # fmt: skip
    result = ebkit_job(["train", "--resume", "--out", str(killed), "--steps", "16"], check=False)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"Error: {killed} was trained by 2 process(es); resume it with the same number "
        "(--nproc 2), not 1"
    ]


def test_two_launchers_on_one_machine_train_as_two_nodes_with_batchnorm(tmp_path: Path) -> None:
    """Two ``torchrun --nnodes 2`` launchers meet at a c10d rendezvous on 127.0.0.1. The
    energy has BatchNorm and meets data and samples in two calls before one backward."""
    port, run = free_port(), tmp_path / "run"
    train = [
        "train", "--energy", "conv", "-o", "energy.arch=deck", "--sampler", "generator",
        "--loss", "gan", "--data", "digits", "--steps", "4", "--batch-size", "4", "--out", str(run),
        "--quiet", "-o", "train.sample_every=0", "-o", "train.sample_count=4",
    ]  # fmt: skip
    launchers = [
        start_job(
            [
                sys.executable,
                "-m",
                "torch.distributed.run",
                "--nnodes",
                "2",
                "--nproc-per-node",
                "1",
                "--rdzv-backend",
                "c10d",
                "--rdzv-endpoint",
                f"127.0.0.1:{port}",
                "--rdzv-id",
                "two-nodes",
                "-m",
                "ebkit",
                *train,
            ],
            tmp_path / f"node{node}.log",
        )
        for node in range(2)
    ]
    outputs = [
        wait(launcher, tmp_path / f"node{node}.log") for node, launcher in enumerate(launchers)
    ]
    assert [launcher.returncode for launcher in launchers] == [0, 0], outputs
    shared, other = checkpoint(run, 4), checkpoint(run, 4, 1)
    statistics = [key for key in other if "running_" in key]
    assert any(key.startswith("energy.") for key in statistics)
    for key in statistics:  # the ranks' running statistics, averaged after each step
        assert torch.equal(shared[key], other[key]), key
    assert [record["step"] for record in metrics(run)] == [4]


FAILING_RANK = """
import sys
import torch
import torch.distributed as dist
from ebkit import Callback, get_plugin_manager
from ebkit.runs.config import resolve_config
from ebkit.runs.training import train_run

class BreakRankOne(Callback):
    def on_step_end(self, trainer, metrics):
        if trainer.step == 3 and dist.get_rank() == 1:
            if sys.argv[2] == "nan":  # rank 1 alone notes a non-finite loss
                trainer._non_finite.record(torch.tensor(float("nan")), "energy loss", 3)
            else:
                raise RuntimeError("rank 1 broke at step 3")

names = {"energy": "mlp", "sampler": "replay", "loss": "cd", "data": "rings"}
config = resolve_config(
    get_plugin_manager(), names=names, regularizers=(), data_path=None, toml=None,
    train={"steps": 100000, "batch_size": 8, "log_every": 4}, overrides=(), loggers=(),
)
train_run(config, sys.argv[1], progress=False, extra_callbacks=(BreakRankOne(),))
"""


@pytest.mark.parametrize("failure", ["exception", "nan"])
def test_a_failing_rank_stops_the_job_with_its_message(failure: str, tmp_path: Path) -> None:
    script = tmp_path / "fail.py"
    script.write_text(FAILING_RANK)
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
        "--monitor-interval", "0.2", str(script), str(tmp_path / "run"), failure,
    ]  # fmt: skip
    process = start_job(command, tmp_path / "job.log")
    output = wait(process, tmp_path / "job.log")
    assert process.returncode != 0
    if failure == "exception":
        assert "rank 1 broke at step 3" in output
    else:  # both ranks stop at the next logged step, each saying why
        assert "the energy loss became nan at step 3" in output  # rank 1's own
        assert "step 4: another rank's loss went NaN or infinite" in output


def test_sigterm_to_the_launcher_saves_one_checkpoint_of_every_rank(tmp_path: Path) -> None:
    run = tmp_path / "run"
    command = [
        sys.executable, "-m", "ebkit", "train", "--nproc", "2", *REPLAY, "--batch-size", "8",
        "--steps", "100000", "--quiet", "-o", "train.log_every=2", "-o", "train.checkpoint_every=0",
        "--out", str(run),
    ]  # fmt: skip
    process = start_job(command, tmp_path / "job.log")
    deadline = time.monotonic() + JOB_TIMEOUT
    while not (run / "metrics.jsonl").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)  # the launcher alone; it passes it to the ranks
    output = wait(process, tmp_path / "job.log")
    assert process.returncode == 143, output[-3000:]
    sidecars = sorted((run / "checkpoints").glob("step-*.json"))
    assert len(sidecars) == 2 and sidecars[1].name.endswith(".rank-1.json"), sidecars
    step = int(sidecars[0].stem.split("-")[1])
    assert f"stopped at step {step}; checkpoint saved" in output
