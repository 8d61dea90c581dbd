"""Checkpoints that are never wrong: non-finite state is never saved nor loaded, damaged
or lying checkpoints are skipped for the newest valid one, files are flushed to the
disk before they are renamed, a full disk is one line, and old checkpoints are pruned."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from ebkit.core.engine import Callback, Trainer
from ebkit.core.errors import EbkitError, NonFiniteStateError, UsageError
from ebkit.core.files import DiskFullError, atomic_write, write_json
from ebkit.evaluation.evaluate import finite_or_none, write_evaluation
from ebkit.plugin.manager import PluginManager
from ebkit.runs.checkpoints import (
    checkpoint_paths,
    complete_checkpoints,
    load_checkpoint,
    newest_valid_checkpoint,
)
from ebkit.runs.config import RunConfig, resolve_config
from ebkit.runs.saved import SavedRun
from ebkit.runs.training import resume_run, train_run

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


@pytest.fixture(scope="module")
def plugins() -> PluginManager:
    return PluginManager(load_entry_points=False, environ={})


def tiny_config(plugins: PluginManager, steps: int = 30, extra: tuple[str, ...] = ()) -> RunConfig:
    names = {"energy": "mlp", "sampler": "generator", "loss": "gan"}
    return resolve_config(
        plugins,
        names={**names, "data": "25gaussians"},
        train={"steps": steps},
        overrides=[*TINY, *extra],
    )


@pytest.fixture(scope="module")
def finished(plugins: PluginManager, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run of 30 steps with checkpoints at 10, 20 and 30 (read, never changed)."""
    run = tmp_path_factory.mktemp("finished") / "run"
    train_run(tiny_config(plugins), run, manager=plugins, progress=False)
    return run


def copy_run(source: Path, target: Path) -> Path:
    for path in source.rglob("*"):
        if path.is_file():
            destination = target / path.relative_to(source)
            destination.parent.mkdir(parents=True, exist_ok=True)
            destination.write_bytes(path.read_bytes())
    return target


