"""Tests for the run directory and checkpoints (ebkit.runs.checkpoints, ebkit.runs.training)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import torch
from PIL import Image
from safetensors.torch import load_file, save_file

from ebkit import EbkitError, UsageError
from ebkit.plugin.manager import PluginManager
from ebkit.runs.checkpoints import (
    CHECKPOINT_FORMAT,
    atomic_write,
    checkpoint_paths,
    latest_checkpoint,
    load_checkpoint,
    prepare_run_dir,
    read_run_config,
    restore_trainer_state,
    save_checkpoint,
    spec_from_meta,
    trainer_state,
    truncate_metrics,
    write_json,
)
from ebkit.runs.config import RunConfig, resolve_config
from ebkit.runs.training import build_trainer, train_run

STEPS = 30
SMALL = [
    "energy.width=32",
    "sampler.width=32",
    "sampler.latent_dim=4",
    "train.batch_size=32",
    "train.log_every=10",
    "train.checkpoint_every=10",
    "train.sample_every=20",
    "train.sample_count=16",
    # No learning-rate decay (auto on vectors): the bare trainers below have no schedule.
    "train.lr_decay_start=1",
]


@pytest.fixture(scope="module")
def plugins(feature_penalty_plugin) -> PluginManager:
    return PluginManager(
        load_entry_points=False, environ={}, extra_plugins={"ebkit-tests": feature_penalty_plugin}
    )


def make_config(plugins, *, data="25gaussians", steps=STEPS, seed=0, extra=()) -> RunConfig:
    return resolve_config(
        plugins,
        names={"energy": "mlp", "sampler": "generator", "loss": "gan", "data": data},
        regularizers=["feature-penalty"],
        train={"steps": steps, "seed": seed},
        overrides=[*SMALL, *extra],
    )


@pytest.fixture(scope="module")
def trained(plugins, tmp_path_factory) -> tuple[Path, RunConfig]:
    config = make_config(plugins)
    run_dir = tmp_path_factory.mktemp("runs") / "gaussians"
    trainer = train_run(config, run_dir, manager=plugins, progress=False)
    assert trainer.step == STEPS
    return run_dir, config


# -- the run directory of a short end-to-end training ----------------------------------------------


def test_config_json_holds_the_resolved_configuration(trained) -> None:
    run_dir, config = trained
    payload = json.loads((run_dir / "config.json").read_text())
    assert payload == json.loads(json.dumps(config.as_json()))
    assert payload["energy"]["id"] == "ebkit/mlp"
    assert payload["regularizers"][0]["id"] == "ebkit-tests/feature-penalty"
    assert payload["data"]["id"] == "ebkit/25gaussians"
    assert RunConfig.from_json(read_run_config(run_dir)) == config


def test_metrics_jsonl_has_one_record_per_logged_step(trained) -> None:
    run_dir, _ = trained
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    assert [record["step"] for record in records] == [10, 20, 30]
    for record in records:
        assert len(record) > 1
        assert all(isinstance(value, (int, float)) for value in record.values())
    assert any(key.startswith("penalty_feature-penalty") for key in records[-1])


def test_checkpoints_are_safetensors_with_json_sidecars(trained) -> None:
    run_dir, _ = trained
    folder = run_dir / "checkpoints"
    names = sorted(path.name for path in folder.iterdir())
    assert names == [
        f"step-{step:07d}.{suffix}" for step in (10, 20, 30) for suffix in ("json", "safetensors")
    ]
    assert latest_checkpoint(run_dir) == folder / "step-0000030.safetensors"
    tensors = load_file(str(folder / "step-0000030.safetensors"))
    keys = set(tensors)
    for prefix in ("energy.", "sampler.", "optimizer.energy.", "optimizer.sampler."):
        assert any(key.startswith(prefix) for key in keys), prefix
    assert {"rng.data", "rng.sample"} <= keys
    assert tensors["rng.data"].dtype == torch.uint8
    meta = json.loads((folder / "step-0000030.json").read_text())
    assert meta["format"] == CHECKPOINT_FORMAT and meta["step"] == STEPS
    assert set(meta["optimizers"]) == {"energy", "sampler"}
    assert spec_from_meta(meta).event_shape == (2,)


def test_samples_and_curves_are_pngs(trained) -> None:
    run_dir, _ = trained
    assert sorted(path.name for path in (run_dir / "samples").iterdir()) == [
        "final.png",
        "landscape-step-0000020.png",
        "landscape.png",
        "step-0000020.png",
    ]
    for picture in (run_dir / "samples" / "final.png", run_dir / "curves.png"):
        with Image.open(picture) as image:
            assert image.format == "PNG" and image.size[0] > 10 and image.size[1] > 10


def test_no_temporary_files_are_left_behind(trained) -> None:
    run_dir, _ = trained
    assert [path for path in run_dir.rglob("*") if path.name.endswith(".tmp")] == []
    assert not (run_dir / ".ebkit-write-test").exists()


def test_the_final_checkpoint_restores_the_trained_trainer(plugins, trained) -> None:
    run_dir, config = trained
    tensors, meta = load_checkpoint(latest_checkpoint(run_dir))
    fresh = build_trainer(config, plugins)
    restore_trainer_state(fresh, tensors, meta)
    assert fresh.step == STEPS
    again, _ = trainer_state(fresh)
    assert again.keys() == tensors.keys()
    for key in tensors:
        assert torch.equal(again[key], tensors[key]), key


def test_callbacks_do_not_change_the_training(plugins, trained) -> None:
    """The run trained with pictures and checkpoints ends where a bare trainer ends."""
    run_dir, config = trained
    bare = build_trainer(config, plugins)
    for _ in range(STEPS):
        bare.train_step()
    expected = load_file(str(latest_checkpoint(run_dir)))
    actual, _ = trainer_state(bare)
    for key in expected:
        assert torch.equal(actual[key], expected[key]), key


# -- prepare_run_dir and atomic writes ----------------------------------------------------------


def test_prepare_run_dir_creates_missing_parents(tmp_path) -> None:
    run_dir = prepare_run_dir(tmp_path / "a" / "b")
    assert run_dir.is_dir() and list(run_dir.iterdir()) == []


def test_prepare_run_dir_refuses_a_non_empty_directory(tmp_path) -> None:
    (tmp_path / "keep.txt").write_text("x")
    with pytest.raises(UsageError, match="already holds files"):
        prepare_run_dir(tmp_path)
    assert [path.name for path in tmp_path.iterdir()] == ["keep.txt"]


def test_prepare_run_dir_refuses_a_file(tmp_path) -> None:
    target = tmp_path / "file"
    target.write_text("x")
    with pytest.raises(UsageError, match="is not a directory"):
        prepare_run_dir(target)


def test_prepare_run_dir_under_a_file_is_a_runtime_error(tmp_path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(EbkitError) as caught:
        prepare_run_dir(blocker / "run")
    assert not isinstance(caught.value, UsageError)
    assert caught.value.exit_code == 1
    assert str(caught.value).startswith("cannot write to --out")
    assert "\n" not in str(caught.value)


def test_atomic_write_leaves_nothing_when_the_writer_fails(tmp_path) -> None:
    target = tmp_path / "out" / "file.json"

    def fail(path: Path) -> None:
        path.write_text("partial")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(target, fail)
    assert list(target.parent.iterdir()) == []


def test_atomic_write_replaces_and_write_json(tmp_path) -> None:
    target = tmp_path / "data.json"
    target.write_text("old")
    write_json(target, {"a": [1, 2]})
    assert json.loads(target.read_text()) == {"a": [1, 2]}
    assert [path.name for path in tmp_path.iterdir()] == ["data.json"]


def test_read_run_config_errors(tmp_path) -> None:
    with pytest.raises(UsageError, match="not an ebkit run directory"):
        read_run_config(tmp_path)
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(EbkitError, match="not valid JSON"):
        read_run_config(tmp_path)


# -- checkpoints ----------------------------------------------------------------------------------


def write_checkpoint(folder: Path, step: int, *, sidecar: bool = True) -> Path:
    weights, meta = checkpoint_paths(folder.parent, step)
    folder.mkdir(parents=True, exist_ok=True)
    save_file({"energy.w": torch.zeros(2)}, str(weights))
    if sidecar:
        meta.write_text(json.dumps({"format": CHECKPOINT_FORMAT, "step": step}))
    return weights


def test_checkpoint_paths_are_zero_padded(tmp_path) -> None:
    weights, sidecar = checkpoint_paths(tmp_path, 42)
    assert weights == tmp_path / "checkpoints" / "step-0000042.safetensors"
    assert sidecar == tmp_path / "checkpoints" / "step-0000042.json"


def test_latest_checkpoint_ignores_weights_without_sidecar(tmp_path) -> None:
    assert latest_checkpoint(tmp_path) is None
    folder = tmp_path / "checkpoints"
    write_checkpoint(folder, 9)
    complete = write_checkpoint(folder, 10)
    write_checkpoint(folder, 20, sidecar=False)
    assert latest_checkpoint(tmp_path) == complete
    (folder / "step-0000010.json").unlink()
    assert latest_checkpoint(tmp_path) == folder / "step-0000009.safetensors"


def test_latest_checkpoint_orders_by_step_not_by_write_time(tmp_path) -> None:
    folder = tmp_path / "checkpoints"
    newest = write_checkpoint(folder, 1000)
    write_checkpoint(folder, 999)
    assert latest_checkpoint(tmp_path) == newest


@pytest.mark.parametrize(
    "damage",
    [
        lambda data: data[: len(data) // 2],
        lambda data: data[:20],
        lambda data: b"this is not a safetensors file at all",
        lambda data: b"",
    ],
    ids=["truncated", "header-only", "garbage", "empty"],
)
def test_load_checkpoint_of_damaged_weights_is_one_line(tmp_path, damage) -> None:
    weights = write_checkpoint(tmp_path / "checkpoints", 5)
    weights.write_bytes(damage(weights.read_bytes()))
    with pytest.raises(EbkitError) as caught:
        load_checkpoint(weights)
    message = str(caught.value)
    assert "damaged" in message and str(weights) in message
    assert "\n" not in message


@pytest.mark.parametrize(
    ("sidecar", "message"),
    [
        ("{broken json", "unreadable JSON sidecar"),
        ('{"format": 99, "step": 5}', "format mismatch"),
        ('["a", "list"]', "format mismatch"),
        (None, "unreadable JSON sidecar"),
    ],
)
def test_load_checkpoint_with_a_bad_sidecar_is_one_line(tmp_path, sidecar, message) -> None:
    weights = write_checkpoint(tmp_path / "checkpoints", 5)
    meta = weights.with_suffix(".json")
    if sidecar is None:
        meta.unlink()
    else:
        meta.write_text(sidecar)
    with pytest.raises(EbkitError) as caught:
        load_checkpoint(weights)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_load_checkpoint_reads_what_save_checkpoint_wrote(plugins, tmp_path) -> None:
    config = make_config(plugins, data="digits", steps=2)
    trainer = build_trainer(config, plugins)
    trainer.train_step()
    weights = save_checkpoint(trainer, tmp_path)
    assert weights == tmp_path / "checkpoints" / "step-0000001.safetensors"
    tensors, meta = load_checkpoint(weights)
    expected, expected_meta = trainer_state(trainer)
    # The sidecar also holds the weights' SHA-256, checked when they are loaded.
    assert meta.pop("sha256") == hashlib.sha256(weights.read_bytes()).hexdigest()
    assert meta == json.loads(json.dumps(expected_meta))
    assert tensors.keys() == expected.keys()
    # The digits dataset keeps its epoch order: it is saved with the rest.
    assert "data.order" in tensors and meta["data"]["position"] == 32


def test_restoring_into_different_components_is_one_clear_error(plugins, tmp_path) -> None:
    trainer = build_trainer(make_config(plugins, steps=2), plugins)
    trainer.train_step()
    tensors, meta = load_checkpoint(save_checkpoint(trainer, tmp_path))
    wider = build_trainer(make_config(plugins, steps=2, extra=["energy.width=48"]), plugins)
    with pytest.raises(EbkitError, match="does not match this run's components") as caught:
        restore_trainer_state(wider, tensors, meta)
    assert "\n" not in str(caught.value)
    incomplete = {key: value for key, value in tensors.items() if key != "rng.data"}
    with pytest.raises(EbkitError, match="does not match"):
        restore_trainer_state(
            build_trainer(make_config(plugins, steps=2), plugins), incomplete, meta
        )


def test_spec_from_meta_errors() -> None:
    with pytest.raises(EbkitError, match="no valid data spec"):
        spec_from_meta({"format": 1})
    spec = spec_from_meta(
        {"spec": {"event_shape": [1, 8, 8], "low": -1, "high": 1, "num_classes": 10}}
    )
    assert spec.event_shape == (1, 8, 8) and spec.num_classes == 10


def test_truncate_metrics_drops_records_after_the_step(tmp_path) -> None:
    path = tmp_path / "metrics.jsonl"
    assert truncate_metrics(path, 5) == []
    records = [{"step": step, "loss": float(step)} for step in (10, 20, 30)]
    path.write_text("".join(json.dumps(record) + "\n" for record in records) + '{"step": 4')
    assert truncate_metrics(path, 20) == records[:2]
    assert [json.loads(line) for line in path.read_text().splitlines()] == records[:2]
