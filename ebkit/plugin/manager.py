"""The plugin manager: loads plugins, collects their components, resolves names.

Plugins are modules named by entry points in the ``ebkit`` group; the core's own
components register through the very same hooks, as four plugins of their own
(``ebkit.energies``, ``ebkit.samplers``, ``ebkit.losses``, ``ebkit.datasets``:
:data:`BUILTIN_FAMILIES`), whose components keep the qualified ids
``ebkit/NAME`` whichever family provides them. The manager
calls every hook implementation on its own so it knows which distribution provided
each component, and a plugin that fails (import error, exception in a hook, invalid
record) is skipped with one line on stderr while everything else keeps working.

Environment:

- ``EBKIT_LOAD_PLUGINS=a,b``: load only these plugins (the names ``ebkit plugins``
  prints). The built-in families load too unless the list names one of them, in which
  case only the built-in families it names load; an empty value loads the built-ins only.
- ``EBKIT_DISABLE_PLUGINS=a,b``: never load these (built-in families included).
- ``EBKIT_STRICT_PLUGINS=1``: raise :class:`ebkit.PluginError` instead of skipping.

Compatibility: a plugin built for another ebkit (its declared ``Requires-Dist: ebkit``
range, or its ``EBKIT_HOOK_VERSION``) is listed as ``incompatible`` and never imported
(:mod:`ebkit.plugin.compat`).

Nothing here imports torch.
"""

from __future__ import annotations

import contextlib
import difflib
import importlib
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import replace
from types import ModuleType
from typing import Any

import pluggy

from ebkit.core.errors import PluginError, UsageError
from ebkit.plugin import hookspecs
from ebkit.plugin.compat import (
    EBKIT_DISTRIBUTION,
    declared_ebkit_range,
    declared_hook_versions,
    distribution_version,
    format_range,
    plugin_distributions,
    running_version,
    supported_by,
)
from ebkit.plugin.components import ALL_KINDS, ComponentEntry, PluginInfo, as_components

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

RESERVED_NAMES = frozenset({BUILTIN_NAMESPACE, *BUILTIN_FAMILIES})
"""Plugin names only the built-ins may take: ``ebkit`` is the plugin part of their
qualified ids, and each family is a plugin of its own."""


def _names_from_env(value: str | None) -> set[str] | None:
    if value is None:
        return None
    return {name.strip() for name in value.split(",") if name.strip()}


def _warn(message: str) -> None:
    print(f"ebkit: {message}", file=sys.stderr)


