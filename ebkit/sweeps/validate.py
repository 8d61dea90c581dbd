"""Checking a sweep spec against the installed components before anything is written:
every value of every parameter is resolved like a ``--config`` value, the base run is
built, and the objective must be a metric that its trials will report.

Objectives: a metric of ``ebkit evaluate``'s samples (``sliced_wasserstein``,
``ebgan_inception_score``...; ``raw.NAME`` for the raw proposals of a refining
sampler), ``data_energy`` and ``test_error`` (semi-supervised runs), or ``log.NAME``, the
last value of a metric the run logs to ``metrics.jsonl`` (``log.loss_energy``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from ebkit.core.errors import UsageError
from ebkit.plugin.manager import PluginManager
from ebkit.runs.config import RunConfig, resolve_config
from ebkit.sweeps.spec import SweepSpec

__all__ = [
    "LOG_PREFIX",
    "Objective",
    "evaluate_metric_names",
    "logged_metric_names",
    "parse_objective",
    "resolve_trial_config",
    "validate_spec",
]

LOG_PREFIX = "log."


@dataclass(frozen=True)
class Objective:
    """Where a trial's objective comes from: ``source`` is ``log`` (``metrics.jsonl``)
    or ``evaluate`` (``eval.json``: ``set`` is ``samples`` or ``raw``, or ``None`` for a
    top-level value such as ``data_energy``)."""

    source: str
    metric: str
    set: str | None = None


def resolve_trial_config(
    manager: PluginManager, spec: SweepSpec, values: dict[str, Any]
) -> RunConfig:
    """The run configuration of one trial: the base run with ``values`` set."""
    return resolve_config(manager, toml=spec.config_tables(values))


def validate_spec(manager: PluginManager, spec: SweepSpec) -> Objective:
    """Check every parameter value and the objective (one line each, as
    :class:`UsageError`, naming the spec); returns where the objective is read."""
    where = f"sweep spec {spec.path}"
    try:
        resolve_trial_config(manager, spec, {})
    except UsageError as error:
        raise UsageError(f"{where}: the base run: {error}") from None
    for parameter in spec.parameters:
        for target in parameter.targets:
            _check_section(where, spec, target)
        for value in parameter.probe_values():
            try:
                resolve_trial_config(manager, spec, {parameter.name: value})
            except UsageError as error:
                raise UsageError(f"{where}: {parameter.name} = {value!r}: {error}") from None
    return _check_objective(manager, spec, where)


def _check_section(where: str, spec: SweepSpec, name: str) -> None:
    section = name.partition(".")[0]
    from ebkit.runs.config import SECTIONS, TRAIN

    regularizers = list(spec.base.get("regularizers", {}))
    if section not in (*SECTIONS, TRAIN, *regularizers):
        accepted = ", ".join([*SECTIONS, TRAIN, *regularizers])
        raise UsageError(
            f"{where}: parameter {name!r}: unknown section {section!r} (accepted: {accepted})"
        )


def evaluate_metric_names(
    manager: PluginManager, config: RunConfig, *, sampler_trains: bool
) -> set[str]:
    """The metrics ``ebkit evaluate`` reports for runs of ``config``: ``NAME`` for the
    samples, ``raw.NAME`` for the raw proposals of a trainable sampler that refines them
    by steps, ``data_energy`` and ``test_error``."""
    from ebkit.core.data import TensorDataset
    from ebkit.metrics import ImageMetrics
    from ebkit.runs.build import build_dataset

    dataset = build_dataset(manager, config)
    spec = dataset.spec
    names = {"energy"}
    if tuple(spec.event_shape) == (2,):
        names |= {"sliced_wasserstein", "mmd2"}
        if getattr(dataset, "modes", None) is not None:
            names |= {"modes_covered", "num_modes", "high_quality_share", "reverse_kl"}
    if spec.is_image and isinstance(dataset, TensorDataset) and dataset.y is not None:
        fields = {item.name for item in dataclasses.fields(ImageMetrics)}
        if not config.train.conditioning.conditional:
            fields.discard("class_match_share")
        names |= fields
    refines = sampler_trains and config.sampler.options.get("steps")
    sets = {f"raw.{name}" for name in names} if refines else set()
    top = {"data_energy"} | ({"test_error"} if config.train.semi_supervised.labels else set())
    return names | sets | top


def logged_metric_names(manager: PluginManager, config: RunConfig) -> set[str]:
    """The metrics a run of ``config`` logs: one step trained in memory (nothing is
    written), plus the learning rates and the held-out error the callbacks add."""
    from ebkit.runs.training import build_trainer

    trainer = build_trainer(config, manager)
    names = set(trainer.train_step())
    names |= {f"lr_{name}" for name in trainer.optimizers()}
    if config.train.semi_supervised.labels:
        names.add("test_error")
    return names


def _check_objective(manager: PluginManager, spec: SweepSpec, where: str) -> Objective:
    config = resolve_trial_config(manager, spec, {})
    name = spec.objective
    if name.startswith(LOG_PREFIX):
        metric = name[len(LOG_PREFIX) :]
        try:
            known = logged_metric_names(manager, config)
        except UsageError as error:
            raise UsageError(f"{where}: the base run: {error}") from None
        if metric not in known:
            raise UsageError(
                f"{where}: objective {name!r}: the run logs no {metric!r} "
                f"(accepted: {', '.join(LOG_PREFIX + item for item in sorted(known))})"
            )
        return parse_objective(name)
    # Building the trainer checks what resolving cannot (batch size, schedules).
    from ebkit.runs.training import build_trainer

    try:
        trainer = build_trainer(config, manager)
    except UsageError as error:
        raise UsageError(f"{where}: the base run: {error}") from None
    known = evaluate_metric_names(
        manager, config, sampler_trains=trainer.components.sampler.trainable
    )
    if name not in known:
        accepted = ", ".join(sorted(known))
        raise UsageError(
            f"{where}: objective {name!r} is not a metric of `ebkit evaluate` for this run "
            f"(accepted: {accepted}, or log.NAME for a logged metric)"
        )
    return parse_objective(name)


def parse_objective(name: str) -> Objective:
    """Where the objective ``name`` is read (not checked: see :func:`validate_spec`)."""
    if name.startswith(LOG_PREFIX):
        return Objective("log", name[len(LOG_PREFIX) :])
    if name in {"data_energy", "test_error"}:
        return Objective("evaluate", name)
    set_name, dot, metric = name.partition(".")
    return (
        Objective("evaluate", metric, set_name) if dot else Objective("evaluate", name, "samples")
    )
