"""Resolving a training configuration from a TOML file, CLI flags and ``-o`` overrides.

Precedence, lowest first: each option's default, the ``--config`` TOML file, then the
command line. The result is a :class:`RunConfig` holding the qualified id and every
option value of each component, and the typed ``train`` options
(:mod:`ebkit.runs.settings`), saved as ``config.json`` in the run so the run can be
rebuilt exactly. Nothing here imports torch.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ebkit.core.errors import UsageError
from ebkit.plugin.manager import PluginManager
from ebkit.runs.settings import TRAIN_COMPONENT, TRAIN_OPTIONS, TrainOptions

__all__ = [
    "COMPONENT_SLOTS",
    "LOGGERS",
    "REGULARIZERS",
    "SECTIONS",
    "TABLES",
    "TRAIN",
    "TRAIN_COMPONENT",
    "TRAIN_OPTIONS",
    "ComponentConfig",
    "ComponentSlot",
    "RunConfig",
    "TrainOptions",
    "complete_saved_options",
    "load_toml",
    "parse_override",
    "resolve_config",
]

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised only on Python 3.10
    import tomli as tomllib


@dataclass(frozen=True)
class ComponentSlot:
    """One component a run chooses by name: its key (the ``config.json`` entry, the TOML
    table, the ``-o`` prefix, the ``ebkit train`` flag and the :func:`ebkit.train`
    keyword), its component kind and the help of its flag."""

    key: str
    kind: str
    help: str
    default: str | None = None

    @property
    def flag(self) -> str:
        return f"--{self.key}"


COMPONENT_SLOTS: tuple[ComponentSlot, ...] = (
    ComponentSlot("energy", "energy", "Energy function (see `ebkit components energy`)."),
    ComponentSlot("sampler", "sampler", "Contrastive sampler (see `ebkit components sampler`)."),
    ComponentSlot("loss", "loss", "Loss functional (see `ebkit components loss`)."),
    ComponentSlot("data", "dataset", "Dataset (see `ebkit components dataset`).", "digits"),
)
"""The components every run has, in the order they are listed; with the regularizers
(:data:`REGULARIZERS`, any number) and the ``train`` options, all a run is made of."""

SECTIONS: tuple[str, ...] = tuple(slot.key for slot in COMPONENT_SLOTS)
REGULARIZERS = "regularizers"
"""The ``config.json`` list, the TOML table of tables and the :func:`ebkit.train` keyword
of the regularizers (the ``ebkit train`` flag is ``--regularizer``, repeatable)."""
LOGGERS = "loggers"
"""The ``config.json`` list and TOML table of tables of the loggers (``--logger``)."""
TRAIN = "train"
TABLES: tuple[str, ...] = (*SECTIONS, REGULARIZERS, LOGGERS, TRAIN)
"""The top-level tables of a TOML config and keys of ``config.json``."""


@dataclass
class ComponentConfig:
    """A chosen component: its qualified id and resolved option values."""

    id: str
    options: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "options": dict(self.options)}


@dataclass
class RunConfig:
    """Everything needed to rebuild a run's components (saved as ``config.json``)."""

    energy: ComponentConfig
    sampler: ComponentConfig
    loss: ComponentConfig
    data: ComponentConfig
    data_path: str | None
    regularizers: list[ComponentConfig]
    train: TrainOptions = field(default_factory=TrainOptions)
    loggers: list[ComponentConfig] = field(default_factory=list)
    """Where the run's metrics and pictures go besides metrics.jsonl (``--logger``); they
    change nothing the run computes."""
    train_unknown: dict[str, Any] = field(default_factory=dict)
    """``train`` keys of a saved ``config.json`` that this version does not know, kept
    so that rewriting the file (``--resume``) loses nothing."""

    def component(self, key: str) -> ComponentConfig:
        """The chosen component of the slot ``key`` (``energy``, ``data``...)."""
        return getattr(self, key)

    def as_json(self) -> dict[str, Any]:
        """The ``config.json`` form: components by slot, ``train`` options by flat name
        (the same shape as before the options were typed)."""
        payload: dict[str, Any] = {key: self.component(key).as_json() for key in SECTIONS}
        payload["data"]["path"] = self.data_path
        payload[REGULARIZERS] = [regularizer.as_json() for regularizer in self.regularizers]
        payload[TRAIN] = {**self.train.as_flat(), **self.train_unknown}
        if self.loggers:
            payload[LOGGERS] = [logger.as_json() for logger in self.loggers]
        return payload

    @classmethod
    def from_json(cls, payload: Mapping[str, Any]) -> RunConfig:
        try:
            tables = {key: dict(payload[key]) for key in SECTIONS}
            data_path = tables["data"].pop("path", None)
            chosen = {key: ComponentConfig(**table) for key, table in tables.items()}
            regularizers = [ComponentConfig(**item) for item in payload[REGULARIZERS]]
            train, unknown = TrainOptions.from_saved(payload[TRAIN])
            loggers = [ComponentConfig(**item) for item in payload.get(LOGGERS, [])]
            for choice in (*chosen.values(), *regularizers, *loggers):
                if not isinstance(choice.id, str) or not isinstance(choice.options, dict):
                    raise TypeError(f"component {choice.id!r} has no name or no option table")
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise UsageError(f"config.json is not an ebkit run configuration ({error})") from None
        return cls(
            **chosen,
            data_path=data_path,
            regularizers=regularizers,
            train=train,
            train_unknown=unknown,
            loggers=loggers,
        )


