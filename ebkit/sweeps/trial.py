"""One trial of a sweep: an ordinary ebkit run directory under ``SWEEP/trials/``,
trained with the trial's parameters and scored by the objective.

A retry of a lost trial (its worker was killed) carries the lost trial's run directory
and resumes it from its newest checkpoint (:func:`ebkit.runs.training.resume_run`), so
the work done before the kill is kept and the result is the same as without the kill.
"""

from __future__ import annotations

import json
import math
import os
import socket
from pathlib import Path
from typing import Any

import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

from ebkit.core.errors import EbkitError, TrainingInterrupted
from ebkit.plugin.manager import PluginManager
from ebkit.sweeps.spec import Parameter, SweepSpec
from ebkit.sweeps.validate import Objective, resolve_trial_config

__all__ = [
    "FAILURE_ATTR",
    "RUN_DIR_ATTR",
    "WORKER_ATTR",
    "TrialFailed",
    "distributions",
    "read_objective",
    "run_trial",
    "suggest",
    "trial_dir_name",
]

RUN_DIR_ATTR = "run_dir"
"""User attribute: the trial's run directory, relative to the sweep folder."""
FAILURE_ATTR = "failure"
"""User attribute: why a trial failed, one line (the run's own error message)."""
WORKER_ATTR = "worker"
"""User attribute: ``host:pid`` of the process that ran (or runs) the trial."""


class TrialFailed(Exception):
    """The trial's run stopped or could not be scored; the message says why."""


def distribution(parameter: Parameter) -> BaseDistribution:
    """The Optuna distribution a parameter is drawn from (or, in a grid, listed in)."""
    if parameter.choices is not None:
        return CategoricalDistribution(list(parameter.choices))
    assert parameter.low is not None and parameter.high is not None
    if parameter.is_int_range:
        step = int(parameter.step or 1)
        return IntDistribution(
            int(parameter.low), int(parameter.high), log=parameter.log, step=step
        )
    return FloatDistribution(
        float(parameter.low), float(parameter.high), log=parameter.log, step=parameter.step
    )


def distributions(spec: SweepSpec) -> dict[str, BaseDistribution]:
    """``{parameter name: distribution}`` of every parameter of ``spec``."""
    return {parameter.name: distribution(parameter) for parameter in spec.parameters}


def suggest(trial: optuna.Trial, parameter: Parameter) -> Any:
    """The trial's value of ``parameter``: its fixed value in a grid or a retry, else
    drawn by the study's sampler."""
    name = parameter.name
    if parameter.choices is not None:
        return trial.suggest_categorical(name, list(parameter.choices))
    assert parameter.low is not None and parameter.high is not None
    if parameter.is_int_range:
        step = int(parameter.step or 1)
        return trial.suggest_int(
            name, int(parameter.low), int(parameter.high), step=step, log=parameter.log
        )
    return trial.suggest_float(
        name, float(parameter.low), float(parameter.high), step=parameter.step, log=parameter.log
    )


def trial_dir_name(number: int) -> str:
    """``trials/0007``: where trial 7's run goes, relative to the sweep folder."""
    return f"trials/{number:04d}"


def run_trial(
    manager: PluginManager,
    spec: SweepSpec,
    objective: Objective,
    trial: optuna.Trial,
    sweep_dir: Path,
) -> float:
    """Train the trial's run and return its objective; a run that stops on an error
    (a non-finite loss, options that do not fit together...) raises
    :class:`TrialFailed` with the run's own message."""
    values = {parameter.name: suggest(trial, parameter) for parameter in spec.parameters}
    # A retry resumes the lost trial's run if it got as far as writing its config;
    # otherwise it starts its own.
    relative = trial.user_attrs.get(RUN_DIR_ATTR)
    if relative is None or not (sweep_dir / relative / "config.json").is_file():
        relative = trial_dir_name(trial.number)
    trial.set_user_attr(RUN_DIR_ATTR, relative)
    trial.set_user_attr(WORKER_ATTR, f"{socket.gethostname()}:{os.getpid()}")
    run_dir = sweep_dir / relative
    from ebkit.runs.training import resume_run, train_run

    try:
        if (run_dir / "config.json").is_file():
            resume_run(run_dir, manager=manager, progress=False, pictures=spec.pictures)
        else:
            config = resolve_trial_config(manager, spec, values)
            train_run(config, run_dir, manager=manager, progress=False, pictures=spec.pictures)
        return read_objective(objective, run_dir, spec.evaluate_samples, manager)
    except TrainingInterrupted:
        raise
    except EbkitError as error:
        raise TrialFailed(str(error)) from None


def read_objective(
    objective: Objective, run_dir: Path, samples: int, manager: PluginManager
) -> float:
    """The objective of the run in ``run_dir``: the last logged value of a ``log.``
    metric, or the metric of ``ebkit evaluate`` (which writes the run's ``eval.json``)."""
    if objective.source == "log":
        value = _last_logged(run_dir / "metrics.jsonl", objective.metric)
    else:
        from ebkit.evaluation.evaluate import evaluate_run, write_evaluation
        from ebkit.runs.saved import SavedRun

        run = SavedRun.open(run_dir)
        results = evaluate_run(run, n=samples, manager=manager)
        write_evaluation(run_dir, results)
        table = results if objective.set is None else results["sets"].get(objective.set, {})
        value = table.get(objective.metric)
    name = (
        objective.metric
        if objective.set in (None, "samples")
        else f"{objective.set}.{objective.metric}"
    )
    if value is None or not math.isfinite(float(value)):
        raise TrialFailed(f"the objective {name} is not a finite number ({value})")
    return float(value)


def _last_logged(path: Path, metric: str) -> Any:
    value = None
    if path.is_file():
        for line in path.read_text().splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut short by a kill
            if metric in record:
                value = record[metric]
    return value
