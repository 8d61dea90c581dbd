"""Callbacks that turn a training loop into a run: metrics, checkpoints, pictures, progress."""

from __future__ import annotations

import json
import signal
import threading
import time
from collections.abc import Sized
from pathlib import Path
from typing import Any

from ebkit.core.engine import Callback, Metrics, Trainer, metrics_to_floats
from ebkit.core.files import append_line
from ebkit.runs.checkpoints import checkpoint_paths, prune_checkpoints, save_checkpoint
from ebkit.tracking.logger import LoggerSet

PICTURE_SEED_OFFSET = 7919
"""Pictures use their own generator (seed + this) so drawing them never changes training."""

LANDSCAPE_REFERENCE = 1000
"""Data points drawn under the samples of 2-D pictures (all of a smaller dataset)."""


class MetricsLog(Callback):
    """Appends every ``every``-th step's metrics to ``metrics.jsonl`` and keeps the
    latest values for the progress bar; the run's ``loggers`` get the same record and
    histograms of the step's energies (:attr:`Trainer.last_energies`)."""

    def __init__(self, path: Path, every: int, loggers: LoggerSet | None = None) -> None:
        self.path = path
        self.every = every
        self.loggers = loggers or LoggerSet()
        self.latest: dict[str, float] = {}
        self.history: list[dict[str, Any]] = []

    def on_step_end(self, trainer: Trainer, metrics: Metrics) -> None:
        if trainer.step % self.every and trainer.step != trainer.settings.steps:
            return
        trainer.check_finite()  # never log (or save after) a non-finite loss as a number
        record = {"step": trainer.step, **metrics_to_floats(metrics)}
        self.latest = record
        self.history.append(record)
        append_line(self.path, json.dumps(record))
        if self.loggers:
            scalars = {key: value for key, value in record.items() if key != "step"}
            self.loggers.log_scalars(trainer.step, scalars)
            if self.loggers.wants_histograms:
                # The only copy of the energies to the host: at logged steps, for loggers.
                for tag, energies in trainer.last_energies.items():
                    values = energies.detach().float().cpu().numpy()
                    self.loggers.log_histogram(trainer.step, f"energy/{tag}", values)


class Checkpoints(Callback):
    """Saves a checkpoint every ``every`` steps (0: only at the end) and at the end, then
    removes all but the newest ``keep`` (0: keep all; see
    :func:`ebkit.runs.prune_checkpoints`)."""

    def __init__(self, run_dir: Path, every: int, keep: int = 0) -> None:
        self.run_dir = run_dir
        self.every = every
        self.keep = keep
        self.last_saved: Path | None = None

    def on_step_end(self, trainer: Trainer, metrics: Metrics) -> None:
        if self.every and trainer.step % self.every == 0:
            self.save(trainer)

    def on_train_end(self, trainer: Trainer) -> None:
        self.save(trainer)

    def save(self, trainer: Trainer) -> Path:
        """Save the step's checkpoint unless it was saved already."""
        weights, sidecar = checkpoint_paths(self.run_dir, trainer.step)
        if self.last_saved != weights or not sidecar.is_file():
            self.last_saved = save_checkpoint(trainer, self.run_dir)
            prune_checkpoints(self.run_dir, self.keep)
        return weights


class SamplePictures(Callback):
    """Writes ``samples/step-NNNNNNN.png`` every ``every`` steps and ``samples/final.png``
    at the end, always from the same noise so the pictures show progress.

    For 2-D data it also draws the energy landscape with the same samples and 1000
    reference data points: ``samples/landscape-step-NNNNNNN.png`` at each interval and
    ``samples/landscape.png`` at the end (:func:`ebkit.pictures.landscapes.save_energy_landscape`,
    evaluated on the trainer's device in eval mode, the energy's mode restored after).
    Each PNG, once written, goes to the run's ``loggers`` (tags ``samples``, ``landscape``)."""

    def __init__(
        self, run_dir: Path, every: int, count: int, seed: int, loggers: LoggerSet | None = None
    ) -> None:
        self.folder = run_dir / "samples"
        self.every = every
        self.count = count
        self.seed = seed + PICTURE_SEED_OFFSET
        self.loggers = loggers or LoggerSet()
        self._reference = None

    def on_train_start(self, trainer: Trainer) -> None:
        import torch

        spec = trainer.components.dataset.spec
        if spec.event_shape == (2,):
            generator = torch.Generator().manual_seed(self.seed)
            dataset = trainer.components.dataset
            # A finite dataset of fewer points than that is drawn whole.
            count = (
                min(LANDSCAPE_REFERENCE, len(dataset))
                if isinstance(dataset, Sized)
                else LANDSCAPE_REFERENCE
            )
            # A finite dataset keeps its epoch order in its state: give it back, so the
            # reference points change neither the training batches nor, with several
            # processes, rank 0's order (only rank 0 draws pictures).
            state = dataset.state_dict()
            self._reference = dataset.sample(count, generator).x
            dataset.load_state_dict(state)

    def on_step_end(self, trainer: Trainer, metrics: Metrics) -> None:
        if self.every and trainer.step % self.every == 0 and trainer.step < trainer.settings.steps:
            name = f"step-{trainer.step:07d}.png"
            self.write(trainer, self.folder / name, self.folder / f"landscape-{name}")

    def on_train_end(self, trainer: Trainer) -> None:
        self.write(trainer, self.folder / "final.png", self.folder / "landscape.png")

    def write(self, trainer: Trainer, path: Path, landscape_path: Path | None = None) -> None:
        from ebkit.core.labels import class_grid
        from ebkit.pictures.grids import save_samples
        from ebkit.pictures.landscapes import save_energy_landscape

        spec = trainer.components.dataset.spec
        samples = None
        if trainer.components.sampler.draws_samples:  # not with --sampler none
            labels, per_row = class_grid(trainer.components.energy.spec, self.count)
            count = self.count if labels is None else len(labels)
            samples = trainer.draw_samples(count, self.seed, labels)
            save_samples(samples, path, spec, reference=self._reference, per_row=per_row)
            self.loggers.log_image(trainer.step, "samples", path)
        if landscape_path is not None and spec.event_shape == (2,):
            save_energy_landscape(
                trainer.components.energy,
                landscape_path,
                data=self._reference,
                samples=samples,
                device=trainer.device,
                title=f"step {trainer.step}",
            )
            self.loggers.log_image(trainer.step, "landscape", landscape_path)


