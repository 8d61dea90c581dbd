"""The core's own components: five plugins, one per family, registered through the same
hooks as any third-party plugin.

Each family's ``hooks`` module is the reference example of a plugin: hook
implementations that return :class:`ebkit.Component` records with typed options and
lazy ``"module:Class"`` factories, next to the classes they register. The hook modules
stay free of torch imports; the classes load on first use. The loggers' hook module is
:mod:`ebkit.tracking.hooks`, next to the loggers.

The families are plugins of their own (``ebkit.energies``, ``ebkit.samplers``,
``ebkit.losses``, ``ebkit.datasets``, ``ebkit.loggers``), which the plugin manager loads
from its list :data:`ebkit.plugin.manager.BUILTIN_FAMILIES` instead of entry points;
``ebkit plugins`` lists them, ``EBKIT_DISABLE_PLUGINS`` and ``EBKIT_LOAD_PLUGINS``
accept their names. Whichever family provides it, a built-in component's qualified id
is ``ebkit/NAME``, as saved runs record it.
"""
