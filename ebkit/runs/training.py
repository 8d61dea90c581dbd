"""Running a training job into a run directory: the code path of ``ebkit train``
(new runs and ``--resume``), also usable from Python."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from ebkit.core.engine import Callback, Components, Trainer, TrainSettings
from ebkit.core.errors import TrainingInterrupted, UsageError
from ebkit.core.extensions import FreezeSampler, StepExtension
from ebkit.plugin.manager import PluginManager, get_plugin_manager
from ebkit.runs.build import build_components, resolve_device
from ebkit.runs.callbacks import (
    Checkpoints,
    InterruptAtStepEnd,
    MetricsLog,
    ProgressBar,
    SamplePictures,
)
from ebkit.runs.checkpoints import (
    latest_checkpoint,
    load_checkpoint,
    prepare_run_dir,
    read_run_config,
    restore_trainer_state,
    save_checkpoint,
    truncate_metrics,
    write_json,
)
from ebkit.runs.config import RunConfig, complete_saved_options
from ebkit.runs.schedules import lr_schedule_from_train_options
from ebkit.runs.splits import semi_supervised
from ebkit.tracking.logger import build_loggers


def settings_from_config(config: RunConfig) -> TrainSettings:
    """The engine's settings: the run's optimisation section."""
    return TrainSettings(**asdict(config.train.optimisation))


def build_trainer(config: RunConfig, manager: PluginManager) -> Trainer:
    """The components of ``config`` in a :class:`Trainer`, with the step extensions its
    ``train`` options ask for (:func:`step_extensions`)."""
    components = build_components(manager, config)
    extensions = step_extensions(config, components)
    # Refuse a bad schedule pairing before anything is trained or written.
    lr_schedule_from_train_options(config.train.schedule)
    device = resolve_device(config.train.hardware.device)
    return Trainer(components, settings_from_config(config), device=device, extensions=extensions)


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
) -> Trainer:
    """Build the components of ``config``, train them and fill the new run directory
    ``out`` (an existing, non-empty directory is refused).

    Ctrl-C saves a checkpoint and raises :class:`TrainingInterrupted`; a non-finite loss
    stops the run and leaves the last good checkpoint in place.
    """
    manager = manager or get_plugin_manager()
    # Built before the run directory exists, so a configuration error (or a logger whose
    # package is missing) leaves nothing behind.
    trainer = build_trainer(config, manager)
    loggers = build_loggers(manager, config.loggers)
    run_dir = prepare_run_dir(out)
    write_json(run_dir / "config.json", config.as_json())
    _fit(
        trainer,
        config,
        run_dir,
        MetricsLog(run_dir / "metrics.jsonl", config.train.logging.log_every, loggers),
        progress=progress,
        extra_callbacks=extra_callbacks,
    )
    return trainer


def resume_run(
    run_dir: str | Path,
    *,
    steps: int | None = None,
    device: str | None = None,
    manager: PluginManager | None = None,
    progress: bool = True,
    extra_callbacks: tuple[Callback, ...] = (),
) -> Trainer:
    """Continue a stopped run from its newest complete checkpoint.

    On the same device and seed, the result is bit-identical to a run that was never
    interrupted. ``steps`` extends (or sets) the total number of steps; ``device``
    moves the run.
    """
    run_dir = Path(run_dir)
    manager = manager or get_plugin_manager()
    config = complete_saved_options(manager, RunConfig.from_json(read_run_config(run_dir)))
    if steps is not None:
        config.train = config.train.replace(steps=steps)
    if device is not None:
        config.train = config.train.replace(device=device)
    for leftover in (run_dir / "checkpoints").glob(".*.tmp"):
        leftover.unlink()  # a write cut short by the kill; the rename never happened
    weights = latest_checkpoint(run_dir)
    if weights is None:
        raise UsageError(f"--resume: {run_dir} holds no complete checkpoint to resume from")
    tensors, meta = load_checkpoint(weights)
    trainer = build_trainer(config, manager)
    loggers = build_loggers(manager, config.loggers)
    restore_trainer_state(trainer, tensors, meta)
    if trainer.step > trainer.settings.steps:
        raise UsageError(
            f"--steps {trainer.settings.steps}: the run is already at step {trainer.step}"
        )
    write_json(run_dir / "config.json", config.as_json())
    metrics = MetricsLog(run_dir / "metrics.jsonl", config.train.logging.log_every, loggers)
    metrics.history = truncate_metrics(metrics.path, trainer.step)
    _fit(trainer, config, run_dir, metrics, progress=progress, extra_callbacks=extra_callbacks)
    return trainer


def _fit(
    trainer: Trainer,
    config: RunConfig,
    run_dir: Path,
    metrics: MetricsLog,
    *,
    progress: bool,
    extra_callbacks: tuple[Callback, ...],
) -> None:
    logging = config.train.logging
    progress_bar = ProgressBar(metrics) if progress else None
    interrupt = InterruptAtStepEnd()
    lr_schedule = lr_schedule_from_train_options(config.train.schedule)
    trainer.callbacks = [
        # First: it adds the learning rates to the step's metrics before they are logged,
        # and updates its state before a checkpoint saves it.
        *([lr_schedule] if lr_schedule is not None else []),
        *trainer.extension_callbacks(),  # the held-out error of --labels, before logging
        metrics,
        Checkpoints(run_dir, logging.checkpoint_every),
        SamplePictures(
            run_dir,
            logging.sample_every,
            logging.sample_count,
            config.train.optimisation.seed,
            metrics.loggers,
        ),
        *([progress_bar] if progress_bar is not None else []),
        *extra_callbacks,
        interrupt,
    ]
    metrics.loggers.start(run_dir, config.as_json(), trainer.step)
    try:
        trainer.fit()
    except KeyboardInterrupt:
        saved = save_checkpoint(trainer, run_dir)
        raise TrainingInterrupted(
            f"interrupted at step {trainer.step}; checkpoint saved to {saved} "
            f"(continue with: ebkit train --resume --out {run_dir})"
        ) from None
    finally:
        interrupt.restore()
        if progress_bar is not None:
            progress_bar.close(trainer)
        metrics.loggers.finish()
    _write_curves(run_dir, metrics)


def _write_curves(run_dir: Path, metrics: MetricsLog) -> None:
    from ebkit.pictures.curves import save_curves

    if metrics.history:
        save_curves(metrics.history, run_dir / "curves.png")
