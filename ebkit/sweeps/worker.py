"""A sweep worker: takes trials from the study until none is left, one at a time.

Every ``ebkit sweep`` process (and each of its ``--jobs`` processes) is a worker; they
share nothing but the study's storage, which decides who runs what:

- a grid's points are enqueued as waiting trials when the study is created, and a
  worker takes one by moving it from waiting to running, which the storage does for
  one worker only (so no point runs twice);
- a search asks the study's sampler for new points until ``trials`` are made;
- while it runs a trial, a worker records Optuna heartbeats; a trial whose worker
  stopped beating is failed and retried by the next worker that looks
  (``optuna.storages.fail_stale_trials``);
- a worker with nothing to take waits while other workers' trials run (one may be
  lost and come back as a retry), and stops when no trial is waiting or running.
"""

from __future__ import annotations

import contextlib
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
from optuna.storages import BaseStorage
from optuna.storages._heartbeat import BaseHeartbeat
from optuna.trial import TrialState

from ebkit.core.errors import TrainingInterrupted
from ebkit.plugin.manager import PluginManager
from ebkit.sweeps.spec import SweepSpec
from ebkit.sweeps.storage import retry_callback
from ebkit.sweeps.trial import FAILURE_ATTR, TrialFailed, distributions, run_trial
from ebkit.sweeps.validate import Objective

__all__ = ["WorkerSummary", "run_worker", "take_trial"]

_ACTIVE = (TrialState.WAITING, TrialState.RUNNING)


@dataclass
class WorkerSummary:
    """What one worker did: the numbers of the trials it completed and failed."""

    completed: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)


class _Heartbeat:
    """Records an Optuna heartbeat for the trial every ``interval`` seconds, on a thread,
    while the trial trains (storages without heartbeats: nothing)."""

    def __init__(self, storage: BaseStorage, trial_id: int, interval: float) -> None:
        self._storage, self._trial_id, self._interval = storage, trial_id, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, daemon=True)

    def _beat(self) -> None:
        assert isinstance(self._storage, BaseHeartbeat)
        while True:
            self._storage.record_heartbeat(self._trial_id)
            if self._stop.wait(self._interval):
                return

    def __enter__(self) -> _Heartbeat:
        if isinstance(self._storage, BaseHeartbeat):
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()


def take_trial(study: optuna.Study, storage: BaseStorage, spec: SweepSpec) -> optuna.Trial | None:
    """A waiting trial this worker now runs (a grid point, a retry), or a new point of a
    search that has made fewer than ``trials``; ``None`` when there is nothing to take."""
    study_id = storage.get_study_id_from_name(spec.name)
    for waiting in study.get_trials(deepcopy=False, states=(TrialState.WAITING,)):
        trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, waiting.number)
        try:
            taken = storage.set_trial_state_values(trial_id, TrialState.RUNNING)
        except optuna.exceptions.UpdateFinishedTrialError:
            taken = False
        if taken:
            return optuna.trial.Trial(study, trial_id)
    if spec.grid:
        return None
    trials = study.get_trials(deepcopy=False)
    # A retry stands for the trial it retries: count only the first of each.
    originals = [trial for trial in trials if "failed_trial" not in trial.system_attrs]
    if len(originals) >= spec.size:
        return None
    with _own_heartbeats():
        return study.ask(distributions(spec))


@contextlib.contextmanager
def _own_heartbeats() -> Iterator[None]:
    """Silence Optuna's warning that heartbeats are meant for ``Study.optimize``: the
    worker records them itself (:class:`_Heartbeat`) around ask and tell."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Heartbeat of storage")
        yield


def _fail_stale(study: optuna.Study) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Optuna marks it experimental
        optuna.storages.fail_stale_trials(study)


def run_worker(
    manager: PluginManager,
    spec: SweepSpec,
    objective: Objective,
    storage: BaseStorage,
    study: optuna.Study,
    sweep_dir: Path,
    say: Callable[[str], None],
) -> WorkerSummary:
    """Run trials until none is waiting or running (see the module docstring)."""
    summary = WorkerSummary()
    announced_wait = False
    while True:
        _fail_stale(study)
        trial = take_trial(study, storage, spec)
        if trial is None:
            if not study.get_trials(deepcopy=False, states=_ACTIVE):
                return summary
            if not announced_wait:
                say("waiting for the trials other workers are running")
                announced_wait = True
            time.sleep(min(spec.heartbeat_interval, 2))
            continue
        announced_wait = False
        _run_one(manager, spec, objective, storage, study, trial, sweep_dir, say, summary)


def _run_one(
    manager: PluginManager,
    spec: SweepSpec,
    objective: Objective,
    storage: BaseStorage,
    study: optuna.Study,
    trial: optuna.Trial,
    sweep_dir: Path,
    say: Callable[[str], None],
    summary: WorkerSummary,
) -> None:
    start = time.perf_counter()
    study_id = storage.get_study_id_from_name(spec.name)
    trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, trial.number)
    with _Heartbeat(storage, trial_id, spec.heartbeat_interval):
        try:
            value = run_trial(manager, spec, objective, trial, sweep_dir)
        except TrialFailed as failure:
            trial.set_user_attr(FAILURE_ATTR, str(failure))
            _tell(study, trial, say, state=TrialState.FAIL)
            summary.failed.append(trial.number)
            say(f"trial {trial.number} {_describe(trial.params)}: failed: {failure}")
            return
        except (TrainingInterrupted, KeyboardInterrupt) as stop:
            # Failed and enqueued again: the next `ebkit sweep` resumes its run.
            trial.set_user_attr(FAILURE_ATTR, f"interrupted ({type(stop).__name__})")
            _tell(study, trial, say, state=TrialState.FAIL)
            retry_callback(spec)(study, storage.get_trial(trial_id))
            kind = type(stop) if isinstance(stop, TrainingInterrupted) else TrainingInterrupted
            raise kind(
                f"interrupted: trial {trial.number} is queued again and resumes from its "
                "newest checkpoint when the same `ebkit sweep` command runs again"
            ) from None
    elapsed = time.perf_counter() - start
    if _tell(study, trial, say, values=value):
        summary.completed.append(trial.number)
        name = spec.objective.removeprefix("log.")
        result = f"{name} = {value:.6g} ({elapsed:.1f} s)"
        say(f"trial {trial.number} {_describe(trial.params)}: {result}")


def _tell(
    study: optuna.Study, trial: optuna.Trial, say: Callable[[str], None], **result: Any
) -> bool:
    try:
        with _own_heartbeats():
            study.tell(trial, **result)
    except (ValueError, RuntimeError, optuna.exceptions.UpdateFinishedTrialError) as error:
        # Another worker took the trial for lost (no heartbeat for grace_period) and
        # retried it; the retry's result is the one kept.
        say(f"trial {trial.number}: its result is dropped ({error})")
        return False
    return True


def _describe(params: dict[str, Any]) -> str:
    return "(" + ", ".join(f"{name}={value}" for name, value in params.items()) + ")"
