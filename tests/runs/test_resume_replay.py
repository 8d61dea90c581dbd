"""Replay buffer contents survive a kill-and-resume exactly: a CD-trained MLP energy with
the replay sampler, killed after a checkpoint and resumed, ends bit-identical (buffer,
weights, optimiser and RNG states, metrics) to a run that was never stopped."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file

STEPS = 40
TRAIN = [
    "train",
    "--energy", "mlp",
    "--sampler", "replay",
    "--loss", "cd",
    "--data", "8gaussians",
    "--steps", str(STEPS),
    "--batch-size", "16",
    "--quiet",
    "-o", "energy.width=16",
    "-o", "sampler.capacity=64",
    "-o", "sampler.steps=5",
    "-o", "train.checkpoint_every=10",
    "-o", "train.sample_every=1000",  # pictures cost time; eval-mode draws never write
]  # fmt: skip


def ebkit(*args: str) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [sys.executable, "-m", "ebkit", *args],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "OMP_NUM_THREADS": "1"},  # as kill_after_checkpoint's run
    )
    assert result.returncode == 0, result.stderr
    return result


def checkpoint(run: Path, step: int) -> dict[str, torch.Tensor]:
    return load_file(run / "checkpoints" / f"step-{step:07d}.safetensors")


def test_sigkill_then_resume_continues_the_replay_buffer_bit_identically(
    tmp_path: Path, kill_after_checkpoint
) -> None:
    uninterrupted, killed = tmp_path / "uninterrupted", tmp_path / "killed"
    ebkit(*TRAIN, "--out", str(uninterrupted))

    kill_after_checkpoint(TRAIN, killed, 20)
    assert not (killed / "checkpoints" / f"step-{STEPS:07d}.json").exists()

    resumed = ebkit("train", "--resume", "--out", str(killed))
    assert f"step {STEPS}" in resumed.stderr

    expected, actual = checkpoint(uninterrupted, STEPS), checkpoint(killed, STEPS)
    assert expected["sampler.buffer"].shape == (64, 2)
    # The chains moved: the buffer is not the uniform noise it was filled with.
    assert not torch.equal(
        expected["sampler.buffer"], checkpoint(uninterrupted, 10)["sampler.buffer"]
    )
    assert expected.keys() == actual.keys()
    differing = [key for key in expected if not torch.equal(expected[key], actual[key])]
    assert differing == []
    assert (uninterrupted / "metrics.jsonl").read_text() == (killed / "metrics.jsonl").read_text()
