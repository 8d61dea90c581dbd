"""Which plugins fit the running ebkit, decided from metadata before anything is imported.

A distribution that declares ``Requires-Dist: ebkit <range>`` excluding the running
ebkit, or a hook module whose ``EBKIT_HOOK_VERSION`` is not this ebkit's
:data:`ebkit.plugin.hookspecs.HOOK_VERSION`, is incompatible: the manager lists it as
such and skips it with one line that says how to fix it. The range is read from the
distribution's metadata, so an incompatible plugin is never even imported.

Nothing here imports torch (and ``packaging`` only when a requirement names ebkit).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import metadata
from typing import TYPE_CHECKING

from ebkit.core.errors import PluginError

if TYPE_CHECKING:
    from packaging.specifiers import SpecifierSet

__all__ = [
    "EBKIT_DISTRIBUTION",
    "ENTRY_POINT_GROUP",
    "PluginDistribution",
    "canonical_name",
    "declared_ebkit_range",
    "declared_hook_versions",
    "distribution_version",
    "format_range",
    "plugin_distributions",
    "running_version",
    "supported_by",
]

ENTRY_POINT_GROUP = "ebkit"
"""The entry-point group in which plugin distributions declare their hook modules."""
EBKIT_DISTRIBUTION = "ebkit"
"""ebkit's own distribution, which ships the built-ins and is no plugin to install."""


@dataclass
class PluginDistribution:
    """An installed distribution that declares entry points in the ``ebkit`` group."""

    name: str
    """The plugin name: the distribution's name, PEP 503-normalised."""
    distribution: metadata.Distribution | None
    entry_points: list[metadata.EntryPoint]

    @property
    def version(self) -> str | None:
        return None if self.distribution is None else self.distribution.version

    @property
    def requires(self) -> list[str]:
        """The distribution's ``Requires-Dist`` lines."""
        return [] if self.distribution is None else list(self.distribution.requires or [])


def plugin_distributions() -> dict[str, PluginDistribution]:
    """Installed plugin distributions by plugin name, read from their metadata (no plugin
    module is imported), each with its entry points in name order."""
    found: dict[str, PluginDistribution] = {}
    for entry_point in metadata.entry_points(group=ENTRY_POINT_GROUP):
        dist = entry_point.dist
        name = canonical_name(dist.name) if dist is not None else entry_point.name
        found.setdefault(name, PluginDistribution(name, dist, [])).entry_points.append(entry_point)
    for plugin in found.values():
        plugin.entry_points.sort(key=lambda entry_point: entry_point.name)
    return found


def running_version() -> str:
    """The version of the ebkit that is running."""
    from ebkit import __version__

    return __version__


# Only lines naming ebkit are parsed: importing ``packaging`` costs a few tens of ms.
_NAMES_EBKIT = re.compile(r"^\s*ebkit(?![\w.-])", re.IGNORECASE)


def declared_ebkit_range(requires: Iterable[str]) -> SpecifierSet | None:
    """The ebkit versions that ``Requires-Dist`` lines accept (several lines combine),
    ignoring lines that apply only with an extra; ``None`` when ebkit is not named."""
    from packaging.requirements import InvalidRequirement, Requirement

    supported: SpecifierSet | None = None
    for line in requires:
        if not _NAMES_EBKIT.match(line):
            continue
        try:
            requirement = Requirement(line)
        except InvalidRequirement:
            continue  # pip would not have installed it; nothing to learn from it
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
            continue
        specifier = requirement.specifier
        supported = specifier if supported is None else supported & specifier
    return supported


def supported_by(supported: SpecifierSet, version: str) -> bool:
    """Whether ``version`` of ebkit lies in the range (development versions included)."""
    return supported.contains(version, prereleases=True)


def format_range(supported: SpecifierSet) -> str:
    """``>=0.1,<0.2``: lower bounds first, as people write ranges."""
    return ",".join(sorted((str(item) for item in supported), key=lambda t: (t[0] != ">", t)))


def declared_hook_versions(module: object) -> set[int] | None:
    """The hook versions a plugin module says it implements (``EBKIT_HOOK_VERSION``)."""
    declared = getattr(module, "EBKIT_HOOK_VERSION", None)
    if declared is None:
        return None
    items = declared if isinstance(declared, (tuple, list, set, frozenset)) else (declared,)
    if not items or not all(isinstance(item, int) and not isinstance(item, bool) for item in items):
        raise PluginError(f"EBKIT_HOOK_VERSION must be an int or a tuple of ints, not {declared!r}")
    return set(items)


def canonical_name(distribution_name: str) -> str:
    """PEP 503 normalisation, so ``Ebkit_Foo.bar`` and ``ebkit-foo-bar`` are one name."""
    return re.sub(r"[-_.]+", "-", distribution_name).lower()


def distribution_version(distribution_name: str) -> str | None:
    try:
        return metadata.version(distribution_name)
    except metadata.PackageNotFoundError:
        return None
