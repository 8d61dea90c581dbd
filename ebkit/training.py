"""Running a training job into a run directory: the code path of ``ebkit train``,
also usable from Python."""

from __future__ import annotations

from pathlib import Path

from ebkit.build import build_components, resolve_device
from ebkit.callbacks import (
    Checkpoints,
    InterruptAtStepEnd,
    MetricsLog,
    ProgressBar,
    SamplePictures,
)
from ebkit.config import RunConfig
from ebkit.engine import Callback, Trainer, TrainSettings
from ebkit.errors import TrainingInterrupted
from ebkit.plugins import PluginManager, get_plugin_manager
from ebkit.runs import prepare_run_dir, save_checkpoint, write_json


def settings_from_config(config: RunConfig) -> TrainSettings:
    train = config.train
    return TrainSettings(
        steps=train["steps"],
        batch_size=train["batch_size"],
        seed=train["seed"],
        energy_lr=train["energy_lr"],
        sampler_lr=train["sampler_lr"],
        beta1=train["beta1"],
        beta2=train["beta2"],
    )


def train_run(
    config: RunConfig,
    out: str | Path,
    *,
    manager: PluginManager | None = None,
    progress: bool = True,
    extra_callbacks: tuple[Callback, ...] = (),
) -> Trainer:
    """Build the components of ``config``, train them and fill the run directory ``out``.

    Ctrl-C saves a checkpoint before re-raising; a non-finite loss stops the run and
    leaves the last good checkpoint in place.
    """
    manager = manager or get_plugin_manager()
    components = build_components(manager, config)
    device = resolve_device(config.train["device"])
    # Built before the run directory exists, so a configuration error leaves nothing behind.
    trainer = Trainer(components, settings_from_config(config), device=device)
    run_dir = prepare_run_dir(out)
    write_json(run_dir / "config.json", config.as_json())

    train = config.train
    metrics = MetricsLog(run_dir / "metrics.jsonl", train["log_every"])
    checkpoints = Checkpoints(run_dir, train["checkpoint_every"])
    callbacks: list[Callback] = [
        metrics,
        checkpoints,
        SamplePictures(run_dir, train["sample_every"], train["sample_count"], train["seed"]),
    ]
    progress_bar = ProgressBar(metrics) if progress else None
    if progress_bar is not None:
        callbacks.append(progress_bar)
    callbacks.extend(extra_callbacks)
    interrupt = InterruptAtStepEnd()
    callbacks.append(interrupt)
    trainer.callbacks = callbacks
    try:
        trainer.fit()
    except KeyboardInterrupt:
        saved = save_checkpoint(trainer, run_dir)
        raise TrainingInterrupted(
            f"interrupted at step {trainer.step}; checkpoint saved to {saved}"
        ) from None
    finally:
        interrupt.restore()
        if progress_bar is not None:
            progress_bar.close(trainer)
    _write_curves(run_dir, metrics)
    return trainer


def _write_curves(run_dir: Path, metrics: MetricsLog) -> None:
    from ebkit.plotting import save_curves

    if metrics.history:
        save_curves(metrics.history, run_dir / "curves.png")
