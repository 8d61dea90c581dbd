"""Tests for the shape of the package: modules stay small, and imports point only down
the floors (core at the bottom; the built-ins on the core and the plugin API; metrics
never reaching for the built-ins)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "ebkit"
MODULES = sorted(PACKAGE.rglob("*.py"))
MAX_LINES = 400


def relative(path: Path) -> str:
    return path.relative_to(PACKAGE).as_posix()


def ebkit_imports(path: Path) -> set[str]:
    """The ebkit modules that ``path`` imports, wherever in it (inside functions too)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        found.update(name for name in names if name == "ebkit" or name.startswith("ebkit."))
    return found


def test_the_package_has_modules() -> None:
    assert len(MODULES) > 50


def test_no_module_is_longer_than_400_lines() -> None:
    lengths = {relative(path): len(path.read_text().splitlines()) for path in MODULES}
    too_long = {name: count for name, count in lengths.items() if count > MAX_LINES}
    assert too_long == {}


REPOSITORY = PACKAGE.parent
SOURCE_FOLDERS = ("tests", "plugins", "benchmarks", "examples", "docs", "scripts")


def test_no_python_file_of_the_repository_is_longer_than_400_lines() -> None:
    """Tests, plugins, benchmarks and examples too (the package is checked above)."""
    files = [
        path
        for folder in SOURCE_FOLDERS
        for path in (REPOSITORY / folder).rglob("*.py")
        if not any(
            part.startswith(".") or part.endswith(".egg-info")
            for part in path.relative_to(REPOSITORY).parts
        )
    ]
    assert len(files) > 100
    lengths = {
        path.relative_to(REPOSITORY).as_posix(): len(path.read_text().splitlines())
        for path in files
    }
    assert {name: count for name, count in lengths.items() if count > MAX_LINES} == {}


def floor(package: str, *allowed: str) -> list[tuple[str, str]]:
    """(module, ebkit import) pairs of ``package`` that leave the ``allowed`` prefixes."""
    return [
        (relative(path), name)
        for path in sorted((PACKAGE / package).rglob("*.py"))
        for name in sorted(ebkit_imports(path))
        if not any(name == prefix or name.startswith(prefix + ".") for prefix in allowed)
    ]


def test_the_core_imports_nothing_of_ebkit_above_it() -> None:
    assert floor("core", "ebkit.core", "ebkit.nets") == []


def test_nets_import_only_the_core() -> None:
    assert [name for name in ebkit_imports(PACKAGE / "nets.py") if "ebkit.core" not in name] == []


def test_the_builtins_stand_on_the_core_and_the_plugin_api() -> None:
    allowed = ("ebkit.core", "ebkit.nets", "ebkit.builtins")
    plugin_api = ("ebkit.plugin.components", "ebkit.plugin.hookspecs")
    # replay and generator-langevin look their chain kernel up in the registry.
    assert floor("builtins", *allowed, *plugin_api, "ebkit.plugin.kernels") == []


def test_metrics_stand_on_the_core_alone() -> None:
    assert floor("metrics", "ebkit.core", "ebkit.nets", "ebkit.metrics") == []


@pytest.mark.parametrize("package", ["metrics", "pictures"])
def test_metrics_and_pictures_do_not_import_the_builtins_or_the_cli(package: str) -> None:
    offending = [
        (module, name)
        for module, name in floor(
            package, "ebkit.core", "ebkit.nets", "ebkit.metrics", "ebkit.runs"
        )
        if name.startswith(("ebkit.builtins", "ebkit.cli", "ebkit.plugin")) or name == "ebkit"
    ]
    assert offending == []


PLUGIN_API = [
    "ebkit",
    "ebkit.nets",
    "ebkit.testing",
    "ebkit.testing.conformance",
    "ebkit.metrics",
    "ebkit.core.interfaces",
    "ebkit.core.chains",
    "ebkit.core.data",
    "ebkit.core.errors",
    "ebkit.plugin.components",
    "ebkit.plugin.hookspecs",
]


@pytest.mark.parametrize("module_name", PLUGIN_API)
def test_modules_plugins_may_import_declare_what_they_export(module_name: str) -> None:
    import importlib

    module = importlib.import_module(module_name)
    exported = getattr(module, "__all__", None)
    assert exported, f"{module_name} has no __all__"
    assert len(set(exported)) == len(exported)
    missing = [name for name in exported if not hasattr(module, name)]
    assert missing == [], f"{module_name}.__all__ names what it lacks: {missing}"


PLUGIN_PACKAGES = sorted(
    package
    for package in (PACKAGE.parent / "plugins").glob("ebkit-*/ebkit_*")
    if package.is_dir() and not package.name.endswith(".egg-info")
)
PLUGIN_MODULES = [module for package in PLUGIN_PACKAGES for module in package.rglob("*.py")]


def test_first_party_plugins_exist() -> None:
    assert len(PLUGIN_PACKAGES) >= 4


@pytest.mark.parametrize("module", PLUGIN_MODULES, ids=lambda path: path.name)
def test_first_party_plugins_import_only_the_plugin_api(module: Path) -> None:
    """A first-party plugin is written as a stranger would write one: it imports from
    ebkit only the modules of the plugin API, and no other plugin's package."""
    outside = sorted(name for name in ebkit_imports(module) if name not in PLUGIN_API)
    assert outside == [], f"{module} imports {outside}, outside the plugin API"
    own = module.relative_to(PACKAGE.parent / "plugins").parts[1]
    tree = ast.parse(module.read_text())
    other_plugins = {
        node.module.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module
        if node.module.startswith("ebkit_") and node.module.split(".")[0] != own
    }
    assert other_plugins == set(), f"{module} imports another plugin: {other_plugins}"


@pytest.mark.parametrize("module", PLUGIN_MODULES, ids=lambda path: path.name)
def test_no_plugin_module_is_longer_than_400_lines(module: Path) -> None:
    assert len(module.read_text().splitlines()) <= MAX_LINES
