"""Tests for ``ebkit plugin new`` (ebkit/plugin/scaffold.py and its templates).

The fast tests render each kind into a temporary folder, check the names, the files and
the error paths, lint the result, and load the generated component in-process through
the conformance checks. The ``slow`` test does what a plugin author does, in an
isolated virtual environment: ``ebkit install -e`` the five projects, run their own
tests, and ``ebkit train`` with each.
"""

from __future__ import annotations

import importlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ebkit import UsageError
from ebkit.plugin.compat import running_version
from ebkit.plugin.components import KINDS
from ebkit.plugin.hookspecs import HOOK_VERSION
from ebkit.plugin.manager import PluginManager
from ebkit.plugin.scaffold import KIND_TEMPLATES, ebkit_requirement, new_plugin, plugin_names
from ebkit.testing import (
    check_dataset,
    check_energy,
    check_loss,
    check_regularizer,
    check_sampler,
)
from ebkit.testing.venv import IsolatedVenv, explain

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

CHECKS = {
    "energy": check_energy,
    "sampler": check_sampler,
    "loss": check_loss,
    "regularizer": check_regularizer,
    "dataset": check_dataset,
}


def error_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


# -- names ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "dist", "package", "component"),
    [
        ("ebkit-foo", "ebkit-foo", "ebkit_foo", "foo"),
        ("Ebkit_Foo.Bar", "ebkit-foo-bar", "ebkit_foo_bar", "foo-bar"),
        ("my-energies", "my-energies", "my_energies", "my-energies"),
        ("ebkit-2d-toys", "ebkit-2d-toys", "ebkit_2d_toys", "2d-toys"),
    ],
)
def test_plugin_names_derive_distribution_package_and_component(
    name, dist, package, component
) -> None:
    names = plugin_names(name)
    assert (names.dist, names.package, names.component) == (dist, package, component)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("bad name", "is not a valid distribution name"),
        ("-foo", "is not a valid distribution name"),
        ("foo-", "is not a valid distribution name"),
        ("", "is not a valid distribution name"),
        ("3d-energy", "is not a Python identifier"),
        ("class", "is not a Python identifier"),
        ("ebkit", "is reserved"),
        ("torch", "is reserved"),
        ("json", "is already importable here"),
    ],
)
def test_invalid_plugin_names_are_one_line_errors(name, message) -> None:
    with pytest.raises(UsageError, match=message) as caught:
        plugin_names(name)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        ("0.1.0", "ebkit>=0.1,<0.2"),
        ("0.3.0.dev2", "ebkit>=0.3,<0.4"),
        ("1.4.2", "ebkit>=1.4,<2"),
        ("2", "ebkit>=2.0,<3"),
    ],
)
def test_the_generated_requirement_is_the_compatible_series(version, expected) -> None:
    assert ebkit_requirement(version) == expected


def test_every_template_is_package_data() -> None:
    """A non-editable install carries only the files pyproject's package-data names."""
    root = Path(__file__).resolve().parents[2]
    pyproject = tomllib.loads((root / "pyproject.toml").read_text())
    patterns = pyproject["tool"]["setuptools"]["package-data"]["ebkit"]
    templates = root / "ebkit" / "plugin" / "templates"
    files = [path.relative_to(root / "ebkit") for path in templates.rglob("*") if path.is_file()]
    files = [path for path in files if "__pycache__" not in path.parts]
    assert len(files) == 3 + 3 * len(KINDS)
    for path in files:
        assert any(path.match(pattern) for pattern in patterns), path


# -- rendering -------------------------------------------------------------------------------


def generate(tmp_path: Path, kind: str, name: str | None = None):
    return new_plugin(name or f"ebkit-scaffold-{kind}", kind, tmp_path)


@pytest.mark.parametrize("kind", KINDS)
def test_a_project_has_the_entry_point_the_range_and_the_files(tmp_path, kind) -> None:
    project = generate(tmp_path, kind)
    package = f"ebkit_scaffold_{kind}"
    assert project.path == tmp_path / f"ebkit-scaffold-{kind}"
    assert set(project.files) == {
        "pyproject.toml",
        "README.md",
        ".gitignore",
        f"{package}/__init__.py",
        f"{package}/{kind}.py",
        f"tests/test_{package}.py",
    }
    assert all((project.path / path).is_file() for path in project.files)
    pyproject = tomllib.loads((project.path / "pyproject.toml").read_text())
    assert pyproject["project"]["name"] == f"ebkit-scaffold-{kind}"
    assert pyproject["project"]["entry-points"]["ebkit"] == {package: package}
    assert pyproject["project"]["dependencies"] == [ebkit_requirement(running_version())]
    hooks = (project.path / package / "__init__.py").read_text()
    assert f"EBKIT_HOOK_VERSION = {HOOK_VERSION}\n" in hooks
    readme = (project.path / "README.md").read_text()
    assert "ebkit install -e ." in readme and "ebkit train " in readme
    assert "$" not in readme + hooks  # every placeholder was filled
    for path in project.files:
        if path.endswith(".py"):
            compile((project.path / path).read_text(), path, "exec")
    assert not list(tmp_path.glob(".*.partial"))


