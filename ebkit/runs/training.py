"""Running a training job into a run directory: the code path of ``ebkit train``
(new runs and ``--resume``), also usable from Python."""

from __future__ import annotations

import signal
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ebkit.core.engine import Callback, Components, Trainer, TrainSettings
from ebkit.core.errors import TrainingInterrupted, TrainingTerminated, UsageError
from ebkit.core.extensions import FreezeSampler, StepExtension
from ebkit.core.semi_supervised import HeldOutError
from ebkit.core.streaming import Streamed
from ebkit.plugin.manager import PluginManager, get_plugin_manager
from ebkit.runs.build import build_components, can_compile, resolve_device
from ebkit.runs.callbacks import (
    Checkpoints,
    InterruptAtStepEnd,
    MetricsLog,
    ProgressBar,
    SamplePictures,
    StopRequested,
)
from ebkit.runs.checkpoints import (
    latest_checkpoint,
    newest_valid_checkpoint,
    prepare_run_dir,
    read_run_config,
    restore_trainer_state,
    set_aside_later_checkpoints,
    truncate_metrics,
    write_json,
)
from ebkit.runs.config import RunConfig, complete_saved_options
from ebkit.runs.directory import RunLock, check_new_run_dir, say
from ebkit.runs.distributed import (
    Parallel,
    describe,
    join_ranks,
    make_data_parallel,
    mark_finished,
    on_main,
    requested_world_size,
    saved_world_size,
)
from ebkit.runs.rank_agreement import (
    AgreedInterrupt,
    AverageLoggedMetrics,
    AverageMetric,
    AverageNormStatistics,
)
from ebkit.runs.rank_checkpoints import RankCheckpoints, load_agreed_checkpoint
from ebkit.runs.schedules import LRHalving, lr_schedule_from_train_options
from ebkit.runs.splits import semi_supervised
from ebkit.runs.train_defaults import batch_size_for, resolve_train_defaults
from ebkit.tracking.logger import build_loggers

if TYPE_CHECKING:
    from torch import Tensor


def settings_from_config(config: RunConfig) -> TrainSettings:
    """The engine's settings: the run's optimisation section (an option still at auto
    takes the engine's default)."""
    chosen = {k: v for k, v in asdict(config.train.optimisation).items() if v is not None}
    return TrainSettings(**chosen)


def build_trainer(config: RunConfig, manager: PluginManager) -> Trainer:
    """The components of ``config`` in a :class:`Trainer`, with the step extensions its
    ``train`` options ask for (:func:`step_extensions`)."""
    components = build_components(manager, config)
    batch_size_auto = config.train.optimisation.batch_size is None
    config.train = resolve_train_defaults(
        config.train,
        components.dataset.spec,
        (components.energy, components.sampler, components.loss),
    )
    extensions = step_extensions(config, components)
    config.train = batch_size_for(config.train, components.dataset, auto=batch_size_auto)
    # Refuse a bad schedule pairing before anything is trained or written.
    lr_schedule_from_train_options(config.train.schedule)
    hardware = config.train.hardware
    device = resolve_device(hardware.device)
    if isinstance(components.dataset, Streamed):
        components.dataset.configure(workers=hardware.workers, device=device)
    return Trainer(
        components,
        settings_from_config(config),
        device=device,
        extensions=extensions,
        precision=hardware.precision,
        compiled=hardware.compile and can_compile(),
    )


def step_extensions(config: RunConfig, components: Components) -> list[StepExtension]:
    """The variants of the step that the ``train`` options choose: with
    ``train.labels``, :class:`~ebkit.core.semi_supervised.SemiSupervised` (the dataset
    becomes its unlabelled part, see :func:`ebkit.runs.splits.semi_supervised`); with
    ``train.sampler_steps``, :class:`FreezeSampler`. The data-only step of ``--sampler
    none`` the trainer chooses itself."""
    train = config.train
    try:
        components.dataset, labelled = semi_supervised(
            components.dataset, train.semi_supervised, train.optimisation.seed
        )
    except ValueError as error:
        raise UsageError(str(error)) from None
    extensions: list[StepExtension] = [] if labelled is None else [labelled]
    if train.schedule.sampler_steps:
        extensions.append(FreezeSampler(after=train.schedule.sampler_steps))
    return extensions


