"""The hooks a plugin may implement. Every hook is documented in ``docs/plugins.md``.

A plugin is a module (named by an entry point in the ``ebkit`` group) with functions
decorated by :data:`hookimpl`. The component hooks return :class:`ebkit.Component`
records; the plugin manager calls each implementation on its own, so it knows which
distribution provided what and can skip a broken plugin without affecting the others.

Plugin modules are imported to list components and to build ``ebkit --help``: keep
them free of heavy imports (torch, numpy) and point factories at other modules with
lazy ``"module:Class"`` strings.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    import click

    from ebkit.plugin.components import Component

__all__ = [
    "COMPONENT_HOOKS",
    "HOOK_VERSION",
    "PROJECT_NAME",
    "hookimpl",
    "hookspec",
]

PROJECT_NAME = "ebkit"
HOOK_VERSION = 1
"""Bumped when a hook's signature or contract changes incompatibly. A plugin module may
declare the versions it implements as ``EBKIT_HOOK_VERSION = 1`` (or a tuple); the
plugin manager skips it as ``incompatible`` when this version is not among them."""

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def ebkit_energies() -> Sequence[Component]:
    """Energy functions: factories called as ``factory(spec, **options)`` return an
    :class:`ebkit.EnergyFunction`."""


@hookspec
def ebkit_samplers() -> Sequence[Component]:
    """Contrastive samplers: ``factory(spec, **options)`` returns an
    :class:`ebkit.ContrastiveSampler`."""


@hookspec
def ebkit_losses() -> Sequence[Component]:
    """Loss functionals: ``factory(spec, **options)`` returns an
    :class:`ebkit.LossFunctional`."""


@hookspec
def ebkit_regularizers() -> Sequence[Component]:
    """Regularizers: ``factory(spec, **options)`` returns an :class:`ebkit.Regularizer`."""


@hookspec
def ebkit_datasets() -> Sequence[Component]:
    """Datasets: ``factory(path, **options)`` returns an :class:`ebkit.Dataset`;
    ``path`` is ``--data-path`` (``None`` when not given)."""


@hookspec
def ebkit_loggers() -> Sequence[Component]:
    """Loggers (``--logger NAME``): ``factory(**options)`` returns an
    :class:`ebkit.Logger` that receives the run's metrics, pictures, energy histograms
    and configuration."""


@hookspec
def ebkit_commands(cli: click.Group) -> None:
    """Add commands to the ``ebkit`` command-line group (``@cli.command()``)."""


COMPONENT_HOOKS: dict[str, str] = {
    "energy": "ebkit_energies",
    "sampler": "ebkit_samplers",
    "loss": "ebkit_losses",
    "regularizer": "ebkit_regularizers",
    "dataset": "ebkit_datasets",
    "logger": "ebkit_loggers",
}
"""Which hook registers each component kind."""