class PluginManager:
    """Loads plugins once and answers component queries.

    ``extra_plugins`` maps plugin names to modules or objects with hook implementations,
    registered as if they came from an entry point (the test kit uses this).
    """

    def __init__(
        self,
        *,
        load_entry_points: bool = True,
        extra_plugins: Mapping[str, object] | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        env = os.environ if environ is None else environ
        self.strict = env.get("EBKIT_STRICT_PLUGINS", "") not in ("", "0")
        self._allow = _names_from_env(env.get("EBKIT_LOAD_PLUGINS"))
        self._deny = _names_from_env(env.get("EBKIT_DISABLE_PLUGINS")) or set()
        self._pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
        self._pm.add_hookspecs(hookspecs)
        self.plugins: dict[str, PluginInfo] = {}
        self._modules: dict[str, list[object]] = {}
        """The hook modules of each loaded plugin (a distribution may declare several)."""
        self._entries: dict[str, list[ComponentEntry]] = {kind: [] for kind in ALL_KINDS}

        self._load_builtins()
        if load_entry_points:
            self._load_entry_points()
        for name, plugin in (extra_plugins or {}).items():
            if self._enabled(name, source="registered"):
                self._add(name, [plugin], source="registered", version=None)
        self._collect()

    # -- loading -----------------------------------------------------------------

    def _enabled(self, name: str, *, source: str) -> bool:
        allow = self._allow
        if source == "builtin" and allow is not None and not allow & set(BUILTIN_FAMILIES):
            allow = None  # an allow-list of third-party plugins only keeps the built-ins
        if name in self._deny or (allow is not None and name not in allow):
            self.plugins[name] = PluginInfo(name, None, source, status="disabled")
            return False
        return True

    def _load_builtins(self) -> None:
        version = distribution_version("ebkit")
        for name, module_name in BUILTIN_FAMILIES.items():
            if not self._enabled(name, source="builtin"):
                continue
            try:
                module = importlib.import_module(module_name)
            except Exception as error:
                self._fail(name, version, "builtin", f"import failed: {_describe(error)}")
                continue
            self._add(name, [module], source="builtin", version=version)

    def _load_entry_points(self) -> None:
        for name, found in sorted(plugin_distributions().items()):
            if name == EBKIT_DISTRIBUTION or not self._enabled(name, source="entry point"):
                continue
            # Decided from the metadata, before importing: an incompatible plugin may
            # not even import under this ebkit.
            supported = declared_ebkit_range(found.requires)
            declared = None if supported is None else format_range(supported)
            if supported is not None and not supported_by(supported, running_version()):
                reason = f"it requires ebkit{declared}, but this is ebkit {running_version()}"
                self._skip_incompatible(name, found.version, "entry point", reason, declared)
                continue
            modules = []
            try:
                for entry_point in found.entry_points:
                    modules.append(entry_point.load())
            except Exception as error:
                self._fail(name, found.version, "entry point", f"import failed: {_describe(error)}")
                continue
            self._add(
                name,
                modules,
                source="entry point",
                version=found.version,
                requires_ebkit=declared,
            )

    def _add(
        self,
        name: str,
        modules: list[object],
        *,
        source: str,
        version: str | None,
        requires_ebkit: str | None = None,
    ) -> None:
        if name in self._modules:
            # Never let a newcomer displace a loaded plugin of the same name.
            self._report(name, f"another plugin named {name!r} is already loaded", fatal=False)
            return
        if source != "builtin" and name in RESERVED_NAMES:
            self._report(name, f"the name {name!r} is reserved for ebkit's built-ins", fatal=False)
            return
        try:
            written_for = [declared_hook_versions(module) for module in modules]
        except PluginError as error:
            self._fail(name, version, source, str(error))
            return
        for versions in written_for:
            if versions is not None and hookspecs.HOOK_VERSION not in versions:
                reason = (
                    f"its hooks are written for hook version "
                    f"{' or '.join(map(str, sorted(versions)))}, but this ebkit "
                    f"{running_version()} has hook version {hookspecs.HOOK_VERSION}"
                )
                self._skip_incompatible(name, version, source, reason, requires_ebkit)
                return
        registered: list[object] = []
        try:
            for index, module in enumerate(modules):
                self._pm.register(module, name=f"{name}#{index}")
                registered.append(module)
                self._check_hooks(module)
        except Exception as error:
            for module in registered:
                self._pm.unregister(module)
            self._fail(name, version, source, _describe(error))
            return
        self._modules[name] = registered
        self.plugins[name] = PluginInfo(name, version, source, requires_ebkit=requires_ebkit)

    def _skip_incompatible(
        self,
        name: str,
        version: str | None,
        source: str,
        reason: str,
        requires_ebkit: str | None,
    ) -> None:
        self.plugins[name] = PluginInfo(
            name,
            version,
            source,
            status="incompatible",
            error=reason,
            requires_ebkit=requires_ebkit,
        )
        if self.strict:
            raise PluginError(f"plugin {name!r} is incompatible: {reason}")
        fix = f"update it with `ebkit install -U {name}`" if source == "entry point" else ""
        fix += (" or " if fix else "") + f"disable it with EBKIT_DISABLE_PLUGINS={name}"
        _warn(f"skipped plugin {name!r}: incompatible: {reason} ({fix})")

    def _check_hooks(self, plugin: object) -> None:
        """Reject a plugin whose hook implementations match no hook (a typo or a plugin
        written for another ebkit), instead of silently ignoring them."""
        unknown = [
            hook_caller.name
            for hook_caller in self._pm.get_hookcallers(plugin) or []
            if hook_caller.spec is None
        ]
        if unknown:
            raise PluginError(f"unknown hook {unknown[0]!r} (see docs/plugins.md)")

    def _fail(self, name: str, version: str | None, source: str, reason: str) -> None:
        self.plugins[name] = PluginInfo(name, version, source, status="broken", error=reason)
        self._report(name, reason, fatal=True)

    def _report(self, name: str, reason: str, *, fatal: bool) -> None:
        if self.strict:
            raise PluginError(f"plugin {name!r} failed: {reason}")
        hint = f" (disable it with EBKIT_DISABLE_PLUGINS={name})" if fatal else ""
        _warn(f"skipped plugin {name!r}: {reason}{hint}")

    def _collect(self) -> None:
        """Call each plugin's component hooks on their own, keeping provenance."""
        for name, modules in list(self._modules.items()):
            info = self.plugins[name]
            try:
                entries = [
                    entry for module in modules for entry in self._components_of(name, module)
                ]
                _check_unique(entries)
            except Exception as error:
                for module in modules:
                    self._pm.unregister(module)
                del self._modules[name]
                self._fail(name, info.version, info.source, _describe(error))
                continue
            for entry in entries:
                if info.source == "builtin":
                    entry = replace(entry, namespace=BUILTIN_NAMESPACE)
                self._entries[entry.kind].append(entry)
                info.components.setdefault(entry.kind, []).append(entry.name)

    def _components_of(self, name: str, module: object) -> Iterable[ComponentEntry]:
        for kind, hook_name in hookspecs.COMPONENT_HOOKS.items():
            hook_caller = getattr(self._pm.hook, hook_name)
            for impl in hook_caller.get_hookimpls():
                if impl.plugin is not module:
                    continue
                try:
                    records = as_components(impl.function())
                except Exception as error:
                    raise PluginError(f"hook {hook_name} raised {_describe(error)}") from error
                for record in records:
                    yield ComponentEntry(kind, name, record)

    # -- queries -----------------------------------------------------------------

    def components(self, kind: str) -> list[ComponentEntry]:
        return sorted(self._entries[kind], key=lambda entry: (entry.name, entry.plugin))

    def lookup(self, kind: str, name: str) -> ComponentEntry:
        """Find a component by short name or ``plugin/name``.

        A short name offered by two plugins is an error that names both providers.
        """
        if kind not in self._entries:
            raise UsageError(f"unknown component kind {kind!r} (accepted: {', '.join(ALL_KINDS)})")
        entries = self._entries[kind]
        if "/" in name:
            matches = [entry for entry in entries if entry.qualified_id == name]
        else:
            matches = [entry for entry in entries if entry.name == name]
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            providers = ", ".join(entry.qualified_id for entry in matches)
            raise UsageError(
                f"{kind} {name!r} is provided by several plugins ({providers}); "
                "choose one by its qualified id"
            )
        available = sorted({entry.name for entry in entries} | _ids(entries))
        close = difflib.get_close_matches(name, available, n=3, cutoff=0.6)
        hint = f"did you mean {' or '.join(map(repr, close))}? " if close else ""
        short_names = sorted({entry.name for entry in entries})
        raise UsageError(
            f"unknown {kind} {name!r}; {hint}available: {', '.join(short_names) or 'none'}"
        )

    def add_commands(self, cli: Any) -> None:
        """Let plugins add CLI commands; a failing plugin is skipped like any other."""
        owners = {id(module): name for name, modules in self._modules.items() for module in modules}
        for impl in self._pm.hook.ebkit_commands.get_hookimpls():
            name = owners[id(impl.plugin)]
            try:
                impl.function(cli=cli)
            except Exception as error:
                info = self.plugins[name]
                self._fail(name, info.version, info.source, f"ebkit_commands: {_describe(error)}")


def _check_unique(entries: list[ComponentEntry]) -> None:
    seen: set[tuple[str, str]] = set()
    for entry in entries:
        if (entry.kind, entry.name) in seen:
            raise PluginError(f"{entry.kind} {entry.name!r} registered twice")
        seen.add((entry.kind, entry.name))


def _ids(entries: Iterable[ComponentEntry]) -> set[str]:
    return {entry.qualified_id for entry in entries}


def _describe(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0]}" if text else type(error).__name__


