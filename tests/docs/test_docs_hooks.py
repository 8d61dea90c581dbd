"""docs/plugins.md documents every hook of ebkit/plugin/hookspecs.py."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
HOOKSPECS = REPO / "ebkit" / "plugin" / "hookspecs.py"
GUIDE = REPO / "docs" / "plugins.md"


def _hook_names() -> list[str]:
    tree = ast.parse(HOOKSPECS.read_text())
    return [
        node.name
        for node in tree.body
        if isinstance(node, ast.FunctionDef) and node.name.startswith("ebkit_")
    ]


def test_hookspecs_define_hooks() -> None:
    assert "ebkit_energies" in _hook_names()


@pytest.mark.parametrize("hook", _hook_names())
def test_the_guide_mentions_the_hook_in_backticks(hook: str) -> None:
    # As a code span of its own (`ebkit_energies`) or opening one (`ebkit_energies() -> ...`).
    assert re.search(rf"`{hook}(`|\()", GUIDE.read_text()), f"docs/plugins.md lacks `{hook}`"


def test_the_guide_states_the_current_hook_version() -> None:
    from ebkit.plugin.hookspecs import HOOK_VERSION

    assert f"HOOK_VERSION = {HOOK_VERSION}" in GUIDE.read_text()
