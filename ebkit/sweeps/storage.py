"""The study's storage: Optuna's journal file in the sweep folder by default, or any
database URL Optuna's ``RDBStorage`` accepts (``--storage postgresql://...``).

Why a journal file: it is an append-only log that Optuna writes under a lock file
(``JournalFileSymlinkLock``: a symlink is created atomically on local disks and on NFS
alike), so several ``ebkit sweep`` processes on one machine, or on several machines
sharing the folder over NFS, read and write one study without a server. SQLite needs
no server either, but its locks are unreliable on NFS and its writers wait on one
another ("database is locked") when several processes finish trials at once.

Lost workers: Optuna's database storage has heartbeats; its journal storage has none,
so :class:`HeartbeatJournalStorage` adds Optuna's own heartbeat interface to it (the
time of the last beat is a system attribute of the trial). With either storage, a
trial whose worker stopped beating for ``grace_period`` seconds is failed by the next
worker (``optuna.storages.fail_stale_trials``) and retried as a new trial with the same
parameters (``RetryHeartbeatStaleTrialCallback``), up to ``max_retry`` times.
"""

from __future__ import annotations

import json
import os
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
from optuna.storages import BaseStorage, JournalStorage, RDBStorage
from optuna.storages._heartbeat import BaseHeartbeat
from optuna.storages.journal import JournalFileBackend
from optuna.trial import FrozenTrial, TrialState

from ebkit.core.errors import UsageError
from ebkit.sweeps.spec import SweepSpec

__all__ = [
    "FINGERPRINT_ATTR",
    "GRID_ATTR",
    "HEARTBEAT_ATTR",
    "JOURNAL_NAME",
    "HeartbeatJournalStorage",
    "open_storage",
    "open_study",
    "retry_callback",
]

JOURNAL_NAME = "study.journal"
HEARTBEAT_ATTR = "ebkit:heartbeat"
FINGERPRINT_ATTR = "ebkit:spec"
GRID_ATTR = "ebkit:grid_enqueued"
_GRID_WAIT_S = 60.0


def retry_callback(spec: SweepSpec) -> Callable[[optuna.Study, FrozenTrial], None]:
    """Optuna's retry of a lost trial: a new waiting trial with the same parameters
    (and user attributes: the run directory, which the retry resumes)."""
    # Optuna 4.9 renamed RetryFailedTrialCallback; the old name goes in 6.0.
    retry = getattr(optuna.storages, "RetryHeartbeatStaleTrialCallback", None)
    retry = retry or optuna.storages.RetryFailedTrialCallback
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return retry(max_retry=spec.max_retry)


class HeartbeatJournalStorage(JournalStorage, BaseHeartbeat):
    """Optuna's journal storage with Optuna's heartbeat interface: a worker records a
    beat every ``interval`` seconds while it runs a trial; a running trial without a
    beat for ``grace_period`` seconds is stale."""

    def __init__(
        self,
        backend: JournalFileBackend,
        *,
        interval: int,
        grace_period: int,
        stale_callback: Callable[[optuna.Study, FrozenTrial], None] | None,
    ) -> None:
        super().__init__(backend)
        self._interval = interval
        self._grace_period = grace_period
        self._stale_callback = stale_callback

    def record_heartbeat(self, trial_id: int) -> None:
        self.set_trial_system_attr(trial_id, HEARTBEAT_ATTR, time.time())

    def _get_stale_trial_ids(self, study_id: int) -> list[int]:
        now = time.time()
        stale = []
        for trial in self.get_all_trials(study_id, deepcopy=False, states=(TrialState.RUNNING,)):
            started = trial.datetime_start.timestamp() if trial.datetime_start else now
            last = trial.system_attrs.get(HEARTBEAT_ATTR, started)
            if now - float(last) > self._grace_period:
                stale.append(trial._trial_id)
        return stale

    def get_heartbeat_interval(self) -> int:
        return self._interval

    def get_heartbeat_stale_trial_callback(
        self,
    ) -> Callable[[optuna.Study, FrozenTrial], None] | None:
        return self._stale_callback