def complete_saved_options(manager: PluginManager, config: RunConfig) -> RunConfig:
    """``config``, read from a saved run, with the component options it lacks (options
    added after the run was saved) set to the value that reproduces the run: the
    option's ``saved_default`` where it declares one. Options without one keep their
    default when the component is built, as before. Components no longer installed are
    left as they are (building them reports that)."""
    choices = [
        *((slot.kind, config.component(slot.key)) for slot in COMPONENT_SLOTS),
        *(("regularizer", choice) for choice in config.regularizers),
    ]
    for kind, choice in choices:
        try:
            component = manager.lookup(kind, choice.id).component
        except UsageError:
            continue
        # A damaged value is one line here, not a crash inside the component.
        present = {
            key: value for key, value in choice.options.items() if component.option(key) is not None
        }
        try:
            checked = component.resolve_options(present, prefix=kind)
        except UsageError as error:
            raise UsageError(f"the run's config.json is damaged: {error}") from None
        choice.options.update({key: checked[key] for key in present})
        for option in component.options:
            if option.name not in choice.options and option.saved_default is not None:
                choice.options[option.name] = option.saved_default
    return config


def load_toml(path: str | Path) -> dict[str, Any]:
    """Read a TOML config; a missing file or a syntax error is one clear line."""
    if Path(path).is_dir():
        raise UsageError(f"--config: {path} is a directory, not a TOML file")
    try:
        with open(path, "rb") as handle:
            payload = tomllib.load(handle)
    except FileNotFoundError:
        raise UsageError(f"--config: {path} does not exist") from None
    except UnicodeDecodeError as error:
        raise UsageError(
            f"--config: {path} is not UTF-8 text ({error.reason} at byte {error.start}); "
            "TOML files must be UTF-8"
        ) from None
    except OSError as error:
        raise UsageError(f"--config: cannot read {path} ({error.strerror or error})") from None
    except tomllib.TOMLDecodeError as error:
        raise UsageError(f"--config: {path} is not valid TOML ({error})") from None
    allowed = set(TABLES)
    for key, value in payload.items():
        if key not in allowed:
            accepted = ", ".join(sorted(allowed))
            raise UsageError(f"--config: unknown table [{key}] in {path} (accepted: {accepted})")
        if not isinstance(value, dict):
            raise UsageError(f"--config: [{key}] in {path} must be a table")
    return payload


def parse_override(text: str) -> tuple[str, str, str]:
    """Split ``COMPONENT.KEY=VALUE``."""
    target, equals, value = text.partition("=")
    component, dot, key = target.strip().partition(".")
    if not equals or not dot or not component or not key:
        raise UsageError(f"-o {text!r}: expected COMPONENT.KEY=VALUE, e.g. energy.width=256")
    return component, key.strip(), value.strip()


