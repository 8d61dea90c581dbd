"""What every command group shares: the plugin manager and the rich console."""

from __future__ import annotations

from typing import Any

from ebkit.plugin.manager import PluginManager, get_plugin_manager

__all__ = ["plugin_manager", "rich_console"]


def rich_console(stderr: bool = False) -> Any:
    """A rich console (imported on use: rich is not needed to print ``--help``)."""
    from rich.console import Console

    return Console(stderr=stderr, highlight=False)


def plugin_manager() -> PluginManager:
    """The process's plugin manager (the one tests install with ``set_plugin_manager``)."""
    return get_plugin_manager()
