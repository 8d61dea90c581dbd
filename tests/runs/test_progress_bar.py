"""Tests for the training progress bar (ebkit.runs.callbacks.ProgressBar): no refresh thread,
redraws from the loop at most every REFRESH_SECONDS, the logged losses shown."""

from __future__ import annotations

import threading
from types import SimpleNamespace

import pytest

from ebkit.runs import callbacks
from ebkit.runs.callbacks import ProgressBar


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(callbacks.time, "monotonic", fake)
    return fake


def test_the_bar_starts_no_thread_and_redraws_from_the_loop_at_most_twice_a_second(
    clock: Clock,
) -> None:
    metrics = SimpleNamespace(every=10, latest={"loss_energy": 1.5, "energy_real": 0.2})
    trainer = SimpleNamespace(step=0, settings=SimpleNamespace(steps=100))
    bar = ProgressBar(metrics)  # type: ignore[arg-type]
    threads = threading.active_count()
    bar.on_train_start(trainer)  # type: ignore[arg-type]
    try:
        assert threading.active_count() == threads  # rich's refresh thread would add one
        (task,) = bar._progress.tasks
        for step in range(1, 10):
            trainer.step = step
            clock.now += 0.04
            bar.on_step_end(trainer, {})  # type: ignore[arg-type]
        assert task.completed == 0  # 0.36 s since the first draw: nothing redrawn yet
        trainer.step = 10
        clock.now += 0.2
        bar.on_step_end(trainer, {})  # type: ignore[arg-type]
        assert task.completed == 10  # 0.56 s: redrawn, with the logged losses
        assert task.fields["losses"] == "loss_energy=1.5"
        trainer.step = 11
        clock.now += 0.1
        bar.on_step_end(trainer, {})  # type: ignore[arg-type]
        assert task.completed == 10
    finally:
        trainer.step = 37
        bar.close(trainer)  # type: ignore[arg-type]
    assert task.completed == 37 and bar._progress is None