def resolve_config(
    manager: PluginManager,
    *,
    toml: Mapping[str, Any] | None = None,
    names: Mapping[str, str | None] | None = None,
    regularizers: Sequence[str] = (),
    data_path: str | None = None,
    train: Mapping[str, Any] | None = None,
    overrides: Sequence[str] = (),
    loggers: Sequence[str] = (),
) -> RunConfig:
    """Combine defaults, a TOML table tree, CLI names/flags and ``-o`` overrides.

    ``names`` maps ``energy``/``sampler``/``loss``/``data`` to the names given on the
    command line (``None`` when not given); ``train`` holds the flags that are train
    options (``--steps``...), ``None`` values meaning "not given". ``loggers``
    (``--logger``) are added to the TOML's ``[loggers.NAME]`` tables;
    ``-o logger.NAME.KEY=VALUE`` sets their options.
    """
    toml = dict(toml or {})
    names = dict(names or {})
    values: dict[str, dict[str, Any]] = {
        section: dict(toml.get(section, {})) for section in (*SECTIONS, TRAIN)
    }
    chosen: dict[str, str] = {}
    for slot in COMPONENT_SLOTS:
        from_toml = values[slot.key].pop("name", None)
        name = names.get(slot.key) or from_toml or slot.default
        if slot.key == "loss" and name is None and chosen.get("sampler") == "none":
            name = "none"  # the only loss that trains without contrastive samples
        if name is None:
            raise UsageError(
                f"no {slot.key} chosen: pass {slot.flag} NAME or set [{slot.key}] name"
            )
        chosen[slot.key] = str(name)
    path_from_toml = values["data"].pop("path", None)
    data_path = data_path if data_path is not None else path_from_toml
    if data_path is not None:
        # Absolute, so that resuming, sampling and evaluating work from any directory.
        data_path = str(Path(data_path).expanduser().absolute())

    regularizer_tables = dict(toml.get(REGULARIZERS, {}))
    for name, table in regularizer_tables.items():
        if not isinstance(table, dict):
            raise UsageError(f"--config: regularizers.{name} must be a table [regularizers.{name}]")
    regularizer_names = list(regularizers) or list(regularizer_tables)
    regularizer_values = {
        name: dict(regularizer_tables.get(name, {})) for name in regularizer_names
    }
    for name in regularizer_tables:
        if name not in regularizer_values:
            raise UsageError(f"--config: [regularizers.{name}] is set but {name!r} is not used")
    if len(set(regularizer_names)) != len(regularizer_names):
        raise UsageError("--regularizer: the same regularizer was given twice")

    logger_values = _logger_tables(toml, loggers)

    for key, value in (train or {}).items():
        if value is not None:
            values[TRAIN][key] = value
    for text in overrides:
        component, key, value = parse_override(text)
        if component == "logger":
            name, dot, key = key.partition(".")
            if not dot or not key:
                raise UsageError(f"-o {text!r}: expected logger.NAME.KEY=VALUE")
            if name not in logger_values:
                raise UsageError(
                    f"-o {text!r}: the logger {name!r} is not chosen (add --logger {name})"
                )
            logger_values[name][key] = value
        elif component in values:
            values[component][key] = value
        elif component in regularizer_values:
            regularizer_values[component][key] = value
        else:
            accepted = ", ".join([*SECTIONS, TRAIN, *regularizer_names, "logger"])
            raise UsageError(f"-o {text!r}: unknown component {component!r} (accepted: {accepted})")

    resolved: dict[str, ComponentConfig] = {}
    for slot in COMPONENT_SLOTS:
        entry = manager.lookup(slot.kind, chosen[slot.key])
        options = entry.component.resolve_options(values[slot.key], prefix=slot.key)
        resolved[slot.key] = ComponentConfig(entry.qualified_id, options)
    regularizer_configs = []
    for name in regularizer_names:
        entry = manager.lookup("regularizer", name)
        options = entry.component.resolve_options(regularizer_values[name], prefix=name)
        regularizer_configs.append(ComponentConfig(entry.qualified_id, options))
    logger_configs = []
    for name, chosen_values in logger_values.items():
        entry = manager.lookup("logger", name)
        options = entry.component.resolve_options(chosen_values, prefix=f"logger.{name}")
        logger_configs.append(ComponentConfig(entry.qualified_id, options))
    return RunConfig(
        **resolved,
        data_path=None if data_path is None else str(data_path),
        regularizers=regularizer_configs,
        train=TrainOptions.from_values(values[TRAIN], where=TRAIN),
        loggers=logger_configs,
    )


def _logger_tables(toml: Mapping[str, Any], chosen: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The option values of each logger: the TOML's ``[loggers.NAME]`` tables, then the
    loggers named on the command line (each once)."""
    tables = dict(toml.get(LOGGERS, {}))
    for name, table in tables.items():
        if not isinstance(table, dict):
            raise UsageError(f"--config: loggers.{name} must be a table [loggers.{name}]")
    values = {name: dict(table) for name, table in tables.items()}
    for name in chosen:
        values.setdefault(name, {})
    return values
