"""Tests that install plugins for real with ``ebkit install`` and ``ebkit uninstall``,
into an :class:`ebkit.testing.IsolatedVenv` (marked ``slow``): nothing is installed into
the environment the tests run in."""

from __future__ import annotations

import json
import subprocess
import textwrap
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import pytest
from cli_runs import error_lines
from plugin_doubles import BROKEN_HOOKS

from ebkit.testing.venv import IsolatedVenv, explain


def write_project(
    folder: Path,
    dist: str,
    hooks: str,
    *,
    requires: str = "ebkit>=0.1",
) -> Path:
    """A minimal plugin project: a pyproject with the entry point and a hook module."""
    package = dist.replace("-", "_")
    project = folder / dist
    (project / package).mkdir(parents=True)
    (project / "pyproject.toml").write_text(
        textwrap.dedent(
            f"""\
            [build-system]
            requires = ["setuptools>=64"]
            build-backend = "setuptools.build_meta"

            [project]
            name = "{dist}"
            version = "0.1.0"
            dependencies = ["{requires}"]

            [project.entry-points.ebkit]
            {package} = "{package}"

            [tool.setuptools.packages.find]
            include = ["{package}*"]
            """
        )
    )
    (project / package / "__init__.py").write_text(textwrap.dedent(hooks))
    return project


def tiny_hooks(component: str) -> str:
    return f"""\
        from ebkit import Component, hookimpl


        @hookimpl
        def ebkit_energies():
            return [Component("{component}", "a test energy", "ebkit_nowhere.energy:Tiny")]
        """


@dataclass
class Installed:
    """An isolated venv after ``ebkit install`` of three plugin projects in one call."""

    venv: IsolatedVenv
    work: Path
    projects: dict[str, Path]
    result: subprocess.CompletedProcess[str]

    def ebkit(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return self.venv.run(self.venv.ebkit(*args), self.work, env=env)


STRICT = {"EBKIT_STRICT_PLUGINS": "1"}
"""Makes a broken plugin stop other commands; install and uninstall must not care."""


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    """An editable working plugin, a plugin that fails to import and one that requires
    another ebkit, installed with ``ebkit install`` into a fresh isolated venv."""
    pytest.importorskip("pip", reason="installing needs pip")
    work = tmp_path_factory.mktemp("install")
    venv = IsolatedVenv.create(work / "venv")
    projects = {
        "ebkit-tiny": write_project(work, "ebkit-tiny", tiny_hooks("tiny-energy")),
        "ebkit-broken-hooks": write_project(work, "ebkit-broken-hooks", BROKEN_HOOKS),
        "ebkit-future": write_project(
            work, "ebkit-future", tiny_hooks("future-energy"), requires="ebkit>=99"
        ),
    }
    command = venv.ebkit(
        "install",
        "-e",
        str(projects["ebkit-tiny"]),
        str(projects["ebkit-broken-hooks"]),
        str(projects["ebkit-future"]),
        *venv.OFFLINE,
    )
    return Installed(venv, work, projects, venv.run(command, work, env=STRICT))


def lines_of(result: subprocess.CompletedProcess[str]) -> list[str]:
    return result.stdout.splitlines()


@pytest.mark.slow
def test_install_reports_the_new_plugins_and_components(installed: Installed) -> None:
    assert installed.result.returncode == 0, explain(installed.result)
    version = metadata.version("ebkit")
    assert [line for line in lines_of(installed.result) if line.startswith(("plugin", "+"))] == [
        "plugin ebkit-broken-hooks 0.1.0: installed, broken: import failed: ImportError: "
        "this plugin needs the frobnicator package",
        f"plugin ebkit-future 0.1.0: installed, incompatible: it requires ebkit>=99, "
        f"but this is ebkit {version}",
        "plugin ebkit-tiny 0.1.0: installed, loaded",
        "+ energy tiny-energy (ebkit-tiny)",
    ]
    with pytest.raises(metadata.PackageNotFoundError):
        metadata.distribution("ebkit-tiny")  # the tests' own environment is untouched


@pytest.mark.slow
def test_installed_plugins_are_listed_with_their_status(installed: Installed) -> None:
    listed = installed.ebkit("plugins", "--json")
    assert listed.returncode == 0, explain(listed)
    by_name = {item["name"]: item for item in json.loads(listed.stdout)}
    assert by_name["ebkit-tiny"]["components"] == {"energy": ["tiny-energy"]}
    assert by_name["ebkit-future"]["status"] == "incompatible"
    assert by_name["ebkit-future"]["requires_ebkit"] == ">=99"
    assert by_name["ebkit-broken-hooks"]["status"] == "broken"
    others = set(by_name) - {"ebkit-tiny", "ebkit-future", "ebkit-broken-hooks"}
    assert all(by_name[name]["status"] == "loaded" for name in others)  # the installed ones
    skipped = error_lines(listed.stderr)
    assert len(skipped) == 2
    assert any("update it with `ebkit install -U ebkit-future`" in line for line in skipped)
    components = installed.ebkit("components", "energy", "--json")
    assert "ebkit-tiny/tiny-energy" in {item["id"] for item in json.loads(components.stdout)}


@pytest.mark.slow
def test_uninstall_then_rebuild_from_the_requirements(installed: Installed) -> None:
    pinned = installed.ebkit("plugins", "--requirements")
    assert pinned.returncode == 0, explain(pinned)
    projects = installed.projects
    ours = [line for line in lines_of(pinned) if installed.work.as_uri() in line]
    assert sorted(ours) == sorted(
        [
            f"-e {projects['ebkit-tiny'].as_uri()}",
            f"ebkit-broken-hooks @ {projects['ebkit-broken-hooks'].as_uri()}",
            f"ebkit-future @ {projects['ebkit-future'].as_uri()}",
        ]
    ), explain(pinned)
    requirements = installed.work / "requirements.txt"
    requirements.write_text("\n".join(ours) + "\n")

    removed = installed.ebkit("uninstall", *projects, **STRICT)
    assert removed.returncode == 0, explain(removed)
    assert [line for line in lines_of(removed) if line.startswith(("plugin", "-"))] == [
        "plugin ebkit-broken-hooks 0.1.0: removed",
        "plugin ebkit-future 0.1.0: removed",
        "plugin ebkit-tiny 0.1.0: removed",
        "- energy tiny-energy (ebkit-tiny)",
    ]
    gone = installed.ebkit("uninstall", "ebkit_tiny")
    assert gone.returncode == 2
    assert error_lines(gone.stderr)[0].startswith("Error: 'ebkit_tiny' is not installed")

    rebuilt = installed.ebkit("install", "-r", str(requirements), *installed.venv.OFFLINE)
    assert rebuilt.returncode == 0, explain(rebuilt)
    assert sum(line.endswith(": installed, loaded") for line in lines_of(rebuilt)) == 1
    assert "+ energy tiny-energy (ebkit-tiny)" in lines_of(rebuilt)
    assert sum(": installed, " in line for line in lines_of(rebuilt)) == 3
