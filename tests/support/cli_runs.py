"""Running the real ``ebkit`` command line in a fresh interpreter, and reading what it
printed: shared by the command-line tests."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

MAIN = "import sys; from ebkit.cli.main import main; main(sys.argv[1:])"
TORCH_LINE = re.compile(r"\|\s+torch\s*$", re.MULTILINE)


def ebkit(*args: str, cwd: Path | None = None, **env: str) -> subprocess.CompletedProcess:
    """Run the real command line in a fresh interpreter."""
    environ = {**os.environ, "EBKIT_STRICT_PLUGINS": "", **env}
    environ.pop("EBKIT_DEBUG", None)
    return subprocess.run(
        [sys.executable, "-c", MAIN, *args],
        capture_output=True,
        text=True,
        env=environ,
        cwd=cwd,
        timeout=120,
    )


def error_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]
