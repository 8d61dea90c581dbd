"""The training loop waits for the device only at steps that log, checkpoint or draw
pictures: every read of a tensor's value by ebkit code (``.item()``, ``.tolist()``,
``.cpu()``, ``.numpy()``, ``bool()``, ``float()``, ``int()``) is counted per step, and
steps between logging intervals must have none. (torch's own CPU-side reads, such as
Adam's step counter, which lives on the CPU even for CUDA runs, are not ebkit's.)"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

import ebkit
from ebkit.core.engine import Trainer

PACKAGE = str(Path(ebkit.__file__).resolve().parent)
READS = ("item", "tolist", "cpu", "numpy", "__bool__", "__float__", "__int__", "__index__")
LOG_EVERY = 4
STEPS = 10


class ReadCounter:
    """Counts, per training step, the tensor reads whose caller is ebkit code."""

    def __init__(self) -> None:
        self.step = 0
        self.reads: Counter[tuple[int, str]] = Counter()

    def wrap(self, name: str):
        original = getattr(torch.Tensor, name)
        counter = self

        def counted(tensor, *args, **kwargs):
            caller = sys._getframe(1).f_code.co_filename
            if caller.startswith(PACKAGE) or "/plugins/ebkit-" in caller:
                counter.reads[(counter.step, f"{name} in {Path(caller).name}")] += 1
            return original(tensor, *args, **kwargs)

        return counted


@pytest.fixture
def read_counter(monkeypatch: pytest.MonkeyPatch) -> Iterator[ReadCounter]:
    counter = ReadCounter()
    original_step = Trainer.train_step

    def numbered_step(trainer: Trainer):
        counter.step = trainer.step + 1  # reads until the next step belong to this one
        return original_step(trainer)

    monkeypatch.setattr(Trainer, "train_step", numbered_step)
    for name in READS:
        monkeypatch.setattr(torch.Tensor, name, counter.wrap(name))
    yield counter


def quiet_steps(counter: ReadCounter) -> dict[tuple[int, str], int]:
    """The reads at steps that neither log (every LOG_EVERY and the last) nor save."""
    return {
        (step, what): count
        for (step, what), count in counter.reads.items()
        if 0 < step < STEPS and step % LOG_EVERY
    }


RUNS = {
    "ebgan-mlp": ({"energy": "mlp", "sampler": "generator", "loss": "margin"}, {}),
    "gan-bf16-lr-halving": (
        {"energy": "mlp", "sampler": "generator", "loss": "gan", "precision": "bf16"},
        {
            "train.lr_halve_patience": 3,
            "train.lr_halve_metric": "loss_energy",
            "train.lr_decay_start": 1.0,
        },
    ),
    "langevin-cd": (
        {"energy": "mlp", "sampler": "langevin", "loss": "cd"},
        {"sampler.steps": 3},
    ),
    "replay-cd": ({"energy": "mlp", "sampler": "replay", "loss": "cd"}, {"sampler.steps": 3}),
}


@pytest.mark.parametrize("name", sorted(RUNS))
def test_steps_between_logging_intervals_do_not_synchronise(
    tmp_path: Path, read_counter: ReadCounter, name: str
) -> None:
    names, options = RUNS[name]
    small = {
        "energy.width": 8,
        "train.log_every": LOG_EVERY,
        "train.sample_every": 0,
        "train.checkpoint_every": 0,
        "train.sample_count": 8,
        **({"sampler.width": 8, "sampler.latent_dim": 2} if "generator" in names.values() else {}),
        **options,
    }
    ebkit.train(
        **names, data="8gaussians", steps=STEPS, batch_size=8, options=small, out=tmp_path / "run"
    )
    assert read_counter.reads, "the counter saw no reads at all: it counts nothing"
    logged = {step for step, _ in read_counter.reads}
    assert LOG_EVERY in logged  # the logged steps read their metrics
    assert quiet_steps(read_counter) == {}


def test_the_counter_catches_a_read_between_logging_intervals(
    tmp_path: Path, read_counter: ReadCounter, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The LR-halving rule as it was: a float() of the metric after every step.
    from ebkit.runs import schedules

    original = schedules.LRHalving.on_step_end

    def eager_read(self, trainer, metrics):
        self.every = 1  # check, and so read, at every step
        original(self, trainer, metrics)

    monkeypatch.setattr(schedules.LRHalving, "on_step_end", eager_read)
    ebkit.train(
        energy="mlp",
        sampler="generator",
        loss="gan",
        data="8gaussians",
        steps=STEPS,
        batch_size=8,
        options={
            "energy.width": 8,
            "sampler.width": 8,
            "sampler.latent_dim": 2,
            "train.log_every": LOG_EVERY,
            "train.sample_every": 0,
            "train.lr_halve_patience": 3,
            "train.lr_decay_start": 1.0,
            "train.lr_halve_metric": "loss_energy",
        },
        out=tmp_path / "run",
    )
    assert {step for step, _ in quiet_steps(read_counter)} == {1, 2, 3, 5, 6, 7, 9}
