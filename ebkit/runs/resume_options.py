"""What ``ebkit train --resume`` accepts: the options of the run as it was configured.

A job script on a preemptible machine re-runs its whole command line after each
preemption, so ``--resume`` accepts every option whose value equals the run's saved
one (names, flags, ``-o`` overrides and a ``--config`` file alike) and refuses only
real changes, naming each. ``--steps`` (to extend a run), ``--device`` (to move it),
``--precision`` and ``--compile`` may change. Nothing here imports torch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ebkit.core.errors import UsageError
from ebkit.plugin.components import Component
from ebkit.plugin.manager import PluginManager
from ebkit.runs.config import (
    COMPONENT_SLOTS,
    SECTIONS,
    ComponentConfig,
    RunConfig,
    _logger_tables,
    complete_saved_options,
    parse_override,
)
from ebkit.runs.directory import read_run_config
from ebkit.runs.settings import TRAIN_COMPONENT

CHANGEABLE_ON_RESUME = ("steps", "device", "precision", "compile", "workers")
"""``train`` options that ``--resume`` may change."""


def check_resume_request(
    manager: PluginManager,
    run_dir: str | Path,
    *,
    toml: Mapping[str, Any] | None = None,
    names: Mapping[str, str | None] | None = None,
    regularizers: Sequence[str] = (),
    data_path: str | None = None,
    train: Mapping[str, Any] | None = None,
    overrides: Sequence[str] = (),
    loggers: Sequence[str] = (),
) -> dict[str, Any]:
    """Compare what a ``train --resume`` command line asks for (the arguments of
    :func:`ebkit.runs.config.resolve_config`) with the run saved in ``run_dir``; refuse
    changes in one line naming each; return the changeable ``train`` options it sets
    (:data:`CHANGEABLE_ON_RESUME`)."""
    saved = complete_saved_options(manager, RunConfig.from_json(read_run_config(Path(run_dir))))
    changes, updates = resume_changes(
        manager,
        saved,
        toml=toml,
        names=names,
        regularizers=regularizers,
        data_path=data_path,
        train=train,
        overrides=overrides,
        loggers=loggers,
    )
    if changes:
        raise UsageError(
            f"--resume continues {run_dir} as it was configured, but {'; '.join(changes)} "
            "(accepted with --resume: the run's own values, --steps, --device, --precision, "
            "--compile, --workers, --quiet)"
        )
    return updates


def resume_changes(
    manager: PluginManager,
    saved: RunConfig,
    *,
    toml: Mapping[str, Any] | None = None,
    names: Mapping[str, str | None] | None = None,
    regularizers: Sequence[str] = (),
    data_path: str | None = None,
    train: Mapping[str, Any] | None = None,
    overrides: Sequence[str] = (),
    loggers: Sequence[str] = (),
) -> tuple[list[str], dict[str, Any]]:
    """The differences between a request and ``saved``, each as ``what (the run has
    what)``, and the changeable ``train`` values the request sets."""
    toml = dict(toml or {})
    claimed = {section: dict(toml.get(section, {})) for section in (*SECTIONS, "train")}
    chosen = {section: claimed[section].pop("name", None) for section in SECTIONS}
    chosen.update({section: name for section, name in (names or {}).items() if name})
    toml_path = claimed["data"].pop("path", None)
    path = data_path if data_path is not None else toml_path
    tables = dict(toml.get("regularizers", {}))
    regularizer_names = list(regularizers) or list(tables)
    claimed_regularizers = {name: dict(tables.get(name) or {}) for name in regularizer_names}
    claimed["train"].update(
        {key: value for key, value in (train or {}).items() if value is not None}
    )
    claimed_loggers = _logger_tables(toml, loggers)
    for text in overrides:
        component, key, value = parse_override(text)
        if component == "logger":
            name, dot, key = key.partition(".")
            if not dot or not key:
                raise UsageError(f"-o {text!r}: expected logger.NAME.KEY=VALUE")
            claimed_loggers.setdefault(name, {})[key] = value
        elif component in claimed:
            claimed[component][key] = value
        elif component in claimed_regularizers or not regularizer_names:
            claimed_regularizers.setdefault(component, {})[key] = value
        else:
            accepted = ", ".join([*SECTIONS, "train", *regularizer_names])
            raise UsageError(f"-o {text!r}: unknown component {component!r} (accepted: {accepted})")

    changes: list[str] = []
    for slot in COMPONENT_SLOTS:
        section, kind, was = slot.key, slot.kind, saved.component(slot.key)
        name = chosen[section]
        if name is not None and manager.lookup(kind, str(name)).qualified_id != was.id:
            changes.append(f"--{section} {name} differs (the run has {was.id})")
            continue
        if claimed[section]:
            component = manager.lookup(kind, was.id).component
            changes += _option_changes(component, section, was, claimed[section])
    if path is not None and str(Path(path).expanduser().absolute()) != saved.data_path:
        changes.append(f"--data-path {path} differs (the run has {saved.data_path})")

    if regularizer_names:
        wanted = [manager.lookup("regularizer", name).qualified_id for name in regularizer_names]
        if wanted != [choice.id for choice in saved.regularizers]:
            had = ", ".join(choice.id for choice in saved.regularizers) or "none"
            changes.append(
                f"--regularizer {', '.join(regularizer_names)} differs (the run has {had})"
            )
    changes += _claimed_option_changes(
        manager, "regularizer", saved.regularizers, claimed_regularizers, prefix=""
    )

    changes += _logger_changes(
        manager, saved, claimed_loggers, named=bool(loggers or toml.get("loggers"))
    )

    updates = {}
    for key in CHANGEABLE_ON_RESUME:
        if key in claimed["train"]:
            value = claimed["train"].pop(key)
            updates[key] = TRAIN_COMPONENT.resolve_options({key: value}, prefix="train")[key]
    train_choice = ComponentConfig("train", saved.train.as_flat())
    changes += _option_changes(TRAIN_COMPONENT, "train", train_choice, claimed["train"])
    return changes, updates


def _option_changes(
    component: Component, prefix: str, saved: ComponentConfig, claimed: Mapping[str, Any]
) -> list[str]:
    """``prefix.key=value differs (the run has ...)`` for each claimed value that,
    validated as the option, differs from the saved one."""
    known = {option.name for option in component.options}
    saved_options = {key: value for key, value in saved.options.items() if key in known}
    before = component.resolve_options(saved_options, prefix=prefix)
    after = component.resolve_options({**saved_options, **claimed}, prefix=prefix)
    return [
        f"{prefix}.{key}={after[key]!r} differs (the run has {before[key]!r})"
        for key in claimed
        if after[key] != before[key]
    ]


def _logger_changes(
    manager: PluginManager,
    saved: RunConfig,
    claimed: Mapping[str, Mapping[str, Any]],
    *,
    named: bool,
) -> list[str]:
    """Differences in the loggers: the set chosen (when the request names any) and the
    options it sets."""
    changes = []
    if named:
        wanted = sorted(manager.lookup("logger", name).qualified_id for name in claimed)
        if wanted != sorted(choice.id for choice in saved.loggers):
            had = ", ".join(choice.id for choice in saved.loggers) or "none"
            changes.append(f"--logger {', '.join(claimed)} differs (the run has {had})")
            return changes
    return changes + _claimed_option_changes(
        manager, "logger", saved.loggers, claimed, prefix="logger."
    )


def _claimed_option_changes(
    manager: PluginManager,
    kind: str,
    saved_choices: Sequence[ComponentConfig],
    claimed: Mapping[str, Mapping[str, Any]],
    *,
    prefix: str,
) -> list[str]:
    """The option changes claimed for the run's components of ``kind`` (regularizers,
    loggers), by component name; a name the run does not have is a change too."""
    saved_by_name = {manager.lookup(kind, choice.id).name: choice for choice in saved_choices}
    changes = []
    for name, values in claimed.items():
        if not values:
            continue
        if name not in saved_by_name:
            changes.append(f"{kind} {name!r} is not one of the run's")
            continue
        choice = saved_by_name[name]
        component = manager.lookup(kind, choice.id).component
        changes += _option_changes(component, f"{prefix}{name}", choice, values)
    return changes
