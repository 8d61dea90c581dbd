"""Runs that survive preemption: SIGTERM and SIGINT save the step, a run stopped before
its first checkpoint carries on, ``--resume`` takes the job script's whole command line
(``--resume auto`` starts new runs too), a lock keeps a second writer out, and every
input is checked before the run folder is created."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from ebkit.core.engine import Callback, Trainer
from ebkit.core.errors import TrainingInterrupted, TrainingTerminated
from ebkit.plugin.manager import PluginManager
from ebkit.runs.checkpoints import checkpoint_paths, complete_checkpoints
from ebkit.runs.config import RunConfig, resolve_config
from ebkit.runs.directory import LOCK_NAME, RunInUse, RunLock
from ebkit.runs.training import resume_run, train_run

STEPS = 30
TINY = [
    "energy.width=8",
    "sampler.width=8",
    "sampler.latent_dim=2",
    "train.batch_size=16",
    "train.log_every=5",
    "train.checkpoint_every=10",
    "train.sample_every=0",
    "train.sample_count=4",
]
CLI = [
    "train", "--energy", "mlp", "--sampler", "generator", "--loss", "gan",
    "--data", "25gaussians", "--batch-size", "16", "--quiet",
    *[item for option in TINY[:3] for item in ("-o", option)],
    "-o", "train.checkpoint_every=10", "-o", "train.sample_every=0",
]  # fmt: skip


@pytest.fixture(scope="module")
def plugins() -> PluginManager:
    return PluginManager(load_entry_points=False, environ={})


def tiny_config(plugins: PluginManager) -> RunConfig:
    return resolve_config(
        plugins,
        names={
            "energy": "mlp",
            "sampler": "generator",
            "loss": "gan",
            "data": "25gaussians",
        },
        train={"steps": STEPS},
        overrides=TINY,
    )


@pytest.fixture(scope="module")
def uninterrupted(plugins: PluginManager, tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("uninterrupted") / "run"
    train_run(tiny_config(plugins), run, manager=plugins, progress=False)
    return run


def final_weights(run: Path) -> dict[str, torch.Tensor]:
    return load_file(checkpoint_paths(run, STEPS)[0])


def assert_same_run(run: Path, reference: Path) -> None:
    expected, actual = final_weights(reference), final_weights(run)
    assert [key for key in expected if not torch.equal(expected[key], actual[key])] == []
    assert (run / "metrics.jsonl").read_text() == (reference / "metrics.jsonl").read_text()


class AtStep(Callback):
    """Calls ``action(trainer)`` at the end of step ``step``."""

    def __init__(self, step: int, action) -> None:
        self.step = step
        self.action = action

    def on_step_end(self, trainer: Trainer, metrics: dict) -> None:
        if trainer.step == self.step:
            self.action(trainer)


def send(*signals: int):
    def action(trainer: Trainer) -> None:
        for signum in signals:
            os.kill(os.getpid(), signum)

    return action


# -- signals -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("signum", "error", "status"),
    [(signal.SIGTERM, TrainingTerminated, 143), (signal.SIGINT, TrainingInterrupted, 130)],
)
def test_a_signal_saves_the_step_and_resuming_is_bit_identical(
    plugins, uninterrupted, tmp_path, signum, error, status
) -> None:
    run = tmp_path / "run"
    with pytest.raises(error) as caught:
        train_run(
            tiny_config(plugins), run, manager=plugins, progress=False,
            extra_callbacks=(AtStep(15, send(signum)),),
        )  # fmt: skip
    assert caught.value.exit_code == status
    assert "stopped at step 15" in str(caught.value) and "--resume" in str(caught.value)
    assert checkpoint_paths(run, 15)[1].is_file()
    assert not (run / LOCK_NAME).exists()
    resume_run(run, manager=plugins, progress=False)
    assert_same_run(run, uninterrupted)


def test_a_second_signal_stops_mid_step_and_saves_nothing(plugins, tmp_path) -> None:
    run = tmp_path / "run"
    with pytest.raises(TrainingInterrupted, match="nothing saved; the newest checkpoint is"):
        train_run(
            tiny_config(plugins), run, manager=plugins, progress=False,
            extra_callbacks=(AtStep(15, send(signal.SIGINT, signal.SIGINT)),),
        )  # fmt: skip
    assert [path.name for path in complete_checkpoints(run)] == ["step-0000010.safetensors"]


def test_sigterm_to_the_command_line_exits_143_after_saving(tmp_path: Path) -> None:
    """The real process: one small subprocess, SIGTERM once it has trained a while."""
    run = tmp_path / "run"
    process = subprocess.Popen(
        [sys.executable, "-m", "ebkit", *CLI, "--steps", "100000", "--out", str(run)],
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    metrics = run / "metrics.jsonl"
    while process.poll() is None and not (metrics.is_file() and metrics.stat().st_size > 200):
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 143, stderr
    (line,) = [line for line in stderr.splitlines() if line.strip()]
    assert line.startswith("Error: SIGTERM: stopped at step ") and "checkpoint saved" in line
    assert complete_checkpoints(run)


def test_a_keyboard_interrupt_from_other_code_saves_no_half_step(plugins, tmp_path) -> None:
    def interrupt(trainer: Trainer) -> None:
        raise KeyboardInterrupt  # not through the signal handler: perhaps mid-step

    run = tmp_path / "run"
    with pytest.raises(
        TrainingInterrupted, match="interrupted at step 15, perhaps mid-step: nothing saved"
    ):
        train_run(
            tiny_config(plugins), run, manager=plugins, progress=False,
            extra_callbacks=(AtStep(15, interrupt),),
        )  # fmt: skip
    assert [path.name for path in complete_checkpoints(run)] == ["step-0000010.safetensors"]


# -- a run stopped before its first checkpoint ----------------------------------------------------


def crash(trainer: Trainer) -> None:
    raise RuntimeError("the machine went away")


@pytest.fixture
def early_run(plugins, tmp_path) -> Path:
    run = tmp_path / "early"
    with pytest.raises(RuntimeError):
        train_run(
            tiny_config(plugins), run, manager=plugins, progress=False,
            extra_callbacks=(AtStep(7, crash),),
        )  # fmt: skip
    assert (run / "config.json").is_file() and not complete_checkpoints(run)
    return run


def test_a_run_stopped_before_its_first_checkpoint_resumes_from_step_0(
    plugins, uninterrupted, early_run, capsys
) -> None:
    resume_run(early_run, manager=plugins, progress=False)
    assert "no checkpoint yet: training it from step 0" in capsys.readouterr().err
    assert_same_run(early_run, uninterrupted)


def test_a_run_stopped_before_its_first_checkpoint_is_reused_by_a_new_run(
    plugins, uninterrupted, early_run, capsys
) -> None:
    train_run(tiny_config(plugins), early_run, manager=plugins, progress=False)
    assert "stopped before its first checkpoint; starting afresh" in capsys.readouterr().err
    assert_same_run(early_run, uninterrupted)


# -- the lock -------------------------------------------------------------------------------------


def test_a_locked_run_refuses_a_second_writer_with_one_line(tmp_path: Path) -> None:
    with RunLock(tmp_path / "run"), pytest.raises(RunInUse) as caught:
        RunLock(tmp_path / "run").acquire()
    assert f"process {os.getpid()} on" in str(caught.value) and caught.value.exit_code == 75
    assert not (tmp_path / "run" / LOCK_NAME).exists()
    with RunLock(tmp_path / "run"):  # released: free again
        pass


def test_a_lock_left_by_a_dead_process_is_taken_over(tmp_path: Path) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (tmp_path / LOCK_NAME).write_text(json.dumps({"pid": dead.pid, "host": os.uname().nodename}))
    with RunLock(tmp_path) as lock:
        assert json.loads(lock.path.read_text())["pid"] == os.getpid()


def test_resuming_a_run_being_trained_is_refused_before_anything_changes(plugins, tmp_path) -> None:
    run = tmp_path / "run"
    seen = {}

    def resume_meanwhile(trainer: Trainer) -> None:
        before = (run / "metrics.jsonl").read_bytes()
        with pytest.raises(RunInUse) as caught:
            resume_run(run, manager=plugins, progress=False)
        seen["message"] = str(caught.value)
        assert (run / "metrics.jsonl").read_bytes() == before

    train_run(
        tiny_config(plugins), run, manager=plugins, progress=False,
        extra_callbacks=(AtStep(12, resume_meanwhile),),
    )  # fmt: skip
    assert "is in use by another ebkit process" in seen["message"]
    steps = [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert steps == list(range(5, STEPS + 1, 5))


# -- the command line: --resume with the job's own options, --resume auto --------------------------


@pytest.fixture
def run_cli(ebkit_plugins, ebkit_cli):
    ebkit_plugins()  # the built-ins only
    return ebkit_cli


def error_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def test_resume_accepts_the_same_command_line_and_names_real_changes(run_cli, tmp_path) -> None:
    out = ["--out", str(tmp_path / "run")]
    first = run_cli(*CLI, "--steps", "10", *out)
    assert first.exit_code == 0, first.output
    again = run_cli(*CLI, "--steps", "20", *out, "--resume")
    assert again.exit_code == 0, again.output
    assert "step 20" in again.stderr
    changed = run_cli(
        *CLI, "--steps", "20", *out, "--resume", "-o", "energy.width=16", "--seed", "4"
    )
    assert changed.exit_code == 2
    (line,) = error_lines(changed.stderr)
    assert "energy.width=16 differs (the run has 8)" in line
    assert "train.seed=4 differs (the run has 0)" in line


def test_resume_auto_starts_a_new_run_then_continues_it(run_cli, tmp_path) -> None:
    out = ["--out", str(tmp_path / "run"), "--resume", "auto"]
    started = run_cli(*CLI, "--steps", "10", *out)
    assert started.exit_code == 0, started.output
    continued = run_cli(*CLI, "--steps", "20", *out)
    assert continued.exit_code == 0, continued.output
    steps = [
        json.loads(line)["step"]
        for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    ]
    assert steps[-1] == 20 and steps == sorted(set(steps))
    plain = run_cli("train", "--resume", "--out", str(tmp_path / "nothing"))
    assert plain.exit_code == 2 and "not an ebkit run directory" in plain.stderr


# -- inputs checked before the run folder exists ---------------------------------------------------


def test_a_batch_larger_than_the_dataset_is_refused_before_the_folder_exists(
    run_cli, tmp_path
) -> None:
    data = tmp_path / "ten.npz"
    np.savez(data, x=np.random.default_rng(0).uniform(-1, 1, (10, 2)).astype(np.float32))
    args = [arg if arg != "25gaussians" else "npz" for arg in CLI]
    result = run_cli(*args, "--data-path", str(data), "--out", str(tmp_path / "run"))
    assert result.exit_code == 2
    (line,) = error_lines(result.stderr)
    assert "--batch-size 16 exceeds the 10 training examples" in line
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("kind", ["not-utf8", "directory"])
def test_an_unreadable_config_file_is_one_line(run_cli, tmp_path, kind) -> None:
    config = tmp_path / "config.toml"
    if kind == "directory":
        config.mkdir()
    else:
        config.write_bytes(b"[train]\nsteps = 3 # \xff\xfe\n")
    result = run_cli(*CLI, "--config", str(config), "--out", str(tmp_path / "run"))
    assert result.exit_code == 2
    (line,) = error_lines(result.stderr)
    assert line.startswith(f"Error: --config: {config} is ")
    assert ("not UTF-8" if kind == "not-utf8" else "a directory") in line
    assert not (tmp_path / "run").exists()