def train_run(
    config: RunConfig,
    out: str | Path,
    *,
    manager: PluginManager | None = None,
    progress: bool = True,
    extra_callbacks: tuple[Callback, ...] = (),
    pictures: bool = True,
) -> Trainer:
    """Build the components of ``config``, train them and fill the new run directory
    ``out`` (an existing directory holding files is refused, unless it holds only a run
    stopped before its first checkpoint, which starts afresh).

    The directory is locked while training (:class:`ebkit.runs.directory.RunLock`).
    SIGINT and SIGTERM save a checkpoint at the end of the step and raise
    :class:`TrainingInterrupted` or :class:`TrainingTerminated`; non-finite weights
    stop the run and leave the last good checkpoint in place.
    """
    manager = manager or get_plugin_manager()
    # Built and checked before the run directory exists, so a configuration error (or a
    # logger whose package is missing) leaves nothing behind.
    parallel = join_ranks(config.train.hardware.device)  # None in one process
    trainer = build_trainer(config, manager)
    if parallel is not None:
        make_data_parallel(trainer, parallel)
    loggers = build_loggers(manager, config.loggers)
    lock = RunLock(out)

    def start() -> Path:
        check_new_run_dir(out)
        lock.acquire()
        try:
            run_dir = prepare_run_dir(out)
            write_json(run_dir / "config.json", _config_json(config, parallel))
        except BaseException:
            lock.release()
            raise
        return run_dir

    run_dir = on_main(parallel, start) or Path(out)
    try:
        _fit(
            trainer,
            config,
            run_dir,
            MetricsLog(run_dir / "metrics.jsonl", config.train.logging.log_every, loggers),
            progress=progress,
            extra_callbacks=extra_callbacks,
            pictures=pictures,
            parallel=parallel,
        )
    finally:
        lock.release()
    return trainer


def resume_run(
    run_dir: str | Path,
    *,
    steps: int | None = None,
    device: str | None = None,
    workers: int | None = None,
    precision: str | None = None,
    compile: bool | None = None,
    manager: PluginManager | None = None,
    progress: bool = True,
    extra_callbacks: tuple[Callback, ...] = (),
    pictures: bool = True,
) -> Trainer:
    """Continue a stopped run from its newest valid checkpoint (damaged newer ones are
    skipped, one line each, and moved to ``checkpoints/damaged/``); a run stopped before
    its first checkpoint starts again from step 0.

    On the same device and seed, the result is bit-identical to a run that was never
    interrupted. ``steps`` extends (or sets) the total number of steps; ``device``
    moves the run; ``precision``, ``compile`` and ``workers`` change how it computes and
    reads its data, not what (compiled and eager runs read each other's checkpoints).
    """
    run_dir = Path(run_dir)
    manager = manager or get_plugin_manager()
    config = complete_saved_options(manager, RunConfig.from_json(read_run_config(run_dir)))
    if steps is not None:
        config.train = config.train.replace(steps=steps)
    changes = {"device": device, "precision": precision, "compile": compile, "workers": workers}
    config.train = config.train.replace(**{k: v for k, v in changes.items() if v is not None})
    lock = RunLock(run_dir)
    try:
        if requested_world_size() == 1:
            _claim(run_dir, 1, lock)
        parallel = join_ranks(config.train.hardware.device)
        trainer = build_trainer(config, manager)
        if parallel is not None:
            make_data_parallel(trainer, parallel)
            on_main(parallel, lambda: _claim(run_dir, parallel.world_size, lock))
        loggers = build_loggers(manager, config.loggers)

        def restore(tensors: dict[str, Tensor], meta: dict[str, Any]) -> None:
            restore_trainer_state(trainer, tensors, meta)

        # A checkpoint that does not restore (a damaged sidecar) is skipped like one
        # with damaged weights; the next one restores every part of the trainer anew.
        if parallel is None:
            loaded = newest_valid_checkpoint(run_dir, accept=restore)
        else:
            loaded = load_agreed_checkpoint(trainer, run_dir, parallel, restore)
        main = parallel is None or parallel.is_main
        if loaded is None and main:
            say(f"{run_dir} has no checkpoint yet: training it from step 0")
        if trainer.step > trainer.settings.steps:
            raise UsageError(
                f"--steps {trainer.settings.steps}: the run is already at step {trainer.step}"
            )
        # Checked: from here on the run's files change.
        metrics = MetricsLog(run_dir / "metrics.jsonl", config.train.logging.log_every, loggers)

        def prepare() -> None:
            skipped = [] if loaded is None else loaded.skipped
            set_aside_later_checkpoints(run_dir, trainer.step, skipped)
            write_json(run_dir / "config.json", _config_json(config, parallel))
            metrics.history = truncate_metrics(metrics.path, trainer.step)

        on_main(parallel, prepare)
        _fit(
            trainer,
            config,
            run_dir,
            metrics,
            progress=progress,
            extra_callbacks=extra_callbacks,
            pictures=pictures,
            parallel=parallel,
        )
    finally:
        lock.release()
    return trainer


def check_resume_world_size(run_dir: Path, world_size: int) -> None:
    """Refuse to resume a run with another world size than it was trained with (its
    rank files, data order and generators are those of that many ranks)."""
    saved = saved_world_size(read_run_config(run_dir))
    if saved != world_size and latest_checkpoint(run_dir) is not None:
        raise UsageError(
            f"{run_dir} was trained by {saved} process(es); resume it with the same number "
            f"({'--nproc ' + str(saved) if saved > 1 else 'one process'}), not {world_size}"
        )