@pytest.mark.parametrize("kind", KINDS)
def test_the_generated_component_loads_and_passes_its_conformance_check(
    tmp_path, monkeypatch, kind, capsys
) -> None:
    project = generate(tmp_path, kind)
    package = f"ebkit_scaffold_{kind}"
    monkeypatch.syspath_prepend(str(project.path))
    try:
        module = importlib.import_module(package)
        plugins = PluginManager(
            load_entry_points=False, extra_plugins={project.dist: module}, environ={}
        )
        entry = plugins.lookup(kind, project.component)
        assert entry.qualified_id == f"ebkit-scaffold-{kind}/scaffold-{kind}"
        assert entry.component.summary == KIND_TEMPLATES[kind].summary
        CHECKS[kind](entry.component)
    finally:
        for name in [name for name in sys.modules if name.startswith(package)]:
            del sys.modules[name]
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("kind", KINDS)
def test_the_generated_project_is_lint_clean(tmp_path, kind) -> None:
    ruff = shutil.which("ruff")
    if ruff is None:
        pytest.skip("ruff is not installed")
    project = generate(tmp_path, kind)
    for command in ([ruff, "check", "--no-cache", "."], [ruff, "format", "--check", "."]):
        linted = subprocess.run(command, cwd=project.path, capture_output=True, text=True)
        assert linted.returncode == 0, explain(linted)


def test_an_empty_existing_folder_is_used(tmp_path) -> None:
    (tmp_path / "ebkit-empty").mkdir()
    project = new_plugin("ebkit-empty", "loss", tmp_path)
    assert (project.path / "pyproject.toml").is_file()


def test_a_missing_parent_folder_is_created(tmp_path) -> None:
    project = new_plugin("ebkit-deep", "loss", tmp_path / "a" / "b")
    assert project.path == tmp_path / "a" / "b" / "ebkit-deep"


def test_an_existing_project_is_never_overwritten(tmp_path) -> None:
    target = tmp_path / "ebkit-taken"
    target.mkdir()
    (target / "keep.txt").write_text("mine")
    with pytest.raises(UsageError, match="already exists"):
        new_plugin("ebkit-taken", "energy", tmp_path)
    assert [path.name for path in target.iterdir()] == ["keep.txt"]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["ebkit-taken"]


def test_a_failure_half_way_leaves_nothing_behind(tmp_path, monkeypatch) -> None:
    def fail(self, *args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(Path, "write_text", fail)
    with pytest.raises(OSError, match="disk full"):
        new_plugin("ebkit-half", "energy", tmp_path)
    assert list(tmp_path.iterdir()) == []


# -- the command ---------------------------------------------------------------------------------


def test_plugin_new_writes_the_project_and_says_what_next(ebkit_cli, tmp_path) -> None:
    result = ebkit_cli(
        "plugin", "new", "ebkit-cli-made", "--kind", "regularizer", "--dir", str(tmp_path)
    )
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == (
        f"Created ebkit-cli-made in {tmp_path / 'ebkit-cli-made'} (regularizer 'cli-made'):"
    )
    assert f"  ebkit install -e {tmp_path / 'ebkit-cli-made'}" in lines
    assert "--regularizer cli-made" in lines[-1]
    assert (tmp_path / "ebkit-cli-made" / "ebkit_cli_made" / "regularizer.py").is_file()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--kind", "energies"], None),  # plurals are accepted
        (["--kind", "model"], "Error: --kind: unknown component kind 'model' (accepted: energy"),
        ([], "Error: --kind is required (accepted: energy, sampler, loss, regularizer, dataset)"),
    ],
)
def test_plugin_new_kind_errors(ebkit_cli, tmp_path, args, message) -> None:
    result = ebkit_cli("plugin", "new", "ebkit-kinds", *args, "--dir", str(tmp_path))
    if message is None:
        assert result.exit_code == 0, result.output
        return
    assert result.exit_code == 2
    (line,) = error_lines(result.stderr)
    assert line.startswith(message)