def open_storage(spec: SweepSpec, sweep_dir: Path, url: str | None) -> BaseStorage:
    """The journal file ``sweep_dir/study.journal``, or the database at ``url``."""
    callback = retry_callback(spec)
    if url is None:
        sweep_dir.mkdir(parents=True, exist_ok=True)
        backend = JournalFileBackend(str(sweep_dir / JOURNAL_NAME))
        return HeartbeatJournalStorage(
            backend,
            interval=spec.heartbeat_interval,
            grace_period=spec.grace_period,
            stale_callback=callback,
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return RDBStorage(
                url,
                heartbeat_interval=spec.heartbeat_interval,
                grace_period=spec.grace_period,
                heartbeat_stale_trial_callback=callback,
            )
    except Exception as error:  # SQLAlchemy's errors for bad URLs and missing drivers
        raise UsageError(f"--storage {url}: Optuna cannot open it ({error})") from None


def open_study(storage: BaseStorage, spec: SweepSpec) -> optuna.Study:
    """Create the study, or join it if another process made it; a study of the same
    name made from another spec is refused. A grid's points are enqueued once, by the
    process that created the study (the others wait for it)."""
    direction = optuna.study.StudyDirection[spec.direction.upper()]
    created = True
    try:
        study_id = storage.create_new_study([direction], spec.name)
    except optuna.exceptions.DuplicatedStudyError:
        created = False
        study_id = storage.get_study_id_from_name(spec.name)
    if created:
        storage.set_study_system_attr(study_id, FINGERPRINT_ATTR, spec.fingerprint())
    study = optuna.load_study(study_name=spec.name, storage=storage, sampler=_sampler(spec))
    fingerprint = _wait_for(storage, study_id, FINGERPRINT_ATTR, 10.0)
    if fingerprint not in (None, spec.fingerprint()):
        raise UsageError(
            f"the study {spec.name!r} in this storage was made from a different spec; "
            "give the sweep another [sweep] name or directory"
        )
    if spec.grid:
        if created:
            _enqueue_grid(study, storage, spec)
        elif _wait_for(storage, study_id, GRID_ATTR, _GRID_WAIT_S) is None:
            # The creator died while enqueuing: add the points that have no trial yet.
            _enqueue_grid(study, storage, spec)
    return study


def _enqueue_grid(study: optuna.Study, storage: BaseStorage, spec: SweepSpec) -> None:
    present = {
        _key(trial.system_attrs.get("fixed_params") or trial.params)
        for trial in study.get_trials(deepcopy=False)
    }
    for point in spec.grid_points():
        if _key(point) not in present:
            study.enqueue_trial(point)
    study_id = storage.get_study_id_from_name(spec.name)
    storage.set_study_system_attr(study_id, GRID_ATTR, spec.size)


def _key(params: dict[str, Any]) -> str:
    return json.dumps(params, sort_keys=True)


def _wait_for(storage: BaseStorage, study_id: int, attr: str, seconds: float) -> Any:
    """The study's system attribute ``attr``, waiting up to ``seconds`` for the process
    that creates the study to set it."""
    deadline = time.monotonic() + seconds
    while True:
        value = storage.get_study_system_attrs(study_id).get(attr)
        if value is not None or time.monotonic() >= deadline:
            return value
        time.sleep(0.2)


def _sampler(spec: SweepSpec) -> optuna.samplers.BaseSampler:
    # Each worker its own stream: workers seeded alike would propose the same points.
    seed = (spec.seed * 1_000_003 + os.getpid()) % 2**32
    if spec.grid or spec.sampler == "random":
        # Grid trials are all enqueued with fixed parameters; no sampler draws them.
        return optuna.samplers.RandomSampler(seed=seed)
    return optuna.samplers.TPESampler(seed=seed)
