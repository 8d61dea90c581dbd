"""The example plugin of docs/plugins.md installs into a fresh virtualenv and works there,
and the guide shows its files exactly as they are.

The virtualenv is an :class:`ebkit.testing.IsolatedVenv` (``--system-site-packages
--without-pip``): it sees the installed ebkit, torch and pytest without copying them, and
the outer environment's pip installs into it. Nothing is downloaded: ``--no-index
--no-deps --no-build-isolation``.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from ebkit.testing.venv import IsolatedVenv, explain

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "docs" / "example-plugin"
GUIDE = REPO / "docs" / "plugins.md"
LOSS = "hinge"


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[IsolatedVenv, Path]:
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
    venv = IsolatedVenv.create(work / "venv")
    install = venv.run([str(venv.python), "-m", "pip", "install", *venv.OFFLINE, str(copy)], work)
    assert install.returncode == 0, explain(install)
    return venv, copy


def test_the_example_is_installed_in_the_venv_only(installed: tuple[IsolatedVenv, Path]) -> None:
    venv, copy = installed
    where = venv.run(
        [str(venv.python), "-c", "import ebkit_example; print(ebkit_example.__file__)"], copy.parent
    )
    assert where.returncode == 0, explain(where)
    assert Path(where.stdout.strip()).resolve().is_relative_to(venv.root.resolve())


def test_cli_lists_the_example_components(installed: tuple[IsolatedVenv, Path]) -> None:
    venv, copy = installed
    listed = venv.run(venv.ebkit("components", "--json"), copy.parent)
    assert listed.returncode == 0, explain(listed)
    ids = {item["id"] for item in json.loads(listed.stdout)}
    assert {"ebkit-example/quadratic-mlp", f"ebkit-example/{LOSS}"} <= ids
    plugins = venv.run(venv.ebkit("plugins", "--json"), copy.parent)
    assert plugins.returncode == 0, explain(plugins)
    (info,) = [item for item in json.loads(plugins.stdout) if item["name"] == "ebkit-example"]
    assert (info["status"], info["source"], info["version"]) == ("loaded", "entry point", "0.1.0")


def test_cli_trains_the_example_energy_with_the_generator(
    installed: tuple[IsolatedVenv, Path],
) -> None:
    venv, copy = installed
    run = copy.parent / "run"
    command = venv.ebkit(
        "train", "--energy", "quadratic-mlp", "--sampler", "generator", "--loss", LOSS,
        "--data", "25gaussians", "--steps", "30", "--out", str(run), "--quiet",
        "-o", "sampler.width=32",
    )  # fmt: skip
    trained = venv.run(command, copy.parent)
    assert trained.returncode == 0, explain(trained)
    assert (run / "checkpoints" / "step-0000030.safetensors").is_file()
    assert (run / "checkpoints" / "step-0000030.json").is_file()
    config = json.loads((run / "config.json").read_text())
    assert config["energy"]["id"] == "ebkit-example/quadratic-mlp"


def test_the_example_tests_pass_in_the_venv(installed: tuple[IsolatedVenv, Path]) -> None:
    venv, copy = installed
    tested = venv.run(
        [str(venv.python), "-m", "pytest", str(copy / "tests"), "-q", "-p", "no:cacheprovider"],
        copy.parent,
    )
    assert tested.returncode == 0, explain(tested)


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