_default_manager: PluginManager | None = None


def get_plugin_manager() -> PluginManager:
    """The process-wide manager, created on first use (plugins load once)."""
    global _default_manager
    if _default_manager is None:
        _default_manager = PluginManager()
    return _default_manager


_building_with: ContextVar[PluginManager | None] = ContextVar("ebkit_building_with", default=None)


@contextlib.contextmanager
def building_with(manager: PluginManager) -> Iterator[None]:
    """Make ``manager`` the one :func:`active_plugin_manager` returns while a component is
    built, so that a component which looks others up (a chain kernel) finds them where
    it was itself found, not in the process-wide manager."""
    token = _building_with.set(manager)
    try:
        yield
    finally:
        _building_with.reset(token)


def active_plugin_manager() -> PluginManager:
    """The manager building the current component, else the process-wide one."""
    return _building_with.get() or get_plugin_manager()


def set_plugin_manager(manager: PluginManager | None) -> PluginManager | None:
    """Replace the process-wide manager (tests); returns the previous one."""
    global _default_manager
    previous, _default_manager = _default_manager, manager
    return previous


def module_plugin(name: str, **hooks: Callable[..., Any]) -> ModuleType:
    """Build an in-memory plugin module from hook functions (for tests and scripts)."""
    module = ModuleType(name)
    for hook_name, function in hooks.items():
        setattr(module, hook_name, hookspecs.hookimpl(function))
    return module
