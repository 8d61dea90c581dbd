"""The core's own components: five plugins, one per family, registered through the same
hooks as any third-party plugin.

Each family's ``hooks`` module is the reference example of a plugin: hook
implementations that return :class:`ebkit.Component` records with typed options and
lazy ``"module:Class"`` factories, next to the classes they register. The hook modules
stay free of torch imports; the classes load on first use. The loggers' hook module is
:mod:`ebkit.tracking.hooks`, next to the loggers.

The families are plugins of their own, listed by ``ebkit plugins`` under the names
below, which ``EBKIT_DISABLE_PLUGINS`` and ``EBKIT_LOAD_PLUGINS`` accept. Whichever
family provides it, a built-in component's qualified id is ``ebkit/NAME``
(:data:`BUILTIN_NAMESPACE`), as saved runs record it.
"""

from __future__ import annotations

__all__ = ["BUILTIN_FAMILIES", "BUILTIN_NAMESPACE"]

BUILTIN_NAMESPACE = "ebkit"
"""The plugin part of every built-in component's qualified id (``ebkit/langevin``)."""

BUILTIN_FAMILIES: dict[str, str] = {
    "ebkit.energies": "ebkit.builtins.energies.hooks",
    "ebkit.samplers": "ebkit.builtins.samplers.hooks",
    "ebkit.losses": "ebkit.builtins.losses.hooks",
    "ebkit.datasets": "ebkit.builtins.datasets.hooks",
    "ebkit.loggers": "ebkit.tracking.hooks",
}
"""Plugin name -> hook module of each built-in family. The names contain a dot, which a
distribution's normalised name never does, so no installed plugin can take them."""
