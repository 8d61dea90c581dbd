"""Tests for ``ebkit train``'s errors (docs/cli.md): one line, the right exit code, nothing
written, end to end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cli_runs import MAIN, TORCH_LINE, ebkit, error_lines

from ebkit import Component, UsageError
from ebkit.plugin.manager import module_plugin

SMALL = [
    "--energy",
    "mlp",
    "--sampler",
    "generator",
    "--loss",
    "gan",
    "--data",
    "25gaussians",
    "-o",
    "energy.width=8",
    "-o",
    "sampler.width=8",
    "-o",
    "sampler.latent_dim=2",
    "--batch-size",
    "8",
]

# -- train errors, end to end ------------------------------------------------------------------


def test_unknown_energy_exits_2_with_one_line_and_a_suggestion(tmp_path) -> None:
    result = ebkit(
        "train", "--energy", "mlpp", "--sampler", "generator", "--loss", "gan",
        "--out", str(tmp_path / "run"),
    )  # fmt: skip
    assert result.returncode == 2
    lines = error_lines(result.stderr)
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: unknown energy 'mlpp'")
    assert "did you mean 'mlp'" in lines[0]
    assert "available: " in lines[0] and "conv" in lines[0]
    assert "Traceback" not in result.stdout + result.stderr
    assert not (tmp_path / "run").exists()


def test_bad_option_value_exits_2_naming_field_value_and_type(tmp_path) -> None:
    result = ebkit("train", *SMALL, "-o", "energy.width=abc", "--out", str(tmp_path / "run"))
    assert result.returncode == 2
    lines = error_lines(result.stderr)
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: energy.width:")
    assert "'abc'" in lines[0] and "int" in lines[0]
    assert "Traceback" not in result.stdout + result.stderr


def test_the_installed_script_reports_errors_the_same_way(tmp_path) -> None:
    script = Path(sys.executable).parent / "ebkit"
    if not script.exists():
        pytest.skip("no ebkit script next to the interpreter")
    result = subprocess.run(
        [str(script), "train", "--energy", "nope", "--sampler", "generator", "--loss", "gan"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert result.returncode == 2
    (line,) = error_lines(result.stderr)
    assert line.startswith("Error: unknown energy 'nope'")


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["-o", "energy.width"], "expected COMPONENT.KEY=VALUE"),
        (["-o", "optimizer.lr=1"], "unknown component 'optimizer'"),
        (["-o", "energy.depth=3"], "energy.depth: unknown option"),
        (["-o", "loss.generator_loss=cube"], "loss.generator_loss: 'cube' is not one of"),
        (["--steps", "0"], "train.steps: 0 is below the minimum 1"),
        (["--regularizer", "feature-penalti"], "did you mean 'feature-penalty'"),
        (["--config", "missing.toml"], "missing.toml does not exist"),
        (["--data-path", "/no/such/ebkit/path"], "--data-path /no/such/ebkit/path does not exist"),
    ],
)
def test_train_usage_errors_exit_2_with_one_line(run_cli, tmp_path, extra, message) -> None:
    result = run_cli("train", *SMALL, *extra, "--out", str(tmp_path / "run"), "--quiet")
    assert result.exit_code == 2, result.output
    lines = error_lines(result.stderr)
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: ") and message in lines[0]
    assert not (tmp_path / "run").exists()


def needs_path(path, **options):
    raise UsageError("dataset 'needs-path' reads files: pass --data-path DIR")


def test_a_dataset_without_its_data_path_exits_2(ebkit_plugins, ebkit_cli, tmp_path) -> None:
    record = Component(name="needs-path", summary="reads files", factory=needs_path)
    ebkit_plugins({"files": module_plugin("files", ebkit_datasets=lambda: [record])})
    args = [arg if arg != "25gaussians" else "needs-path" for arg in SMALL]
    result = ebkit_cli("train", *args, "--out", str(tmp_path / "run"), "--quiet")
    assert result.exit_code == 2
    (line,) = error_lines(result.stderr)
    assert line == "Error: dataset 'needs-path' reads files: pass --data-path DIR"


def test_a_file_dataset_without_data_path_exits_2(run_cli, tmp_path) -> None:
    from ebkit.plugin.manager import get_plugin_manager

    if "mnist" not in {entry.name for entry in get_plugin_manager().components("dataset")}:
        pytest.skip("no mnist dataset registered")
    args = [arg if arg != "25gaussians" else "mnist" for arg in SMALL]
    result = run_cli("train", *args, "--quiet", "--out", str(tmp_path / "run"))
    assert result.exit_code == 2
    (line,) = error_lines(result.stderr)
    assert line.startswith("Error: ") and "--data-path" in line
    assert not (tmp_path / "run").exists()


def test_unwritable_out_exits_1_with_one_line(tmp_path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory\n")
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", MAIN, "train", *SMALL, "--steps", "2",
         "--quiet", "--out", str(blocker / "run")],
        capture_output=True,
        text=True,
        timeout=120,
        env={key: value for key, value in os.environ.items() if key != "EBKIT_DEBUG"},
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    # Training imports torch before it checks --out: this also shows that the torch probe
    # of the import-lightness tests below can see torch when it is imported.
    assert TORCH_LINE.search(result.stderr)
    lines = [line for line in error_lines(result.stderr) if not line.startswith("import time:")]
    assert len(lines) == 1, lines
    assert lines[0].startswith("Error: cannot write to --out")
    assert "Traceback" not in result.stdout + result.stderr
    assert blocker.read_text() == "not a directory\n"


def test_out_that_is_a_file_exits_2(run_cli, tmp_path) -> None:
    target = tmp_path / "taken"
    target.write_text("x")
    result = run_cli("train", *SMALL, "--steps", "2", "--quiet", "--out", str(target))
    assert result.exit_code == 2
    (line,) = error_lines(result.stderr)
    assert "is not a directory" in line
    assert target.read_text() == "x"


def test_existing_non_empty_out_is_refused_and_left_untouched(run_cli, tmp_path) -> None:
    out = tmp_path / "run"
    out.mkdir()
    keep = out / "notes.txt"
    keep.write_text("precious\n")
    before = keep.stat().st_mtime_ns
    result = run_cli("train", *SMALL, "--steps", "2", "--quiet", "--out", str(out))
    assert result.exit_code == 2
    (line,) = error_lines(result.stderr)
    assert line.startswith("Error: --out") and "already holds files" in line
    assert sorted(path.name for path in out.iterdir()) == ["notes.txt"]
    assert keep.read_text() == "precious\n" and keep.stat().st_mtime_ns == before


def test_train_writes_a_run_directory(run_cli, tmp_path) -> None:
    out = tmp_path / "run"
    result = run_cli(
        "train", *SMALL, "--steps", "3", "--seed", "5", "--quiet", "--out", str(out),
        "-o", "train.sample_count=8",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "Trained" in result.stderr and "step 3" in result.stderr
    config = json.loads((out / "config.json").read_text())
    assert config["train"]["steps"] == 3 and config["train"]["seed"] == 5
    assert config["energy"]["options"]["width"] == 8
    assert (out / "samples" / "final.png").is_file()
    assert list((out / "checkpoints").glob("step-0000003.*"))


def test_an_empty_existing_out_is_accepted(run_cli, tmp_path) -> None:
    out = tmp_path / "empty"
    out.mkdir()
    result = run_cli("train", *SMALL, "--steps", "1", "--quiet", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert (out / "config.json").is_file()


def test_unexpected_errors_are_one_line_unless_debugging(
    ebkit_plugins, ebkit_cli, monkeypatch
) -> None:
    def crash(spec, **options):
        raise ZeroDivisionError("bad plugin code")

    record = Component(name="crashy", summary="crashes when built", factory=crash)
    ebkit_plugins({"c": module_plugin("c", ebkit_energies=lambda: [record])})
    args = ["train", "--energy", "crashy", "--sampler", "generator", "--loss", "gan"]
    args += ["--data", "25gaussians", "--quiet", "--out", "unused-dir"]
    monkeypatch.delenv("EBKIT_DEBUG", raising=False)
    result = ebkit_cli(*args)
    assert result.exit_code == 1
    (line,) = error_lines(result.stderr)
    assert "unexpected ZeroDivisionError: bad plugin code" in line
    assert "EBKIT_DEBUG=1" in line
    monkeypatch.setenv("EBKIT_DEBUG", "1")
    with pytest.raises(ZeroDivisionError, match="bad plugin code"):
        ebkit_cli(*args)
