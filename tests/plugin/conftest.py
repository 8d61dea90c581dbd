"""Fixtures of the plugin manager's tests."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest


@pytest.fixture
def distributions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Write packages with ``*.dist-info`` metadata on a temporary sys.path entry."""
    created: list[str] = []

    def make(
        dist: str,
        modules: dict[str, str],
        entry_points: dict[str, str],
        requires: tuple[str, ...] = (),
    ) -> None:
        for module, source in modules.items():
            (tmp_path / f"{module}.py").write_text(textwrap.dedent(source))
            created.append(module)
        info = tmp_path / f"{dist}-1.2.3.dist-info"
        info.mkdir()
        requires_dist = "".join(f"Requires-Dist: {line}\n" for line in requires)
        (info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.2.3\n{requires_dist}"
        )
        lines = "".join(f"{name} = {target}\n" for name, target in entry_points.items())
        (info / "entry_points.txt").write_text(f"[ebkit]\n{lines}")

    monkeypatch.syspath_prepend(str(tmp_path))
    yield make
    for module in created:
        sys.modules.pop(module, None)
