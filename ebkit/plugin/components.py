"""Typed component records that plugins return from their hooks, and the records of
provenance the plugin manager keeps (which plugin provided what, and its state).

This module is imported by the CLI to list and describe components, so it must never
import torch: a record holds a factory that is either a callable or a lazy
``"module:attribute"`` string resolved only when the component is built.
"""

from __future__ import annotations

import difflib
import importlib
import re
import typing
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ebkit.core.errors import UsageError

__all__ = [
    "ALL_KINDS",
    "KINDS",
    "Component",
    "ComponentEntry",
    "Option",
    "PluginInfo",
    "as_components",
    "type_name",
]

KINDS: tuple[str, ...] = ("energy", "sampler", "loss", "regularizer", "dataset")
"""Component kinds, in the order a training run builds them (dataset first)."""

ALL_KINDS: tuple[str, ...] = (*KINDS, "logger")
"""Every kind a plugin may provide: the parts of a model, then loggers, which watch a
run (``--logger NAME``) without changing what it computes."""

_NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
_FACTORY_PATTERN = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")
_SCALAR_TYPES: tuple[type, ...] = (int, float, str, bool)
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def type_name(option_type: Any) -> str:
    """The name users see for an option type: ``int``, ``float``, ``list[int]``..."""
    if typing.get_origin(option_type) is list:
        (item,) = typing.get_args(option_type)
        return f"list[{item.__name__}]"
    return option_type.__name__


@dataclass(frozen=True)
class Option:
    """One typed, documented option of a component.

    ``type`` is ``int``, ``float``, ``str``, ``bool``, ``list[int]`` or ``list[float]``.
    A ``default`` of ``None`` means "derived automatically"; ``help`` must then say how.
    ``choices`` restricts a ``str`` option; ``minimum``/``maximum`` bound numbers
    (for lists, every item), inclusive unless ``minimum_inclusive``/``maximum_inclusive``
    is false (a share that must stay below 1: ``maximum=1.0, maximum_inclusive=False``).

    ``saved_default`` is for an option added after runs were saved without it, when
    ``default`` would change what such a run computes: a saved run's ``config.json``
    that lacks the option is read with ``saved_default`` instead (see
    :func:`ebkit.runs.config.complete_saved_options`). Leave it unset otherwise.
    """

    name: str
    type: Any
    default: Any
    help: str
    choices: tuple[str, ...] | None = None
    minimum: float | None = None
    maximum: float | None = None
    saved_default: Any = field(default=None, kw_only=True)
    minimum_inclusive: bool = field(default=True, kw_only=True)
    maximum_inclusive: bool = field(default=True, kw_only=True)

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[a-z_][a-z0-9_]*", self.name):
            raise ValueError(f"option name {self.name!r} must be a lower-case identifier")
        item = self._item_type()
        if item not in _SCALAR_TYPES or (self._is_list() and item not in (int, float)):
            raise ValueError(
                f"option {self.name!r} has unsupported type {self.type!r}; "
                "use int, float, str, bool, list[int] or list[float]"
            )
        if not self.help:
            raise ValueError(f"option {self.name!r} needs a help text")
        if self.default is not None:
            object.__setattr__(self, "default", self.coerce(self.default, where="default"))
        if self.saved_default is not None:
            saved = self.coerce(self.saved_default, where="saved_default")
            object.__setattr__(self, "saved_default", saved)

    def _is_list(self) -> bool:
        return typing.get_origin(self.type) is list

    def _item_type(self) -> Any:
        return typing.get_args(self.type)[0] if self._is_list() else self.type

    @property
    def type_name(self) -> str:
        return type_name(self.type)

    def coerce(self, value: Any, *, where: str = "") -> Any:
        """Convert ``value`` (a CLI string or a TOML/JSON value) to this option's type.

        Raises :class:`UsageError` naming the field, the value and the expected type.
        """
        label = where or self.name
        if self._is_list():
            items = value
            if isinstance(value, str):
                items = [part for part in re.split(r"[,\s]+", value.strip()) if part]
            if not isinstance(items, (list, tuple)):
                raise UsageError(f"{label}: {value!r} is not a {self.type_name}")
            return [self._coerce_item(item, label, value) for item in items]
        return self._coerce_item(value, label, value)

    def _coerce_item(self, item: Any, label: str, whole: Any) -> Any:
        expected = self._item_type()
        problem = f"{label}: {whole!r} is not a valid {self.type_name}"
        result: Any
        if expected is bool:
            if isinstance(item, bool):
                result = item
            elif isinstance(item, str) and item.lower() in _TRUE | _FALSE:
                result = item.lower() in _TRUE
            else:
                raise UsageError(f"{problem} (use true or false)")
        elif expected is int:
            if isinstance(item, bool) or (isinstance(item, float) and not item.is_integer()):
                raise UsageError(problem)
            try:
                result = int(item)
            except (TypeError, ValueError, OverflowError):
                raise UsageError(problem) from None
        elif expected is float:
            if isinstance(item, bool):
                raise UsageError(problem)
            try:
                result = float(item)
            except (TypeError, ValueError):
                raise UsageError(problem) from None
            if result != result or result in (float("inf"), float("-inf")):
                raise UsageError(f"{problem} (must be finite)")
        else:
            if not isinstance(item, str):
                raise UsageError(problem)
            result = item
            if self.choices is not None and item not in self.choices:
                raise UsageError(
                    f"{label}: {item!r} is not one of {', '.join(map(repr, self.choices))}"
                )
        if expected in (int, float):
            self._check_bounds(result, f"{label}: {whole!r}")
        return result

    def _check_bounds(self, value: float, what: str) -> None:
        low, high = self.minimum, self.maximum
        if low is not None and self.minimum_inclusive and value < low:
            raise UsageError(f"{what} is below the minimum {low:g}")
        if low is not None and not self.minimum_inclusive and value <= low:
            raise UsageError(f"{what} must be above {low:g}")
        if high is not None and self.maximum_inclusive and value > high:
            raise UsageError(f"{what} is above the maximum {high:g}")
        if high is not None and not self.maximum_inclusive and value >= high:
            raise UsageError(f"{what} must be below {high:g}")

    def describe_bounds(self) -> str:
        """The accepted range in words: ``>= 1``, ``0 to 1``, ``>= 0 and < 1``; empty
        when unbounded."""
        low = high = ""
        if self.minimum is not None:
            low = f"{'>=' if self.minimum_inclusive else '>'} {self.minimum:g}"
        if self.maximum is not None:
            high = f"{'<=' if self.maximum_inclusive else '<'} {self.maximum:g}"
        if low and high and self.minimum_inclusive and self.maximum_inclusive:
            return f"{self.minimum:g} to {self.maximum:g}"
        return " and ".join(part for part in (low, high) if part)

    def describe_default(self) -> str:
        return "auto" if self.default is None else repr(self.default)


