"""``ebkit sweep`` without Optuna, and the CLI's import-lightness: ``ebkit --help`` and
``ebkit sweep --help`` never import Optuna (nor torch)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from ebkit.cli.main import cli


def test_without_optuna_the_error_names_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import ebkit.sweeps.run as run

    real = run.importlib.util.find_spec
    monkeypatch.setattr(
        run.importlib.util, "find_spec", lambda name: None if name == "optuna" else real(name)
    )
    spec = tmp_path / "spec.toml"
    spec.write_text('[sweep]\nname = "x"\nobjective = "energy"\n[grid]\n"energy.width" = [4]\n')
    result = CliRunner().invoke(cli, ["sweep", str(spec)])
    assert result.exit_code == 1
    assert result.output.strip() == "Error: ebkit sweep needs Optuna: pip install 'ebkit[sweep]'"


def test_help_imports_neither_optuna_nor_torch() -> None:
    script = """
import json, sys
from ebkit.cli.main import main
report = {}
for argv in (["--help"], ["sweep", "--help"], ["sweep", "report", "--help"]):
    try:
        main(argv)
    except SystemExit as exit:
        report[" ".join(argv)] = [exit.code, "optuna" in sys.modules, "torch" in sys.modules]
print("REPORT " + json.dumps(report))
"""
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.split("REPORT ", 1)[1])
    assert report == {command: [0, False, False] for command in report} and len(report) == 3
    assert "ebkit sweep SPEC.toml" in result.stdout