class ProgressBar(Callback):
    """A rich progress bar with the latest logged losses, redrawn by the training loop
    itself at most every :attr:`REFRESH_SECONDS` (and when training ends)."""

    REFRESH_SECONDS = 0.5

    def __init__(self, metrics: MetricsLog, *, keys: tuple[str, ...] = ()) -> None:
        self.metrics = metrics
        self.keys = keys
        self._progress: Any = None
        self._task: Any = None
        self._next_refresh = 0.0  # time.monotonic() of the next redraw

    def on_train_start(self, trainer: Trainer) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self._progress = Progress(
            TextColumn("[bold]train"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            TextColumn("{task.fields[losses]}"),
            transient=False,
            # No refresh thread: its wake-ups take the interpreter lock from the training
            # step (2-3 % of a 4 ms step at 2 Hz); the step redraws instead, at most
            # every REFRESH_SECONDS.
            auto_refresh=False,
        )
        self._progress.start()
        self._task = self._progress.add_task(
            "train", total=trainer.settings.steps, completed=trainer.step, losses=""
        )
        self._progress.refresh()
        self._next_refresh = time.monotonic() + self.REFRESH_SECONDS

    def on_step_end(self, trainer: Trainer, metrics: Metrics) -> None:
        if trainer.step % self.metrics.every == 0:
            latest = self.metrics.latest
            shown = [key for key in self.keys if key in latest] or [
                key for key in latest if key.startswith("loss")
            ]
            losses = "  ".join(f"{key}={latest[key]:.4g}" for key in shown)
            self._progress.update(self._task, losses=losses)
        now = time.monotonic()
        if now >= self._next_refresh:
            self._progress.update(self._task, completed=trainer.step)
            self._progress.refresh()
            self._next_refresh = now + self.REFRESH_SECONDS

    def on_train_end(self, trainer: Trainer) -> None:
        self.close(trainer)

    def close(self, trainer: Trainer) -> None:
        if self._progress is not None:
            self._progress.update(self._task, completed=trainer.step)
            self._progress.stop()
            self._progress = None


class StopRequested(Exception):
    """Raised at a step boundary after SIGINT or SIGTERM; carries the signal."""

    def __init__(self, signum: int, *, mid_step: bool = False) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum
        self.mid_step = mid_step


class InterruptAtStepEnd(Callback):
    """Defers Ctrl-C (SIGINT) and SIGTERM to the end of the current step, then raises
    :class:`StopRequested`, so the checkpoint saved on the way out holds a whole step. A
    second signal stops at once, mid-step (``StopRequested(mid_step=True)``), and then
    nothing is saved."""

    SIGNALS = tuple(
        signum for signum in (signal.SIGINT, getattr(signal, "SIGTERM", None)) if signum
    )

    def __init__(self) -> None:
        self.requested: int | None = None
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested is not None:
            raise StopRequested(signum, mid_step=True)
        self.requested = signum

    def on_train_start(self, trainer: Trainer) -> None:
        if threading.current_thread() is threading.main_thread():
            for signum in self.SIGNALS:
                self._previous[signum] = signal.signal(signum, self._handle)

    def on_step_end(self, trainer: Trainer, metrics: Metrics) -> None:
        if self.requested is not None:
            self.restore()
            raise StopRequested(self.requested)

    def on_train_end(self, trainer: Trainer) -> None:
        self.restore()

    def restore(self) -> None:
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)
        self._previous = {}