def _claim(run_dir: Path, world_size: int, lock: RunLock) -> None:
    """Lock the run and check its world size (:func:`check_resume_world_size`)."""
    lock.acquire()
    try:
        check_resume_world_size(run_dir, world_size)
    except UsageError:
        lock.release()
        raise


def _config_json(config: RunConfig, parallel: Parallel | None) -> dict[str, Any]:
    payload = config.as_json()
    if parallel is not None:
        batch_size = config.train.optimisation.batch_size
        payload["distributed"] = describe(parallel, batch_size)
        say(
            f"training with {parallel.world_size} processes ({parallel.backend}): batch "
            f"{batch_size} per rank, global batch {batch_size * parallel.world_size}"
        )
    return payload


def _fit(
    trainer: Trainer,
    config: RunConfig,
    run_dir: Path,
    metrics: MetricsLog,
    *,
    progress: bool,
    extra_callbacks: tuple[Callback, ...],
    pictures: bool = True,
    parallel: Parallel | None = None,
) -> None:
    logging = config.train.logging
    main = parallel is None or parallel.is_main
    progress_bar = ProgressBar(metrics) if progress and main else None
    lr_schedule = lr_schedule_from_train_options(config.train.schedule, every=logging.log_every)
    if parallel is None:
        interrupt = InterruptAtStepEnd()
        checkpoints = Checkpoints(run_dir, logging.checkpoint_every, logging.keep_checkpoints)
        agreement: list[Callback] = []
    else:
        interrupt = AgreedInterrupt(parallel)
        checkpoints = RankCheckpoints(
            run_dir, logging.checkpoint_every, logging.keep_checkpoints, parallel
        )
        agreement = [
            AverageNormStatistics(parallel),
            AverageLoggedMetrics(parallel, logging.log_every),
        ]
        if isinstance(lr_schedule, LRHalving):  # its metric, averaged before it reads it
            agreement.insert(0, AverageMetric(parallel, lr_schedule.metric))
    drawn = SamplePictures(
        run_dir,
        logging.sample_every,
        logging.sample_count,
        config.train.optimisation.seed,
        metrics.loggers,
    )
    pictures = pictures and main
    trainer.callbacks = [
        # First: it adds the learning rates to the step's metrics before they are logged,
        # and updates its state before a checkpoint saves it.
        *agreement,  # the ranks' statistics and metrics averaged, before they are read
        *([lr_schedule] if lr_schedule is not None else []),
        # The held-out error of --labels, before logging; computed once, by rank 0.
        *[c for c in trainer.extension_callbacks() if main or not isinstance(c, HeldOutError)],
        *([metrics] if main else []),
        checkpoints,
        *([drawn] if pictures else []),
        *([progress_bar] if progress_bar is not None else []),
        *extra_callbacks,
        interrupt,
    ]
    if main:
        metrics.loggers.start(run_dir, config.as_json(), trainer.step)
    try:
        trainer.fit()
    except StopRequested as stop:
        error = TrainingTerminated if stop.signum != signal.SIGINT else TrainingInterrupted
        resume = f"continue with: ebkit train --resume --out {run_dir}"
        if stop.mid_step:
            newest = latest_checkpoint(run_dir)
            kept = f"the newest checkpoint is {newest}" if newest else "no checkpoint was saved"
            raise error(f"{stop}: stopped mid-step, nothing saved; {kept} ({resume})") from None
        saved = checkpoints.save(trainer)
        raise error(
            f"{stop}: stopped at step {trainer.step}; checkpoint saved to {saved} ({resume})"
        ) from None
    except KeyboardInterrupt:
        # Raised by other code than our handler, perhaps mid-step: a half-done step must
        # not be saved as a whole one.
        newest = latest_checkpoint(run_dir)
        kept = f"the newest checkpoint is {newest}" if newest else "no checkpoint was saved"
        raise TrainingInterrupted(
            f"interrupted at step {trainer.step}, perhaps mid-step: nothing saved; {kept} "
            f"(continue with: ebkit train --resume --out {run_dir})"
        ) from None
    finally:
        interrupt.restore()
        if progress_bar is not None:
            progress_bar.close(trainer)
        if main:
            metrics.loggers.finish()
    if pictures:
        _write_curves(run_dir, metrics)
    if parallel is not None:
        mark_finished()  # this rank waits for the others at exit


def _write_curves(run_dir: Path, metrics: MetricsLog) -> None:
    from ebkit.pictures.curves import save_curves

    if metrics.history:
        save_curves(metrics.history, run_dir / "curves.png")
