"""pytest fixtures for plugin authors, loaded by pytest through the ``pytest11`` entry point.

- ``ebkit_plugins(mapping, entry_points=False)`` builds an isolated plugin manager with
  extra plugins registered (``{"my-plugin": my_module}``), installs it as the manager the
  CLI and library use for the rest of the test, and returns it;
- ``ebkit_cli(*args)`` runs the ``ebkit`` command line against that manager and returns
  click's result (``exit_code``, ``output``, ``stderr``).

This module is imported by pytest at start-up, so it imports no torch.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

import pytest

from ebkit.plugin.components import Component

if TYPE_CHECKING:
    from click.testing import Result

    from ebkit.plugin.manager import PluginManager

__all__ = ["ebkit_cli", "ebkit_plugins"]

Factory = Component | Callable[..., Any]


# -- fixtures -------------------------------------------------------------------------


@pytest.fixture
def ebkit_plugins() -> Iterator[Callable[..., PluginManager]]:
    """Factory of isolated plugin managers; the last one built is the process-wide one
    until the test ends."""
    from ebkit.plugin.manager import PluginManager, set_plugin_manager

    previous = set_plugin_manager(None)

    def make(
        plugins: Mapping[str, object] | None = None,
        *,
        entry_points: bool = False,
        environ: Mapping[str, str] | None = None,
    ) -> PluginManager:
        manager = PluginManager(
            load_entry_points=entry_points, extra_plugins=plugins, environ=environ or {}
        )
        set_plugin_manager(manager)
        return manager

    yield make
    set_plugin_manager(previous)


@pytest.fixture
def ebkit_cli(ebkit_plugins: Callable[..., PluginManager]) -> Callable[..., Result]:
    """Run ``ebkit ARGS...`` in-process against the current test plugin manager (an
    isolated one with only the built-ins unless the test built another)."""
    from click.testing import CliRunner

    from ebkit.cli.main import cli
    from ebkit.plugin.manager import get_plugin_manager

    def run(*args: str) -> Result:
        manager = get_plugin_manager()
        # A copy of the group, so commands added by this test's plugins stay in this test.
        group = copy.copy(cli)
        group.commands = dict(cli.commands)
        manager.add_commands(group)
        return CliRunner().invoke(group, list(args), catch_exceptions=False)

    ebkit_plugins()

    return run