def test_plugin_new_refuses_an_existing_folder_and_a_bad_name(ebkit_cli, tmp_path) -> None:
    (tmp_path / "ebkit-there").mkdir()
    (tmp_path / "ebkit-there" / "file").write_text("")
    for name, message in [("ebkit-there", "already exists"), ("no good", "valid distribution")]:
        result = ebkit_cli("plugin", "new", name, "--kind", "loss", "--dir", str(tmp_path))
        assert result.exit_code == 2
        (line,) = error_lines(result.stderr)
        assert line.startswith("Error: ") and message in line


def test_plugin_new_with_a_file_as_dir_is_an_error(ebkit_cli, tmp_path) -> None:
    (tmp_path / "file").write_text("")
    result = ebkit_cli(
        "plugin", "new", "ebkit-x", "--kind", "loss", "--dir", str(tmp_path / "file")
    )
    assert result.exit_code == 2
    assert error_lines(result.stderr) == [f"Error: --dir {tmp_path / 'file'} is not a folder"]


# -- a plugin author's whole journey, in an isolated virtual environment -------------------------

TRAIN_FAST = ["--steps", "5", "--batch-size", "8", "--quiet", "-o", "train.sample_count=8"]
"""Few steps and small networks: the point is that training runs with the component."""
SMALL_SAMPLER = {
    "sampler": ["-o", "sampler.steps=2"],  # the generated Langevin sampler
    "default": ["-o", "sampler.width=16", "-o", "sampler.latent_dim=4"],  # the generator
}


@pytest.fixture(scope="module")
def authored(tmp_path_factory: pytest.TempPathFactory) -> tuple[IsolatedVenv, Path, dict]:
    """One project of each kind, generated by ``ebkit plugin new`` and installed with
    ``ebkit install -e`` into one isolated venv."""
    pytest.importorskip("pip", reason="installing needs pip")
    work = tmp_path_factory.mktemp("authored")
    venv = IsolatedVenv.create(work / "venv")
    projects = {}
    for kind in KINDS:
        made = venv.run(venv.ebkit("plugin", "new", f"ebkit-made-{kind}", "--kind", kind), work)
        assert made.returncode == 0, explain(made)
        projects[kind] = new_project_path = work / f"ebkit-made-{kind}"
        assert new_project_path.is_dir()
    editable = [argument for kind in KINDS for argument in ("-e", str(projects[kind]))]
    installed = venv.run(venv.ebkit("install", *editable, *venv.OFFLINE), work)
    assert installed.returncode == 0, explain(installed)
    return venv, work, {"projects": projects, "report": installed.stdout.splitlines()}


@pytest.mark.slow
def test_ebkit_install_reports_each_generated_component(authored) -> None:
    _, _, state = authored
    for kind in KINDS:
        assert f"+ {kind} made-{kind} (ebkit-made-{kind})" in state["report"]
        assert f"plugin ebkit-made-{kind} 0.1.0: installed, loaded" in state["report"]


@pytest.mark.slow
def test_the_generated_tests_pass_in_the_venv(authored) -> None:
    venv, work, state = authored
    folders = [str(state["projects"][kind] / "tests") for kind in KINDS]
    tested = venv.run(
        [str(venv.python), "-m", "pytest", "-q", "-p", "no:cacheprovider", *folders], work
    )
    assert tested.returncode == 0, explain(tested)
    counts = tested.stdout.strip().splitlines()[-1]
    assert " passed" in counts and "failed" not in counts and "skipped" not in counts


@pytest.mark.slow
@pytest.mark.integration("ebkit-autoencoder", "ebkit-losses")  # the commands' autoencoder, margin
@pytest.mark.parametrize("kind", KINDS)
def test_ebkit_trains_with_the_generated_component(authored, kind) -> None:
    venv, work, _ = authored
    arguments = KIND_TEMPLATES[kind].train.format(component=f"made-{kind}").split()
    arguments = arguments[: arguments.index("--steps")]  # TRAIN_FAST sets the steps
    run = work / f"run-{kind}"
    small = SMALL_SAMPLER.get(kind, SMALL_SAMPLER["default"])
    command = venv.ebkit("train", *arguments, *TRAIN_FAST, *small, "--out", str(run))
    trained = venv.run(command, work)
    assert trained.returncode == 0, explain(trained)
    config = json.loads((run / "config.json").read_text())
    section = {"dataset": "data"}.get(kind, kind)
    chosen = config["regularizers"][0] if kind == "regularizer" else config[section]
    assert chosen["id"] == f"ebkit-made-{kind}/made-{kind}"
    assert (run / "checkpoints" / "step-0000005.safetensors").is_file()
