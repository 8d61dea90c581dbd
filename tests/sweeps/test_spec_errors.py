"""Bad sweep specs: one line naming what is wrong and what is accepted, exit 2, and
nothing written (no sweep folder, no study)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from ebkit.cli.main import cli

pytest.importorskip("optuna")

GRID = '\n[grid]\n"energy.width" = [4, 8]\n'

CASES = {
    "unknown option": ('\n[grid]\n"energy.widht" = [4, 8]\n', {}, "did you mean 'width'"),
    "unknown section": ('\n[grid]\n"generator.width" = [4, 8]\n', {}, "unknown section"),
    "empty grid": ('\n[grid]\n"energy.width" = []\n', {}, "is empty"),
    "no grid and no search": ("\n", {}, "exactly one of [grid]"),
    "wrong type in a grid": ('\n[grid]\n"energy.width" = ["wide"]\n', {}, "energy.width"),
    "value out of bounds": ('\n[grid]\n"train.batch_size" = [1, 8]\n', {}, "train.batch_size"),
    "unknown logged metric": (GRID, {"objective": "log.inception"}, "the run logs no 'inception'"),
    "unknown evaluate metric": (GRID, {"objective": "inception_score"}, "not a metric"),
    # Raw proposals exist only for a trainable sampler that refines them (langevin is not).
    "raw metric without raw samples": (GRID, {"objective": "raw.mmd2"}, "not a metric"),
    "search without trials": (
        '\n[search]\n"train.energy_lr" = { low = 1e-4, high = 1e-2 }\n',
        {},
        "trials = N",
    ),
    "range upside down": (
        '\n[search]\n"train.energy_lr" = { low = 1e-2, high = 1e-4 }\n',
        {},
        "must be below",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_bad_spec_is_one_line_exit_2_and_nothing_is_written(
    case: str, write_spec: Callable[..., Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    body, options, expected = CASES[case]
    spec = write_spec(body, **options)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["sweep", str(spec)])
    lines = result.output.strip().splitlines()
    assert result.exit_code == 2, result.output
    assert len(lines) == 1 and lines[0].startswith("Error: sweep spec "), result.output
    assert expected in lines[0]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["spec.toml"]


def test_a_wrongly_typed_sweep_key_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = tmp_path / "spec.toml"
    spec.write_text('[sweep]\nname = "x"\nobjective = "log.loss_energy"\ntrials = "ten"\n')
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["sweep", str(spec)])
    assert result.exit_code == 2
    assert (
        result.output.strip()
        == f"Error: sweep spec {spec}: [sweep] trials = 'ten' must be an integer"
    )


def test_a_missing_spec_file_is_one_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["sweep", str(tmp_path / "absent.toml")])
    assert result.exit_code == 2
    assert result.output.strip().endswith("does not exist or is not a file")