@dataclass(frozen=True)
class Component:
    """What a plugin hook returns: one named, documented, lazily built component.

    ``factory`` is a callable or a ``"package.module:Class"`` string; the string form
    keeps listing components free of heavy imports. How the factory is called depends
    on the kind (see ``docs/plugins.md``): energies, samplers, losses and regularizers
    as ``factory(spec, **options)``; datasets as ``factory(path, **options)``.
    """

    name: str
    summary: str
    factory: Callable[..., Any] | str
    options: tuple[Option, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME_PATTERN.match(self.name):
            raise ValueError(
                f"component name {self.name!r} must be lower-case letters, digits, '_' or '-'"
            )
        if not isinstance(self.summary, str) or not self.summary.strip():
            raise ValueError(f"component {self.name!r} needs a one-line summary")
        if isinstance(self.factory, str):
            if not _FACTORY_PATTERN.match(self.factory):
                raise ValueError(
                    f"component {self.name!r}: factory {self.factory!r} must look like "
                    "'package.module:Class'"
                )
        elif not callable(self.factory):
            raise ValueError(f"component {self.name!r}: factory must be callable or a string")
        options = tuple(self.options)
        if not all(isinstance(option, Option) for option in options):
            raise ValueError(f"component {self.name!r}: options must be ebkit.Option records")
        names = [option.name for option in options]
        if len(set(names)) != len(names):
            raise ValueError(f"component {self.name!r} declares an option twice")
        object.__setattr__(self, "options", options)

    def option(self, name: str) -> Option | None:
        return next((option for option in self.options if option.name == name), None)

    def resolve_options(self, values: Mapping[str, Any], *, prefix: str) -> dict[str, Any]:
        """Validate and coerce user values, fill in defaults; unknown keys are errors."""
        known = {option.name: option for option in self.options}
        unknown = sorted(set(values) - set(known))
        if unknown:
            accepted = ", ".join(known) or "none"
            close = difflib.get_close_matches(unknown[0], list(known), n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise UsageError(
                f"{prefix}.{unknown[0]}: unknown option for {self.name!r} "
                f"({hint}accepted: {accepted})"
            )
        resolved = {}
        for name, option in known.items():
            if name in values and values[name] is not None:
                resolved[name] = option.coerce(values[name], where=f"{prefix}.{name}")
            else:
                resolved[name] = option.default
        return resolved

    def load_factory(self) -> Callable[..., Any]:
        """Import and return the factory (the only place a lazy string is resolved)."""
        if callable(self.factory):
            return self.factory
        module_name, _, attribute = self.factory.partition(":")
        target: Any = importlib.import_module(module_name)
        for part in attribute.split("."):
            target = getattr(target, part)
        return target


def as_components(records: Iterable[Any]) -> list[Component]:
    """Check that a hook returned Component records and return them as a list."""
    if records is None:
        return []
    if isinstance(records, Component):
        return [records]
    result = list(records)
    for record in result:
        if not isinstance(record, Component):
            raise ValueError(f"hook returned {type(record).__name__!r}, not ebkit.Component")
    return result


@dataclass
class PluginInfo:
    """One plugin as ``ebkit plugins`` reports it."""

    name: str
    version: str | None
    source: str
    """``builtin``, ``entry point`` or ``registered`` (added in-process)."""
    status: str = "loaded"
    """``loaded``, ``disabled`` (by the environment), ``incompatible`` (built for another
    ebkit) or ``broken``."""
    error: str | None = None
    components: dict[str, list[str]] = field(default_factory=dict)
    requires_ebkit: str | None = None
    """The ebkit versions the distribution declares it supports (``>=0.1,<0.2``)."""

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "source": self.source,
            "status": self.status,
            "error": self.error,
            "components": self.components,
            "requires_ebkit": self.requires_ebkit,
        }


@dataclass(frozen=True)
class ComponentEntry:
    """A component together with the plugin that provided it."""

    kind: str
    plugin: str
    component: Component
    namespace: str | None = None
    """The plugin part of the qualified id when it is not the plugin's name: ``ebkit`` for
    every built-in family, so ``ebkit/langevin`` names the same component as it always
    has, in saved runs too."""

    @property
    def name(self) -> str:
        return self.component.name

    @property
    def qualified_id(self) -> str:
        return f"{self.namespace or self.plugin}/{self.component.name}"
