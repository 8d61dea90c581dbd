"""Loggers as plugins: the ``ebkit_loggers`` hook, ``--logger``, their options, and what
they receive (the values of metrics.jsonl, every picture, energy histograms, the
configuration, a finish call)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any, ClassVar

import pytest

from ebkit import Component, Option
from ebkit.plugin.manager import module_plugin
from ebkit.tracking.logger import Logger

SMALL = [
    "train", "--energy", "mlp", "--sampler", "generator", "--loss", "gan",
    "--data", "8gaussians", "--batch-size", "16", "--quiet",
    "-o", "energy.width=8", "-o", "sampler.width=8", "-o", "sampler.latent_dim=2",
    "-o", "train.log_every=4", "-o", "train.sample_every=6", "-o", "train.sample_count=16",
]  # fmt: skip


class Recorder(Logger):
    """Keeps every call, in order, in ``calls``."""

    built: ClassVar[list[Recorder]] = []

    def __init__(self, label: str = "plain") -> None:
        self.label = label
        self.calls: list[tuple[str, Any]] = []
        Recorder.built.append(self)

    def start(self, run_dir, config, step) -> None:
        self.calls.append(("start", (Path(run_dir), dict(config), step)))

    def log_scalars(self, step, scalars) -> None:
        self.calls.append(("scalars", (step, dict(scalars))))

    def log_image(self, step, tag, path) -> None:
        self.calls.append(("image", (step, tag, Path(path), Path(path).read_bytes())))

    def log_histogram(self, step, tag, values) -> None:
        self.calls.append(("histogram", (step, tag, values.copy())))

    def finish(self) -> None:
        self.calls.append(("finish", None))

    def of(self, kind: str) -> list[Any]:
        return [payload for name, payload in self.calls if name == kind]


RECORDER = Component(
    name="recorder",
    summary="keeps what it receives",
    factory=Recorder,
    options=(Option("label", str, "plain", "a label, to check that options arrive"),),
)


class Exploding(Logger):
    def log_scalars(self, step, scalars) -> None:
        raise ConnectionError("dashboard unreachable")


@pytest.fixture(autouse=True)
def _no_recorders_built() -> None:
    Recorder.built.clear()


@pytest.fixture
def cli(ebkit_plugins, ebkit_cli):
    others = [RECORDER, Component(name="exploding", summary="fails", factory=Exploding)]
    plugin = module_plugin("recording", ebkit_loggers=lambda: others)
    ebkit_plugins({"recording": plugin})
    return ebkit_cli


def records(run: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def test_a_plugin_logger_receives_everything_the_run_logs(cli, tmp_path) -> None:
    run = tmp_path / "run"
    result = cli(*SMALL, "--steps", "14", "--logger", "recorder", "--out", str(run))
    assert result.exit_code == 0, result.output
    (recorder,) = Recorder.built
    assert recorder.calls[0][0] == "start" and recorder.calls[-1] == ("finish", None)
    assert [name for name, _ in recorder.calls].count("finish") == 1
    run_dir, config, step = recorder.calls[0][1]
    assert run_dir == run and step == 0
    assert config == json.loads((run / "config.json").read_text())
    assert config["loggers"] == [{"id": "recording/recorder", "options": {"label": "plain"}}]

    # The very values of metrics.jsonl, at its steps (every 4th and the last).
    logged = [{"step": step, **scalars} for step, scalars in recorder.of("scalars")]
    assert logged == records(run)
    assert [record["step"] for record in logged] == [4, 8, 12, 14]

    # Every picture the run wrote, as it was written.
    images = {(step, tag, path.name): data for step, tag, path, data in recorder.of("image")}
    assert set(images) == {
        (6, "samples", "step-0000006.png"), (6, "landscape", "landscape-step-0000006.png"),
        (12, "samples", "step-0000012.png"), (12, "landscape", "landscape-step-0000012.png"),
        (14, "samples", "final.png"), (14, "landscape", "landscape.png"),
    }  # fmt: skip
    for (_, _, name), data in images.items():
        assert data == (run / "samples" / name).read_bytes()

    # Per-sample energies of the data and contrastive batches at each logged step.
    histograms = recorder.of("histogram")
    assert [(step, tag) for step, tag, _ in histograms] == [
        (step, tag) for step in (4, 8, 12, 14) for tag in ("energy/data", "energy/contrastive")
    ]
    for _, _, values in histograms:
        assert values.shape == (16,) and values.dtype.kind == "f"
    last = {tag: values for step, tag, values in histograms if step == 14}
    # The logged mean energies are the means of the histogrammed values.
    assert last["energy/data"].mean() == pytest.approx(logged[-1]["energy_real"], rel=1e-5)
    assert last["energy/contrastive"].mean() == pytest.approx(logged[-1]["energy_fake"], rel=1e-5)


def test_logger_options_come_from_o_and_from_the_toml_file(cli, tmp_path) -> None:
    result = cli(*SMALL, "--steps", "2", "--logger", "recorder",
                 "-o", "logger.recorder.label=from-o", "--out", str(tmp_path / "a"))  # fmt: skip
    assert result.exit_code == 0, result.output
    assert Recorder.built[-1].label == "from-o"
    toml = tmp_path / "run.toml"
    toml.write_text('[loggers.recorder]\nlabel = "from-toml"\n')
    result = cli(*SMALL, "--steps", "2", "--config", str(toml), "--out", str(tmp_path / "b"))
    assert result.exit_code == 0, result.output
    assert Recorder.built[-1].label == "from-toml"
    saved = json.loads((tmp_path / "b" / "config.json").read_text())["loggers"]
    assert saved == [{"id": "recording/recorder", "options": {"label": "from-toml"}}]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--logger", "nonesuch"], "unknown logger 'nonesuch'"),
        (["--logger", "recorder", "-o", "logger.recorder.colour=red"],
         "logger.recorder.colour: unknown option for 'recorder' (accepted: label)"),
        (["-o", "logger.recorder.label=x"], "the logger 'recorder' is not chosen"),
        (["--logger", "recorder", "-o", "logger.recorder=x"], "expected logger.NAME.KEY=VALUE"),
    ],
)  # fmt: skip
def test_bad_logger_choices_are_one_line_and_write_nothing(cli, tmp_path, args, message) -> None:
    run = tmp_path / "run"
    result = cli(*SMALL, "--steps", "2", *args, "--out", str(run))
    assert result.exit_code == 2
    (line,) = [line for line in result.stderr.splitlines() if line.strip()]
    assert message in line
    assert not run.exists()


def test_a_logger_that_fails_is_switched_off_and_training_goes_on(cli, tmp_path) -> None:
    run = tmp_path / "run"
    result = cli(*SMALL, "--steps", "9", "--logger", "exploding", "--logger", "recorder",
                 "--out", str(run))  # fmt: skip
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.stderr.splitlines() if "logger 'exploding'" in line]
    assert len(warnings) == 1 and "dashboard unreachable" in warnings[0]
    # The other logger and metrics.jsonl got every record.
    assert [step for step, _ in Recorder.built[0].of("scalars")] == [4, 8, 9]
    assert [record["step"] for record in records(run)] == [4, 8, 9]


def test_a_resumed_run_logs_to_its_saved_loggers_from_its_checkpoint(cli, tmp_path) -> None:
    run = tmp_path / "run"
    assert cli(*SMALL, "--steps", "8", "--logger", "recorder", "--out", str(run)).exit_code == 0
    result = cli("train", "--resume", "--out", str(run), "--steps", "12", "--quiet")
    assert result.exit_code == 0, result.output
    resumed = Recorder.built[-1]
    assert resumed.calls[0][1][2] == 8  # start: from the checkpoint's step
    assert [step for step, _ in resumed.of("scalars")] == [12]


def test_the_library_chooses_loggers_and_their_options_like_the_cli(cli, tmp_path) -> None:
    from ebkit import train

    small = {"energy.width": 8, "sampler.width": 8, "train.log_every": 2}
    train(energy="mlp", sampler="generator", loss="gan", data="8gaussians", steps=4,
          batch_size=16, loggers=["recorder"], options={**small, "logger.recorder.label": "lib"},
          out=tmp_path / "a")  # fmt: skip
    assert Recorder.built[-1].label == "lib"
    assert [step for step, _ in Recorder.built[-1].of("scalars")] == [2, 4]
    train(energy="mlp", sampler="generator", loss="gan", data="8gaussians", steps=2,
          batch_size=16, options={**small, "logger.recorder": {"label": "table"}},
          out=tmp_path / "b")  # fmt: skip
    assert Recorder.built[-1].label == "table"


def test_loggers_cannot_be_changed_on_resume(cli, tmp_path) -> None:
    run = tmp_path / "run"
    assert cli(*SMALL, "--steps", "2", "--out", str(run)).exit_code == 0
    result = cli("train", "--resume", "--out", str(run), "--logger", "recorder", "--quiet")
    assert result.exit_code == 2
    assert "--logger recorder differs (the run has none)" in result.stderr


def test_a_factory_that_returns_no_logger_is_refused(ebkit_plugins, ebkit_cli, tmp_path) -> None:
    wrong = Component(name="wrong", summary="not a logger", factory=lambda: object())
    ebkit_plugins({"wrong": module_plugin("wrong", ebkit_loggers=lambda: [wrong])})
    result = ebkit_cli(*SMALL, "--steps", "2", "--logger", "wrong", "--out", str(tmp_path / "r"))
    assert result.exit_code == 2
    assert "returned object, not an ebkit.Logger" in result.stderr
    assert not (tmp_path / "r").exists()


def test_listed_with_the_components_and_shown_with_their_options(cli) -> None:
    listed = json.loads(cli("components", "loggers", "--json").output)
    assert {entry["name"] for entry in listed} == {"recorder", "exploding", "tensorboard"}
    shown = json.loads(cli("components", "show", "logger", "tensorboard", "--json").output)
    assert [option["name"] for option in shown["options"]] == ["flush_secs", "histograms"]
    # The table names the options as -o takes them.
    assert "logger.tensorboard." in cli("components", "show", "logger", "tensorboard").output


def test_help_and_listing_import_no_logger() -> None:
    script = (
        "import sys\nfrom ebkit.cli.main import main\n"
        "for argv in (['--help'], ['train', '--help'], ['components', 'logger']):\n"
        "    try:\n        main(argv)\n    except SystemExit:\n        pass\n"
        "print('LOADED', sorted(m for m in sys.modules if m.startswith(('tensorboard', "
        "'ebkit.tracking.tensorboard', 'torch'))))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert "LOADED []" in result.stdout
