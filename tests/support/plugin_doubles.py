"""Test doubles for the plugin manager's tests: in-memory components and plugins, and
the one-line messages a manager prints (shared by tests/plugin/test_*plugins*.py)."""

from __future__ import annotations

from ebkit import Component
from ebkit.plugin.manager import PluginManager

BROKEN_HOOKS = 'raise ImportError("this plugin needs the frobnicator package")\n'
"""The hook module of a plugin that fails to import."""

TOY_DATASETS = ["8gaussians", "25gaussians", "moons", "swissroll", "rings"]


def energy_factory(spec, **options):
    return ("energy", spec, options)


def energy(name: str, **changes) -> Component:
    fields = {"name": name, "summary": f"test energy {name}", "factory": energy_factory}
    fields.update(changes)
    return Component(**fields)


def energies(*names: str):
    return lambda: [energy(name) for name in names]


def manager(environ=None, **plugins) -> PluginManager:
    """A manager with the built-ins and in-memory plugins, keyed by keyword (with '_'
    spelled '-')."""
    extra = {name.replace("_", "-"): plugin for name, plugin in plugins.items()}
    return PluginManager(load_entry_points=False, extra_plugins=extra, environ=environ or {})


def raise_runtime_error():
    raise RuntimeError("boom\nsecond line of the error")


def added(plugins: PluginManager, kind: str) -> list:
    """The components of ``kind`` that plugins other than the built-ins provide."""
    return [entry for entry in plugins.components(kind) if entry.namespace != "ebkit"]


def stderr_lines(capsys) -> list[str]:
    return [line for line in capsys.readouterr().err.splitlines() if line.strip()]
