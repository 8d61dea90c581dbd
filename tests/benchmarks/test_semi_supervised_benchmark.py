"""Smoke test of ``benchmarks/semi_supervised.py``: a whole tiny run on the real MNIST
test set (one seed, a few steps) that must print every model's error, the verdict and
the paired difference."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType, SimpleNamespace

import numpy as np
import pytest
import torch
from idx_files import write_idx_set

import ebkit
from ebkit.builtins.datasets.mnist import MNIST
from ebkit.runs.splits import semi_supervised_split

REPO_ROOT = Path(__file__).resolve().parents[2]
SCRIPT = REPO_ROOT / "benchmarks" / "semi_supervised.py"
SHARED_MNIST = REPO_ROOT.parent / "shared" / "data" / "mnist"
TINY = ("--steps", "4", "--seeds", "1", "--threads", "1")


@pytest.fixture(scope="module")
def script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("semi_supervised_benchmark", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_margin_activity_averages_the_logged_steps_with_a_margin(script: ModuleType) -> None:
    history = [
        {
            "step": 1,
            "margin": 16.0,
            "fake_above_margin": 0.5,
            "energy_real": 30.0,
            "energy_fake": 10.0,
        },
        {
            "step": 2,
            "margin": 8.0,
            "fake_above_margin": 1.0,
            "energy_real": 20.0,
            "energy_fake": 30.0,
        },
        {
            "step": 3,
            "margin": 0.0,
            "fake_above_margin": 1.0,
            "energy_real": 9.0,
            "energy_fake": 9.0,
        },
        {"step": 3, "test_error": 0.2},
    ]
    activity = script.margin_activity(history)
    assert activity == {
        "within_margin": 0.25,
        "margin": 12.0,
        "energy_real": 25.0,
        "energy_fake": 20.0,
    }
    assert "25.0% of G(z) within the margin" in script.margin_activity_note(activity)
    assert script.margin_activity([{"step": 1, "test_error": 0.3}])["within_margin"] == 0.0


@pytest.mark.skipif(
    not (SHARED_MNIST / "t10k-images-idx3-ubyte.gz").is_file(),
    reason=f"the real MNIST test set is not at {SHARED_MNIST}",
)
@pytest.mark.integration("ebkit-ladder", "ebkit-losses")
def test_a_tiny_run_prints_every_model_and_the_verdict():
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--data-path", str(SHARED_MNIST), *TINY, "--first-seed", "3"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "seeds 3..3;" in result.stdout  # --first-seed: the seeds an earlier run did not have
    assert re.search(r"^  seed 3  ladder ", result.stdout, re.M), result.stdout
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


def test_a_generator_share_outside_0_1_is_refused_in_one_line(
    script: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    for share in ("0", "1.5"):
        with pytest.raises(SystemExit) as exit_info:
            script.parse_args(["--data-path", ".", "--generator-share", share])
        assert exit_info.value.code == 2
        assert f"--generator-share must be in (0, 1], not {share}" in capsys.readouterr().err
    assert script.parse_args(["--data-path", ".", "--generator-share", "1"]).generator_share == 1


def test_the_margin_is_in_the_energys_units_unless_asked_relative_to_the_data(
    script: ModuleType,
) -> None:
    default = script.ebgan_ln_options(script.parse_args(["--data-path", ".", "--steps", "30"]))
    assert default["loss.relative_to"] == "zero" and default["loss.generator"] == "energy"
    assert default["loss.final_margin"] == 0.0
    assert default["loss.margin"] == 16.0 and default["loss.schedule_steps"] == 10
    rising = ("--margin", "0", "--final-margin", "1", "--generator-objective", "feature-matching")
    relative = script.ebgan_ln_options(
        script.parse_args(["--data-path", ".", "--margin-relative-to", "data", *rising])
    )
    assert relative["loss.relative_to"] == "data" and relative["loss.margin"] == 0.0
    assert relative["loss.final_margin"] == 1.0
    assert relative["loss.generator"] == "feature-matching"


def test_the_hinge_weight_reaches_the_margin_loss_and_must_be_non_negative(
    script: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    default = script.ebgan_ln_options(script.parse_args(["--data-path", "."]))
    assert default["loss.hinge_weight"] == 1.0  # eq. 1
    weak = script.parse_args(["--data-path", ".", "--hinge-weight", "0.1"])
    assert script.ebgan_ln_options(weak)["loss.hinge_weight"] == 0.1
    for bad in ("-0.5", "inf"):
        with pytest.raises(SystemExit) as exit_info:
            script.parse_args(["--data-path", ".", "--hinge-weight", bad])
        assert exit_info.value.code == 2
        assert "--hinge-weight must be finite and >= 0" in capsys.readouterr().err


def test_a_negative_first_seed_is_refused(script: ModuleType) -> None:
    with pytest.raises(SystemExit) as exited:
        script.parse_args(["--data-path", ".", "--first-seed", "-1"])
    assert exited.value.code == 2
    assert script.parse_args(["--data-path", ".", "--first-seed", "10"]).first_seed == 10


def test_a_generator_warmup_needs_steps_and_a_frozen_one_needs_a_warmup(
    script: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    for bad, message in (
        (["--generator-warmup", "-1"], "--generator-warmup must be >= 0, not -1"),
        (["--freeze-generator"], "--freeze-generator needs --generator-warmup STEPS > 0"),
    ):
        with pytest.raises(SystemExit) as exited:
            script.parse_args(["--data-path", ".", *bad])
        assert exited.value.code == 2
        assert message in capsys.readouterr().err
    args = script.parse_args(["--data-path", ".", "--generator-warmup", "5", "--freeze-generator"])
    assert (args.generator_warmup, args.freeze_generator) == (5, True)


@pytest.mark.integration("ebkit-ladder", "ebkit-losses", "ebkit-autoencoder")
def test_ebgan_ln_starts_from_the_warmed_up_generator_and_keeps_it_frozen(
    script: ModuleType, tmp_path: Path
) -> None:
    data = tmp_path / "mnist"
    data.mkdir()
    write_idx_set(data, "t10k", n=400)
    options = ["--data-path", str(data), "--steps", "3", "--generator-warmup", "2"]
    args = script.parse_args([*options, "--freeze-generator"])
    args.generator_share = 1.0  # the generator would train on every step
    script.ebkit_run(1, args, ebgan=True, workdir=tmp_path)

    warmed_up = ebkit.load_run(tmp_path / "generator-warmup-1", device="cpu")
    assert warmed_up.step == 2
    # The warm-up never saw the held-out digits: it trained on the rest of the split.
    split = semi_supervised_split(MNIST(data), 100, script.TEST_FRACTION, 1)
    trained_on = np.load(tmp_path / "training-digits-1.npz")["x"]
    assert len(trained_on) == 400 - len(split.test_y)
    held_out = {row.tobytes() for row in split.test_x.numpy()}
    assert not any(row.tobytes() in held_out for row in trained_on)
    ebgan_ln = ebkit.load_run(tmp_path / "ebgan-ln-1", device="cpu")
    before, after = warmed_up.sampler.state_dict(), ebgan_ln.sampler.state_dict()
    weights = [key for key in before if key.endswith("weight")]
    assert weights and all(torch.equal(before[key], after[key]) for key in weights)


@pytest.mark.integration("ebkit-ladder", "ebkit-losses", "ebkit-autoencoder")
@pytest.mark.parametrize("freeze", [True, False])
def test_the_warmed_up_generator_is_loaded_at_the_first_step_only(
    script: ModuleType, tmp_path: Path, freeze: bool
) -> None:
    data = tmp_path / "mnist"
    data.mkdir()
    write_idx_set(data, "t10k", n=400)
    args = script.parse_args(["--data-path", str(data), "--generator-warmup", "2"])
    run_dir = script.warmed_up_generator(4, args, tmp_path)
    warmed_up = ebkit.load_run(run_dir, device="cpu")
    saved = warmed_up.sampler.state_dict()
    sampler = ebkit.build_component("sampler", "generator", warmed_up.spec, seed=9)
    trainer = SimpleNamespace(step=7, components=SimpleNamespace(sampler=sampler))
    start = script.StartGeneratorFrom(run_dir, freeze)

    start.on_train_start(trainer)  # a resumed run: its checkpoint holds the generator
    assert not torch.equal(sampler.state_dict()["net.0.weight"], saved["net.0.weight"])
    trainer.step = 0
    start.on_train_start(trainer)
    assert all(torch.equal(sampler.state_dict()[key], value) for key, value in saved.items())
    assert all(parameter.requires_grad is not freeze for parameter in sampler.parameters())
