"""Faults within one worker: a diverging trial is failed with its reason and the sweep
goes on; an interrupted sweep continues where it stopped when run again; the report
names every trial's fate. In-process (the CLI's own code, no new Python started)."""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from ebkit.cli.main import cli

pytest.importorskip("optuna")


def report_rows(sweep_dir: Path) -> list[dict[str, str]]:
    result = CliRunner().invoke(cli, ["sweep", "report", str(sweep_dir)])
    assert result.exit_code == 0, result.output
    with (sweep_dir / "report" / "trials.csv").open() as handle:
        return list(csv.DictReader(handle))


def test_a_diverging_trial_is_failed_with_its_reason(
    write_spec: Callable[..., Path], tmp_path: Path
) -> None:
    spec = write_spec('\n[grid]\n"train.energy_lr" = [1e-3, 1e30]\n"loss.alpha" = [0.0]\n')
    result = CliRunner().invoke(cli, ["sweep", str(spec), "--out", str(tmp_path / "sweep")])
    assert result.exit_code == 0, result.output
    assert "1 complete, 1 fail" in result.output
    rows = {row["train.energy_lr"]: row for row in report_rows(tmp_path / "sweep")}
    assert rows["0.001"]["state"] == "complete" and rows["0.001"]["log.loss_energy"]
    diverged = rows["1e+30"]
    assert diverged["state"] == "failed"
    assert diverged["note"].startswith("the energy loss became nan at step")
    assert (tmp_path / "sweep" / "report" / "objective-histogram.png").stat().st_size > 0
    assert (tmp_path / "sweep" / "report" / "objective-by-parameter.png").stat().st_size > 0


def test_an_interrupted_sweep_continues_when_run_again(
    write_spec: Callable[..., Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import ebkit.sweeps.worker as worker

    spec = write_spec('\n[grid]\n"energy.width" = [4, 8, 16]\n')
    real_run_trial = worker.run_trial
    calls = []

    def interrupted_second(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real_run_trial(*args, **kwargs)

    monkeypatch.setattr(worker, "run_trial", interrupted_second)
    out = str(tmp_path / "sweep")
    first = CliRunner().invoke(cli, ["sweep", str(spec), "--out", out])
    assert first.exit_code == 130, first.output
    assert "trial 1 is queued again" in first.output
    monkeypatch.setattr(worker, "run_trial", real_run_trial)
    second = CliRunner().invoke(cli, ["sweep", str(spec), "--out", out])
    assert second.exit_code == 0, second.output
    rows = report_rows(tmp_path / "sweep")
    complete = sorted(row["energy.width"] for row in rows if row["state"] == "complete")
    assert complete == ["16", "4", "8"]
    (stopped,) = [row for row in rows if row["state"] == "failed"]
    assert stopped["note"].startswith("interrupted") and "retried as trial" in stopped["note"]


def test_a_sweep_of_another_spec_in_the_same_folder_is_refused(
    write_spec: Callable[..., Path], tmp_path: Path
) -> None:
    out = str(tmp_path / "sweep")
    spec = write_spec('\n[grid]\n"energy.width" = [4]\n')
    assert CliRunner().invoke(cli, ["sweep", str(spec), "--out", out]).exit_code == 0
    spec = write_spec('\n[grid]\n"energy.width" = [8]\n')
    before = sorted(path.name for path in (tmp_path / "sweep").rglob("*"))
    result = CliRunner().invoke(cli, ["sweep", str(spec), "--out", out])
    assert result.exit_code == 2 and "of a different spec" in result.output
    assert sorted(path.name for path in (tmp_path / "sweep").rglob("*")) == before


def test_a_database_storage_url_holds_the_study(
    write_spec: Callable[..., Path], tmp_path: Path
) -> None:
    spec = write_spec('\n[grid]\n"energy.width" = [4, 8]\n')
    url = f"sqlite:///{tmp_path / 'studies.db'}"
    out = tmp_path / "sweep"
    result = CliRunner().invoke(cli, ["sweep", str(spec), "--out", str(out), "--storage", url])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "studies.db").is_file() and not (out / "study.journal").exists()
    rows = report_rows(out)  # the URL comes from sweep.json
    assert sorted(row["energy.width"] for row in rows if row["state"] == "complete") == ["4", "8"]
