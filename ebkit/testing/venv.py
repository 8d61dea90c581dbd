"""A virtual environment for tests that install distributions (`ebkit install`, `pip install -e`).

Not loaded by the pytest plugin: import it where a test needs it,
``from ebkit.testing import IsolatedVenv``.
"""

from __future__ import annotations

import os
import site
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from ebkit.plugin.installer import python_module_command

__all__ = ["IsolatedVenv", "clean_environment", "explain"]


class IsolatedVenv:
    """A virtual environment for tests that install distributions (``ebkit install``,
    ``pip install -e``) without touching the environment the tests run in.

    Made with ``--system-site-packages --without-pip``: it sees the installed ebkit,
    torch and pytest without copying them, and ``python -m pip`` runs the outer
    environment's pip, which installs into the virtual environment (its ``sys.prefix``).
    Seeding its own pip and setuptools would take seconds and shadow the outer ones.
    Commands run with one CPU thread and without ``EBKIT_*`` settings of the caller.
    """

    OFFLINE = ("--no-deps", "--no-build-isolation", "--no-index", "--quiet")
    """pip options that install a local project without downloading anything."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.bin = self.root / ("Scripts" if os.name == "nt" else "bin")
        self.python = self.bin / ("python.exe" if os.name == "nt" else "python")

    @classmethod
    def create(cls, root: str | os.PathLike[str]) -> IsolatedVenv:
        venv = cls(Path(root))
        made = venv.run(
            python_module_command("venv", "--system-site-packages", "--without-pip", str(root))
        )
        assert made.returncode == 0, explain(made)
        venv._see_outer_environment()
        return venv

    def _see_outer_environment(self) -> None:
        """``--system-site-packages`` exposes the base interpreter's packages; when the
        tests run inside a virtual environment themselves, expose that one's too (with
        its .pth files, which is how editable installs are found)."""
        if sys.prefix == sys.base_prefix:
            return
        found = self.run([str(self.python), "-c", "import site; print(site.getsitepackages()[0])"])
        assert found.returncode == 0, explain(found)
        lines = [f"import site; site.addsitedir({path!r})" for path in site.getsitepackages()]
        (Path(found.stdout.strip()) / "_outer_environment.pth").write_text("\n".join(lines) + "\n")

    def ebkit(self, *args: str) -> list[str]:
        """The ``ebkit`` command in the environment: its script if it has one (not when
        ebkit lives in the outer environment), else ``main()`` through ``-c``."""
        script = self.bin / "ebkit"
        if script.exists():
            return [str(script), *args]
        return [str(self.python), "-c", "from ebkit.cli.main import main; main()", *args]

    def run(
        self,
        args: Sequence[str],
        cwd: str | os.PathLike[str] | None = None,
        *,
        timeout: float = 300,
        env: Mapping[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run a command with a clean environment (plus ``env``) and capture its output."""
        return subprocess.run(
            list(args),
            cwd=cwd,
            env={**clean_environment(), **(env or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
        )


def clean_environment() -> dict[str, str]:
    """The current environment without settings that change what ebkit loads or how
    pytest runs, and with one CPU thread: test networks are tiny, and on a busy machine
    several threads per process are much slower than one."""
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("EBKIT_") and key not in ("PYTEST_ADDOPTS", "PYTHONSAFEPATH")
    }
    environment.setdefault("OMP_NUM_THREADS", "1")
    return environment


def explain(result: subprocess.CompletedProcess[str]) -> str:
    """A finished command's exit code and output, for assertion messages."""
    return f"exit {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
