"""The example plugin of docs/plugins.md installs into a fresh virtualenv and works there,
and the guide shows its files exactly as they are.

The virtualenv is made with ``--system-site-packages --without-pip``: it sees the
installed ebkit, torch and pytest without copying them, and ``VENV/bin/python -m pip``
runs the outer environment's pip, which installs into the virtualenv (its ``sys.prefix``).
The pip and setuptools that ``ensurepip`` would seed take seconds and would shadow the
outer ones (old setuptools cannot build wheels without ``wheel``). Nothing is downloaded:
``--no-index --no-deps --no-build-isolation``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import site
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "docs" / "example-plugin"
GUIDE = REPO / "docs" / "plugins.md"
LOSS = "hinge"


def _environment() -> dict[str, str]:
    """The current environment without settings that would change what ebkit loads, and
    with one CPU thread: the networks are tiny, and on a busy machine (tests running in
    parallel) several threads per process are much slower than one."""
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("EBKIT_") and key not in ("PYTEST_ADDOPTS", "PYTHONSAFEPATH")
    }
    environment.setdefault("OMP_NUM_THREADS", "1")
    return environment


def _run(args: list[str], cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, cwd=cwd, env=_environment(), capture_output=True, text=True, timeout=timeout
    )


def _explain(result: subprocess.CompletedProcess[str]) -> str:
    return f"exit {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"


class Venv:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.bin = root / ("Scripts" if os.name == "nt" else "bin")
        self.python = self.bin / ("python.exe" if os.name == "nt" else "python")

    def ebkit(self, *args: str) -> list[str]:
        """The ``ebkit`` command in the venv: its script if the venv has one (it has not
        when ebkit itself lives in the outer environment), else ``main()`` through -c
        (``python -m ebkit.cli`` does not call ``main``)."""
        script = self.bin / "ebkit"
        if script.exists():
            return [str(script), *args]
        return [str(self.python), "-c", "from ebkit.cli import main; main()", *args]


def _see_outer_environment(venv: Venv) -> None:
    """``--system-site-packages`` exposes the base interpreter's packages; when the tests
    run inside a virtualenv themselves, expose that one's too (with its .pth files, which
    is how editable installs are found)."""
    if sys.prefix == sys.base_prefix:
        return
    found = _run([str(venv.python), "-c", "import site; print(site.getsitepackages()[0])"], REPO)
    assert found.returncode == 0, _explain(found)
    lines = [f"import site; site.addsitedir({path!r})" for path in site.getsitepackages()]
    (Path(found.stdout.strip()) / "_outer_environment.pth").write_text("\n".join(lines) + "\n")


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Venv, Path]:
    """A virtualenv with a copy of docs/example-plugin installed (not editable)."""
    pytest.importorskip("pip", reason="installing the example needs pip")
    work = tmp_path_factory.mktemp("example-plugin")
    copy = work / "ebkit-example"
    shutil.copytree(
        EXAMPLE,
        copy,
        ignore=shutil.ignore_patterns(
            "build", "*.egg-info", "__pycache__", ".pytest_cache", ".ruff_cache"
        ),
    )
    venv = Venv(work / "venv")
    made = _run(
        [sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(venv.root)],
        work,
    )
    assert made.returncode == 0, _explain(made)
    _see_outer_environment(venv)
    pip = ["install", "--no-deps", "--no-build-isolation", "--no-index", "--quiet"]
    install = _run([str(venv.python), "-m", "pip", *pip, str(copy)], work)
    assert install.returncode == 0, _explain(install)
    return venv, copy


def test_the_example_is_installed_in_the_venv_only(installed: tuple[Venv, Path]) -> None:
    venv, copy = installed
    where = _run(
        [str(venv.python), "-c", "import ebkit_example; print(ebkit_example.__file__)"], copy.parent
    )
    assert where.returncode == 0, _explain(where)
    assert Path(where.stdout.strip()).resolve().is_relative_to(venv.root.resolve())


def test_cli_lists_the_example_components(installed: tuple[Venv, Path]) -> None:
    venv, copy = installed
    listed = _run(venv.ebkit("components", "--json"), copy.parent)
    assert listed.returncode == 0, _explain(listed)
    ids = {item["id"] for item in json.loads(listed.stdout)}
    assert {"ebkit-example/quadratic-mlp", f"ebkit-example/{LOSS}"} <= ids
    plugins = _run(venv.ebkit("plugins", "--json"), copy.parent)
    assert plugins.returncode == 0, _explain(plugins)
    (info,) = [item for item in json.loads(plugins.stdout) if item["name"] == "ebkit-example"]
    assert (info["status"], info["source"], info["version"]) == ("loaded", "entry point", "0.1.0")


def test_cli_trains_the_example_energy_with_the_generator(installed: tuple[Venv, Path]) -> None:
    venv, copy = installed
    run = copy.parent / "run"
    command = venv.ebkit(
        "train", "--energy", "quadratic-mlp", "--sampler", "generator", "--loss", LOSS,
        "--data", "25gaussians", "--steps", "30", "--out", str(run), "--quiet",
        "-o", "sampler.width=32",
    )  # fmt: skip
    trained = _run(command, copy.parent)
    assert trained.returncode == 0, _explain(trained)
    assert (run / "checkpoints" / "step-0000030.safetensors").is_file()
    assert (run / "checkpoints" / "step-0000030.json").is_file()
    config = json.loads((run / "config.json").read_text())
    assert config["energy"]["id"] == "ebkit-example/quadratic-mlp"


def test_the_example_tests_pass_in_the_venv(installed: tuple[Venv, Path]) -> None:
    venv, copy = installed
    tested = _run(
        [str(venv.python), "-m", "pytest", str(copy / "tests"), "-q", "-p", "no:cacheprovider"],
        copy.parent,
        timeout=300,
    )
    assert tested.returncode == 0, _explain(tested)


# -- the guide embeds the example's files verbatim -----------------------------------------

_EMBEDDED = re.compile(
    r"<!-- example-plugin: (?P<path>\S+) -->\s*\n"  # the marker line
    r"(?P<fence>`{3,})[^\n]*\n(?P<body>.*?)\n(?P=fence)",  # the fenced block after it
    re.DOTALL,
)


def _embedded_files() -> dict[str, str]:
    return {match["path"]: match["body"] for match in _EMBEDDED.finditer(GUIDE.read_text())}


def test_the_guide_embeds_every_file_of_the_example() -> None:
    files = {
        path.relative_to(EXAMPLE).as_posix()
        for path in EXAMPLE.rglob("*")
        if path.is_file() and path.suffix in (".py", ".toml")
        and "__pycache__" not in path.parts and "build" not in path.parts
    }  # fmt: skip
    assert set(_embedded_files()) == files


@pytest.mark.parametrize("path", sorted(_embedded_files()) if GUIDE.exists() else [])
def test_the_guide_shows_the_file_as_it_is(path: str) -> None:
    assert _embedded_files()[path] + "\n" == (EXAMPLE / path).read_text(), (
        f"docs/plugins.md shows an outdated {path}; copy the file into the guide again"
    )
