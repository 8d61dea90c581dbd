"""Resolving a training configuration from a TOML file, CLI flags and ``-o`` overrides.

Precedence, lowest first: each option's default, the ``--config`` TOML file, then the
command line. The result is a plain JSON-able :class:`RunConfig` holding the qualified
id and every option value of each component, saved as ``config.json`` in the run so
the run can be rebuilt exactly. Nothing here imports torch.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ebkit.core.errors import UsageError
from ebkit.plugin.components import Component, Option
from ebkit.plugin.manager import PluginManager

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised only on Python 3.10
    import tomli as tomllib

TRAIN_OPTIONS: tuple[Option, ...] = (
    Option("steps", int, 2000, "number of training steps", minimum=1),
    Option("batch_size", int, 64, "samples per batch (data and contrastive)", minimum=2),
    Option("seed", int, 0, "seed of every random generator of the run", minimum=0),
    Option("device", str, "auto", "where to train", choices=("auto", "cpu", "cuda")),
    Option("energy_lr", float, 1e-3, "Adam learning rate of the energy", minimum=0.0),
    Option("sampler_lr", float, 1e-3, "Adam learning rate of a trainable sampler", minimum=0.0),
    Option("beta1", float, 0.5, "Adam beta1 (DCGAN's 0.5)", minimum=0.0, maximum=1.0),
    Option("beta2", float, 0.999, "Adam beta2", minimum=0.0, maximum=1.0),
    Option(
        "conditional",
        bool,
        False,
        "conditional run: model p(x | class) with the dataset's labels, which go to the "
        "energy and the sampler (a labelled dataset, components that accept labels)",
    ),
    Option(
        "labels",
        int,
        0,
        "semi-supervised: train with this many labelled examples, balanced over the classes "
        "and chosen by the seed, the rest of the training split unlabelled (0: no labels)",
        minimum=0,
    ),
    Option(
        "test_fraction",
        float,
        0.2,
        "semi-supervised: share of each class held out for testing, never trained on",
        minimum=0.0,
        maximum=0.99,
    ),
    Option(
        "supervised_weight",
        float,
        1.0,
        "semi-supervised: weight of the labelled cross-entropy in the energy's loss",
        minimum=0.0,
    ),
    Option(
        "eval_every",
        int,
        500,
        "semi-supervised: steps between held-out error evaluations (and at the end)",
        minimum=1,
    ),
    Option(
        "sampler_steps",
        int,
        0,
        "train a trainable sampler only for this many steps, then keep it frozen while the "
        "energy trains on (EBGAN-LN); 0: all steps",
        minimum=0,
    ),
    Option(
        "lr_decay_start",
        float,
        1.0,
        "from this fraction of the steps on, decay every learning rate linearly to 0 at the "
        "last step (the Ladder papers: 0.67); 1: no decay",
        minimum=0.0,
        maximum=1.0,
    ),
    Option("log_every", int, 10, "steps between metrics.jsonl records", minimum=1),
    Option(
        "sample_every", int, 500, "steps between sample pictures (0: only at the end)", minimum=0
    ),
    Option(
        "checkpoint_every", int, 1000, "steps between checkpoints (0: only at the end)", minimum=0
    ),
    Option("sample_count", int, 64, "samples drawn for each picture", minimum=1),
    Option(
        "lr_halve_patience",
        int,
        0,
        "halve every learning rate when the smoothed lr_halve_metric has not improved for "
        "this many steps (0: never); BEGAN halves when M_global stalls",
        minimum=0,
    ),
    Option(
        "lr_halve_metric",
        str,
        "m_global",
        "the logged metric (lower is better) whose stall halves the learning rates; "
        "m_global is the began loss's convergence measure",
    ),
    Option(
        "lr_halve_smoothing",
        float,
        0.99,
        "decay of the moving average of lr_halve_metric (0: the raw, noisy value; 0.99 "
        "averages over about 100 steps)",
        minimum=0.0,
        maximum=0.9999,
    ),
    Option(
        "lr_halve_min_lr",
        float,
        1e-6,
        "halving never takes a learning rate below this",
        minimum=0.0,
    ),
)
# Not a plugin component: a record only so ``train.*`` options are validated like any other.
TRAIN_COMPONENT = Component(
    name="train",
    summary="training loop settings",
    factory="ebkit.core.engine:TrainSettings",
    options=TRAIN_OPTIONS,
)

SECTIONS = ("energy", "sampler", "loss", "data")
_KIND_OF_SECTION = {"energy": "energy", "sampler": "sampler", "loss": "loss", "data": "dataset"}


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
    train: dict[str, Any]
    loggers: list[ComponentConfig] = field(default_factory=list)
    """Where the run's metrics and pictures go besides metrics.jsonl (``--logger``); they
    change nothing the run computes."""

    def as_json(self) -> dict[str, Any]:
        payload = {
            "energy": self.energy.as_json(),
            "sampler": self.sampler.as_json(),
            "loss": self.loss.as_json(),
            "data": {**self.data.as_json(), "path": self.data_path},
            "regularizers": [regularizer.as_json() for regularizer in self.regularizers],
            "train": dict(self.train),
        }
        if self.loggers:
            payload["loggers"] = [logger.as_json() for logger in self.loggers]
        return payload

    @classmethod
    def from_json(cls, payload: Mapping[str, Any]) -> RunConfig:
        try:
            return cls(
                energy=ComponentConfig(**payload["energy"]),
                sampler=ComponentConfig(**payload["sampler"]),
                loss=ComponentConfig(**payload["loss"]),
                data=ComponentConfig(payload["data"]["id"], payload["data"]["options"]),
                data_path=payload["data"].get("path"),
                regularizers=[ComponentConfig(**item) for item in payload["regularizers"]],
                train=dict(payload["train"]),
                loggers=[ComponentConfig(**item) for item in payload.get("loggers", [])],
            )
        except (KeyError, TypeError) as error:
            raise UsageError(f"config.json is not an ebkit run configuration ({error})") from None


def complete_saved_options(manager: PluginManager, config: RunConfig) -> RunConfig:
    """``config``, read from a saved run, with the component options it lacks (options
    added after the run was saved) set to the value that reproduces the run: the
    option's ``saved_default`` where it declares one. Options without one keep their
    default when the component is built, as before. Components no longer installed are
    left as they are (building them reports that)."""
    choices = [
        ("energy", config.energy),
        ("sampler", config.sampler),
        ("loss", config.loss),
        *(("regularizer", choice) for choice in config.regularizers),
    ]
    for kind, choice in choices:
        try:
            component = manager.lookup(kind, choice.id).component
        except UsageError:
            continue
        for option in component.options:
            if option.name not in choice.options and option.saved_default is not None:
                choice.options[option.name] = option.saved_default
    return config


def load_toml(path: str | Path) -> dict[str, Any]:
    """Read a TOML config; a missing file or a syntax error is one clear line."""
    try:
        with open(path, "rb") as handle:
            payload = tomllib.load(handle)
    except FileNotFoundError:
        raise UsageError(f"--config: {path} does not exist") from None
    except tomllib.TOMLDecodeError as error:
        raise UsageError(f"--config: {path} is not valid TOML ({error})") from None
    allowed = {*SECTIONS, "train", "regularizers", "loggers"}
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
        section: dict(toml.get(section, {})) for section in (*SECTIONS, "train")
    }
    chosen: dict[str, str] = {}
    for section in SECTIONS:
        from_toml = values[section].pop("name", None)
        name = names.get(section) or from_toml
        if section == "data" and name is None:
            name = "digits"
        if section == "loss" and name is None and chosen.get("sampler") == "none":
            name = "none"  # the only loss that trains without contrastive samples
        if name is None:
            raise UsageError(f"no {section} chosen: pass --{section} NAME or set [{section}] name")
        chosen[section] = str(name)
    path_from_toml = values["data"].pop("path", None)
    data_path = data_path if data_path is not None else path_from_toml
    if data_path is not None:
        # Absolute, so that resuming, sampling and evaluating work from any directory.
        data_path = str(Path(data_path).expanduser().absolute())

    regularizer_tables = dict(toml.get("regularizers", {}))
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
            values["train"][key] = value
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
            accepted = ", ".join([*SECTIONS, "train", *regularizer_names, "logger"])
            raise UsageError(f"-o {text!r}: unknown component {component!r} (accepted: {accepted})")

    resolved: dict[str, ComponentConfig] = {}
    for section in SECTIONS:
        entry = manager.lookup(_KIND_OF_SECTION[section], chosen[section])
        options = entry.component.resolve_options(values[section], prefix=section)
        resolved[section] = ComponentConfig(entry.qualified_id, options)
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
    train_options = TRAIN_COMPONENT.resolve_options(values["train"], prefix="train")
    return RunConfig(
        energy=resolved["energy"],
        sampler=resolved["sampler"],
        loss=resolved["loss"],
        data=resolved["data"],
        data_path=None if data_path is None else str(data_path),
        regularizers=regularizer_configs,
        train=train_options,
        loggers=logger_configs,
    )


def _logger_tables(toml: Mapping[str, Any], chosen: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The option values of each logger: the TOML's ``[loggers.NAME]`` tables, then the
    loggers named on the command line (each once)."""
    tables = dict(toml.get("loggers", {}))
    for name, table in tables.items():
        if not isinstance(table, dict):
            raise UsageError(f"--config: loggers.{name} must be a table [loggers.{name}]")
    values = {name: dict(table) for name, table in tables.items()}
    for name in chosen:
        values.setdefault(name, {})
    return values
