"""Tests for the ebkit-ladder placeholder plugin: installable, listed, registers nothing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import ebkit_ladder

PLUGIN_ROOT = Path(__file__).resolve().parents[1]


def test_registers_no_hook_implementations() -> None:
    hooks = [name for name in vars(ebkit_ladder) if name.startswith("ebkit_")]
    assert hooks == []


def test_has_a_docstring_saying_what_comes_later() -> None:
    assert ebkit_ladder.__doc__ is not None
    assert "later issue" in ebkit_ladder.__doc__


def test_hook_module_does_not_import_torch() -> None:
    code = "import sys, ebkit_ladder; sys.exit('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True)
    assert result.returncode == 0, result.stderr.decode()


def test_pyproject_declares_the_entry_point() -> None:
    tomllib = pytest.importorskip("tomllib")
    project = tomllib.loads((PLUGIN_ROOT / "pyproject.toml").read_text())["project"]
    assert project["name"] == "ebkit-ladder"
    assert project["version"] == "0.1.0"
    assert project["entry-points"]["ebkit"] == {"ladder": "ebkit_ladder"}
    assert project["dependencies"] == ["ebkit>=0.1,<0.2"]


def test_loads_as_a_plugin_with_no_components(ebkit_plugins) -> None:
    manager = ebkit_plugins({"ebkit-ladder": ebkit_ladder})
    info = manager.plugins["ebkit-ladder"]
    assert info.status == "loaded"
    assert info.components == {}
