"""The built-in TensorBoard logger, read back with TensorBoard's own reader."""

from __future__ import annotations

import io
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

SMALL = [
    "train", "--energy", "mlp", "--sampler", "generator", "--loss", "gan",
    "--data", "8gaussians", "--batch-size", "16", "--quiet", "--logger", "tensorboard",
    "-o", "energy.width=8", "-o", "sampler.width=8", "-o", "sampler.latent_dim=2",
    "-o", "train.log_every=5", "-o", "train.sample_every=10", "-o", "train.sample_count=16",
    "-o", "train.checkpoint_every=10",
]  # fmt: skip


@pytest.fixture
def cli(ebkit_plugins, ebkit_cli):
    ebkit_plugins()
    return ebkit_cli


def read_events(run: Path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    everything = {"scalars": 0, "images": 0, "histograms": 0, "tensors": 0}
    accumulator = EventAccumulator(str(run / "tensorboard"), size_guidance=everything)
    accumulator.Reload()
    return accumulator


def records(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def assert_scalars_match_metrics(events, run: Path) -> None:
    logged = records(run)
    keys = [key for key in logged[0] if key != "step"]
    assert sorted(events.Tags()["scalars"]) == sorted(keys)
    for key in keys:
        scalars = events.Scalars(key)
        assert [event.step for event in scalars] == [record["step"] for record in logged]
        # TensorBoard stores every scalar as a 32-bit float.
        assert [event.value for event in scalars] == [np.float32(r[key]) for r in logged]


def test_event_files_hold_the_runs_scalars_pictures_histograms_and_config(cli, tmp_path):
    pytest.importorskip("tensorboard")
    run = tmp_path / "run"
    result = cli(*SMALL, "--steps", "20", "--out", str(run))
    assert result.exit_code == 0, result.output
    events = read_events(run)
    assert_scalars_match_metrics(events, run)

    expected = {
        "samples": [(10, "step-0000010.png"), (20, "final.png")],
        "landscape": [(10, "landscape-step-0000010.png"), (20, "landscape.png")],
    }
    assert sorted(events.Tags()["images"]) == sorted(expected)
    for tag, pictures in expected.items():
        images = events.Images(tag)
        assert [event.step for event in images] == [step for step, _ in pictures]
        for event, (_, name) in zip(images, pictures, strict=True):
            assert event.encoded_image_string == (run / "samples" / name).read_bytes()
            with Image.open(io.BytesIO(event.encoded_image_string)) as picture:
                assert picture.format == "PNG"
                assert picture.size == (event.width, event.height)

    for tag in ("energy/data", "energy/contrastive"):
        histograms = events.Histograms(tag)
        assert [event.step for event in histograms] == [5, 10, 15, 20]
        for event in histograms:
            value = event.histogram_value
            assert value.num == 16 and sum(value.bucket) == 16
            assert value.min <= value.sum / value.num <= value.max
    last = events.Histograms("energy/data")[-1].histogram_value
    assert last.sum / last.num == pytest.approx(records(run)[-1]["energy_real"], rel=1e-5)

    (config,) = events.Tensors("config")
    text = config.tensor_proto.string_val[0].decode()
    assert text.startswith("```json\n") and text.endswith("\n```")
    saved = json.loads((run / "config.json").read_text())
    assert json.loads(text.removeprefix("```json\n").removesuffix("\n```")) == saved


def test_a_resumed_run_replaces_what_was_logged_after_its_checkpoint(cli, tmp_path):
    pytest.importorskip("tensorboard")
    run = tmp_path / "run"
    assert cli(*SMALL, "--steps", "20", "--out", str(run)).exit_code == 0
    # As if the process died after logging step 20 but before its checkpoint was saved.
    for stale in (run / "checkpoints").glob("step-0000020.*"):
        stale.unlink()
    shutil.rmtree(run / "samples")
    result = cli("train", "--resume", "--out", str(run), "--quiet")
    assert result.exit_code == 0, result.output
    assert len(list((run / "tensorboard").iterdir())) == 2  # one event file per attempt
    events = read_events(run)
    # Steps 15 and 20 once each, with the resumed attempt's values.
    assert_scalars_match_metrics(events, run)
    assert [event.step for event in events.Histograms("energy/data")] == [5, 10, 15, 20]


def test_histograms_can_be_switched_off(cli, tmp_path):
    pytest.importorskip("tensorboard")
    run = tmp_path / "run"
    result = cli(*SMALL, "--steps", "5", "-o", "logger.tensorboard.histograms=false",
                 "--out", str(run))  # fmt: skip
    assert result.exit_code == 0, result.output
    events = read_events(run)
    assert events.Tags()["histograms"] == []
    assert_scalars_match_metrics(events, run)


def test_without_the_extra_one_line_names_it_and_nothing_is_written(cli, tmp_path, monkeypatch):
    # None in sys.modules makes `import tensorboard` fail as if it were not installed.
    for name in [name for name in sys.modules if name.startswith("tensorboard")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "tensorboard", None)
    run = tmp_path / "run"
    result = cli(*SMALL, "--steps", "2", "--out", str(run))
    assert result.exit_code == 2
    (line,) = [line for line in result.stderr.splitlines() if line.strip()]
    assert line.startswith("Error: --logger tensorboard needs the tensorboard package")
    assert "pip install 'ebkit[tensorboard]'" in line
    assert not run.exists()
