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


def ebkit(
    *args: str, cwd: Path | None = None, timeout: float = 300, **env: str
) -> subprocess.CompletedProcess[str]:
    """Run the real command line in a fresh interpreter of this environment, without the
    caller's ``EBKIT_*`` variables (strict plugins, debugging, allow and deny lists) unless
    ``env`` sets them."""
    environ = {key: value for key, value in os.environ.items() if not key.startswith("EBKIT")}
    return subprocess.run(
        [sys.executable, "-c", MAIN, *args],
        capture_output=True,
        text=True,
        env={**environ, **env},
        cwd=cwd,
        timeout=timeout,
    )


def error_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]