class PoisonGradientsOfStep(Callback):
    """In step ``step``, every energy gradient is NaN while the loss stays finite (what a
    third-party energy with a sqrt(0) or 0/0 in its backward pass does): the loss the
    engine checks was computed before the update that ruins the weights."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_step_end(self, trainer: Trainer, metrics: dict) -> None:
        if trainer.step == self.step - 1:
            for parameter in trainer.components.energy.parameters():
                parameter.register_hook(lambda gradient: gradient * float("nan"))


# -- non-finite state ---------------------------------------------------------------------------


def test_a_nan_gradient_under_a_finite_loss_never_reaches_a_checkpoint(
    plugins: PluginManager, tmp_path: Path
) -> None:
    run = tmp_path / "run"
    # Without a sampler, no later loss sees the ruined weights before the checkpoint.
    config = tiny_config(plugins)
    config.sampler, config.loss = (
        resolve_config(plugins, names={"energy": "mlp", "sampler": "none"}).sampler,
        resolve_config(plugins, names={"energy": "mlp", "sampler": "none"}).loss,
    )
    with pytest.raises(NonFiniteStateError) as caught:
        train_run(
            config,
            run,
            manager=plugins,
            progress=False,
            extra_callbacks=(PoisonGradientsOfStep(20),),
        )
    message = str(caught.value)
    assert message.startswith("step 20: energy.") and "NaN or infinite" in message
    assert "step-0000010.safetensors" in message and "\n" not in message
    assert [path.name for path in complete_checkpoints(run)] == ["step-0000010.safetensors"]
    assert not checkpoint_paths(run, 20)[0].exists()
    tensors, _ = load_checkpoint(checkpoint_paths(run, 10)[0])
    assert all(
        torch.isfinite(value).all() for value in tensors.values() if value.is_floating_point()
    )


def test_loading_refuses_non_finite_weights(finished: Path, tmp_path: Path) -> None:
    run = copy_run(finished, tmp_path / "run")
    weights, sidecar = checkpoint_paths(run, 30)
    tensors = load_file(weights)
    name = next(key for key in tensors if key.startswith("energy.") and key.endswith("weight"))
    tensors[name][0] = float("inf")
    save_file(tensors, weights)
    meta = json.loads(sidecar.read_text())
    del meta["sha256"]  # as a checkpoint written before checksums would be
    sidecar.write_text(json.dumps(meta))
    with pytest.raises(EbkitError, match=f"NaN or infinite values in {name}"):
        load_checkpoint(weights)


def test_evaluation_results_never_hold_infinity(tmp_path: Path) -> None:
    results = {"data_energy": float("inf"), "sets": {"samples": {"energy": float("nan")}}}
    cleaned = finite_or_none(results)
    assert cleaned == {"data_energy": None, "sets": {"samples": {"energy": None}}}
    path = write_evaluation(tmp_path, cleaned)
    assert json.loads(path.read_text())["data_energy"] is None
    with pytest.raises(ValueError):
        write_json(tmp_path / "bad.json", {"value": float("inf")})


# -- damaged and lying checkpoints ----------------------------------------------------------------


def damage_half(weights: Path) -> None:
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])


def damage_bytes(weights: Path) -> None:
    data = bytearray(weights.read_bytes())
    data[-64:] = os.urandom(64)  # inside the tensor data: safetensors still parses it
    weights.write_bytes(bytes(data))


@pytest.mark.parametrize("damage", [damage_half, damage_bytes], ids=["cut", "random-bytes"])
def test_sample_skips_a_damaged_newest_checkpoint_with_one_line(
    finished: Path, tmp_path: Path, damage, capsys: pytest.CaptureFixture[str]
) -> None:
    run = copy_run(finished, tmp_path / "run")
    damage(checkpoint_paths(run, 30)[0])
    saved = SavedRun.open(run, device="cpu")
    assert saved.step == 20
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and "skipping damaged checkpoint" in lines[0]
    assert "step-0000030.safetensors" in lines[0]


def test_a_sidecar_whose_step_lies_is_damaged(finished: Path, tmp_path: Path) -> None:
    run = copy_run(finished, tmp_path / "run")
    weights, sidecar = checkpoint_paths(run, 30)
    meta = json.loads(sidecar.read_text())
    sidecar.write_text(json.dumps({**meta, "step": -5}))
    with pytest.raises(EbkitError, match="says step -5, its name step 30"):
        load_checkpoint(weights)
    reported: list[str] = []
    loaded = newest_valid_checkpoint(run, report=reported.append)
    assert loaded is not None and loaded.step == 20 and loaded.skipped == [weights]
    assert len(reported) == 1


def test_resume_past_a_lying_checkpoint_moves_it_aside_and_never_overwrites_it(
    plugins: PluginManager, finished: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = copy_run(finished, tmp_path / "run")
    weights, sidecar = checkpoint_paths(run, 30)
    lying = {**json.loads(sidecar.read_text()), "step": -5}
    sidecar.write_text(json.dumps(lying))
    original = weights.read_bytes()
    trainer = resume_run(run, manager=plugins, progress=False)
    assert trainer.step == 30
    aside = run / "checkpoints" / "damaged"
    assert (aside / weights.name).read_bytes() == original
    assert json.loads((aside / sidecar.name).read_text())["step"] == -5
    err = capsys.readouterr().err
    assert "skipping damaged checkpoint" in err and "moved damaged checkpoint" in err
    steps = [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert steps == sorted(set(steps)) and steps[-1] == 30
    # The step-30 checkpoint trained again from step 20 equals the one of the first run.
    again = load_file(weights)
    first = load_file(checkpoint_paths(finished, 30)[0])
    assert all(torch.equal(again[key], first[key]) for key in first)


def test_a_checkpoint_whose_sidecar_does_not_restore_is_skipped_too(
    plugins: PluginManager, finished: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = copy_run(finished, tmp_path / "run")
    sidecar = checkpoint_paths(run, 30)[1]
    meta = json.loads(sidecar.read_text())
    del meta["optimizers"]
    sidecar.write_text(json.dumps(meta))
    assert SavedRun.open(run, device="cpu").step == 30  # sampling needs no optimiser
    trainer = resume_run(run, steps=40, manager=plugins, progress=False)
    assert trainer.step == 40
    assert "does not match this run's components" in capsys.readouterr().err
    assert (run / "checkpoints" / "damaged" / sidecar.name).is_file()


@pytest.mark.parametrize(
    ("section", "key", "value", "message"),
    [
        ("train", "steps", "many", "train.steps"),
        ("energy", "options", 7, "no option table"),
        ("energy", "id", 7, "no name"),
    ],
)
def test_a_damaged_config_json_is_one_line(
    plugins: PluginManager, finished: Path, tmp_path: Path, section, key, value, message
) -> None:
    run = copy_run(finished, tmp_path / "run")
    config = json.loads((run / "config.json").read_text())
    config[section][key] = value
    (run / "config.json").write_text(json.dumps(config))
    before = (run / "metrics.jsonl").read_bytes()
    with pytest.raises(UsageError) as caught:
        resume_run(run, manager=plugins, progress=False)
    assert message in str(caught.value) and "\n" not in str(caught.value)
    with pytest.raises(UsageError):
        SavedRun.open(run, manager=plugins, device="cpu")
    assert (run / "metrics.jsonl").read_bytes() == before


def test_every_checkpoint_damaged_is_one_line(finished: Path, tmp_path: Path) -> None:
    run = copy_run(finished, tmp_path / "run")
    for weights in complete_checkpoints(run):
        damage_half(weights)
    with pytest.raises(EbkitError, match="all 3 are damaged"):
        newest_valid_checkpoint(run, report=lambda line: None)


# -- files on disk ---------------------------------------------------------------------------------


def test_files_are_flushed_before_the_rename_and_the_folder_after(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    events: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(handle: int) -> None:
        kind = "folder" if os.path.isdir(f"/proc/self/fd/{handle}") else "file"
        events.append(f"fsync {kind}")
        real_fsync(handle)

    def replace(source: str, target: str) -> None:
        events.append("rename")
        real_replace(source, target)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    atomic_write(tmp_path / "out.txt", lambda tmp: tmp.write_text("content"))
    assert events == ["fsync file", "rename", "fsync folder"]
    assert (tmp_path / "out.txt").read_text() == "content"


def test_a_full_disk_is_one_line_and_keeps_earlier_checkpoints(
    plugins: PluginManager, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import safetensors.torch

    real_save = safetensors.torch.save_file
    calls = []

    def save_until_full(tensors, path, *args, **kwargs):
        calls.append(path)
        if len(calls) > 1:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_save(tensors, path, *args, **kwargs)

    monkeypatch.setattr(safetensors.torch, "save_file", save_until_full)
    run = tmp_path / "run"
    with pytest.raises(DiskFullError) as caught:
        train_run(tiny_config(plugins), run, manager=plugins, progress=False)
    assert "disk is full" in str(caught.value) and "\n" not in str(caught.value)
    assert [path.name for path in complete_checkpoints(run)] == ["step-0000010.safetensors"]
    load_checkpoint(checkpoint_paths(run, 10)[0])
    assert not list((run / "checkpoints").glob(".*.tmp"))


# -- keeping checkpoints ---------------------------------------------------------------------------


class MarkToKeep(Callback):
    """Marks the checkpoint of ``step`` to keep, as a user would: ``touch step-N.keep``."""

    def __init__(self, run_dir: Path, step: int) -> None:
        self.run_dir = run_dir
        self.step = step

    def on_step_end(self, trainer: Trainer, metrics: dict) -> None:
        if trainer.step == self.step:
            checkpoint_paths(self.run_dir, self.step)[0].with_suffix(".keep").touch()


def test_keep_checkpoints_prunes_old_ones_but_never_marked_ones(
    plugins: PluginManager, tmp_path: Path
) -> None:
    run = tmp_path / "run"
    config = tiny_config(plugins, steps=60, extra=("train.keep_checkpoints=2",))
    train_run(config, run, manager=plugins, progress=False, extra_callbacks=(MarkToKeep(run, 10),))
    kept = [path.name for path in complete_checkpoints(run)]
    assert kept == [
        "step-0000010.safetensors",
        "step-0000050.safetensors",
        "step-0000060.safetensors",
    ]
    assert not (run / "checkpoints" / "step-0000020.json").exists()


def test_keep_checkpoints_defaults_to_five_and_zero_keeps_all(plugins: PluginManager) -> None:
    assert tiny_config(plugins).train.logging.keep_checkpoints == 5
    assert (
        tiny_config(plugins, extra=("train.keep_checkpoints=0",)).train.logging.keep_checkpoints
        == 0
    )
