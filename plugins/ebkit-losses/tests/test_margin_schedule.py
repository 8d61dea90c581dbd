"""Tests for the margin schedules: the formula, the step buffer and checkpoint round trips."""

from __future__ import annotations

import math

import pytest
import torch

from ebkit import DataSpec, EnergyOutput
from ebkit.testing import check_loss
from ebkit_losses import SCHEDULES, ebkit_losses
from ebkit_losses.margin import MarginLoss, margin_at

MARGIN = next(component for component in ebkit_losses() if component.name == "margin")
SPEC = DataSpec((1, 8, 8))

# m_0 = 16 → m_T = 0 over T = 100 steps, as the paper's EBGAN-LN (over 60k steps).
# cosine at T/4: 8·(1 + cos(π/4)) = 8 + 4√2 ≈ 13.6569.
HAND = {
    "constant": {0: 16.0, 25: 16.0, 50: 16.0, 100: 16.0, 150: 16.0},
    "linear": {0: 16.0, 25: 12.0, 50: 8.0, 100: 0.0, 150: 0.0},
    "cosine": {0: 16.0, 25: 8 + 4 * math.sqrt(2), 50: 8.0, 100: 0.0, 150: 0.0},
}


@pytest.mark.parametrize("schedule", SCHEDULES)
def test_margin_at_by_hand(schedule: str) -> None:
    for step, expected in HAND[schedule].items():
        assert margin_at(step, 16.0, 0.0, 100, schedule) == pytest.approx(expected), step


def test_the_ends_are_exact() -> None:
    for schedule in ("linear", "cosine"):
        assert margin_at(0, 9.6, 0.3, 7, schedule) == 9.6
        assert margin_at(7, 9.6, 0.3, 7, schedule) == 0.3
        assert margin_at(10**6, 9.6, 0.3, 7, schedule) == 0.3


def test_a_schedule_may_also_grow() -> None:
    assert margin_at(5, 1.0, 3.0, 10, "linear") == pytest.approx(2.0)
    # cosine at T/4 from 1 to 3: 3 + (1 − 3)·(1 + √½)/2 ≈ 1.2929
    assert margin_at(25, 1.0, 3.0, 100, "cosine") == pytest.approx(2 - math.sqrt(0.5))


@pytest.mark.parametrize("schedule", SCHEDULES)
def test_a_tensor_step_gives_the_same_values_as_a_tensor(schedule: str) -> None:
    for step, expected in HAND[schedule].items():
        value = margin_at(torch.tensor(step), 16.0, 0.0, 100, schedule)
        assert isinstance(value, torch.Tensor) and value.ndim == 0
        assert value.dtype == torch.get_default_dtype()
        assert float(value) == pytest.approx(expected, abs=1e-5), step


def test_invalid_schedules_are_errors() -> None:
    with pytest.raises(ValueError, match="schedule must be"):
        margin_at(0, 1.0, 0.0, 10, "step")
    with pytest.raises(ValueError, match="steps must be"):
        margin_at(0, 1.0, 0.0, 0, "linear")
    with pytest.raises(ValueError, match="schedule must be"):
        MarginLoss(SPEC, schedule="exponential")
    with pytest.raises(ValueError, match="final_margin"):
        MarginLoss(SPEC, final_margin=-1.0)


def run_steps(loss: MarginLoss, steps: int) -> list[float]:
    """The margin each of ``steps`` training steps uses, as the engine drives the loss."""
    real, fake = EnergyOutput(torch.tensor([1.0, 2.0])), EnergyOutput(torch.tensor([3.0, 30.0]))
    used = []
    for _ in range(steps):
        used.append(float(loss.energy_loss(real, fake).metrics["margin"]))
        assert loss.update_state(real, fake) == {}
    return used


@pytest.mark.parametrize("schedule", SCHEDULES)
def test_the_loss_follows_its_schedule_step_by_step(schedule: str) -> None:
    loss = MarginLoss(SPEC, margin=16.0, schedule=schedule, final_margin=0.0, schedule_steps=4)
    expected = [margin_at(step, 16.0, 0.0, 4, schedule) for step in range(6)]
    assert run_steps(loss, 6) == pytest.approx(expected)
    assert int(loss.step) == 6 and loss.step.dtype == torch.int64


def test_the_hinge_and_the_metrics_use_the_current_margin() -> None:
    loss = MarginLoss(SPEC, margin=10.0, schedule="linear", final_margin=0.0, schedule_steps=2)
    real = EnergyOutput(torch.tensor([1.0, 2.0]))
    fake = EnergyOutput(torch.tensor([4.0, 8.0]))
    # step 0, m = 10: 1.5 + mean(6, 2) = 5.5, no fake above the margin.
    out = loss.energy_loss(real, fake)
    assert float(out.loss) == pytest.approx(5.5)
    assert float(out.metrics["fake_above_margin"]) == 0.0
    loss.update_state(real, fake)
    # step 1, m = 5: 1.5 + mean(1, 0) = 2.0, half the fakes above.
    out = loss.energy_loss(real, fake)
    assert float(out.loss) == pytest.approx(2.0)
    assert float(out.metrics["fake_above_margin"]) == 0.5
    assert float(out.metrics["margin"]) == pytest.approx(5.0)
    loss.update_state(real, fake)
    # step 2 and after, m = 0: only the real term is left.
    assert float(loss.energy_loss(real, fake).loss) == pytest.approx(1.5)


def test_the_step_buffer_survives_a_state_dict_round_trip() -> None:
    options = {"margin": 16.0, "schedule": "cosine", "schedule_steps": 100}
    loss = MarginLoss(SPEC, **options)
    run_steps(loss, 25)
    state = loss.state_dict()
    assert set(state) == {"step"}
    restored = MarginLoss(SPEC, **options)
    assert int(restored.step) == 0
    restored.load_state_dict(state)
    assert int(restored.step) == 25
    assert float(restored.current_margin()) == pytest.approx(8 + 4 * math.sqrt(2), abs=1e-5)
    assert run_steps(restored, 3) == run_steps(loss, 3)


def test_the_step_buffer_survives_safetensors() -> None:
    safetensors = pytest.importorskip("safetensors.torch")
    loss = MarginLoss(SPEC, schedule="linear")
    run_steps(loss, 3)
    tensors = safetensors.load(safetensors.save(loss.state_dict()))
    restored = MarginLoss(SPEC, schedule="linear")
    restored.load_state_dict(tensors)
    assert restored.step.dtype == torch.int64 and int(restored.step) == 3


def test_the_buffer_moves_with_the_loss() -> None:
    loss = MarginLoss(SPEC, schedule="linear").to(torch.float64)
    # .to(dtype) must leave the integer step alone.
    assert loss.step.dtype == torch.int64


@pytest.mark.parametrize("schedule", ["linear", "cosine"])
def test_scheduled_margin_conforms(schedule: str) -> None:
    # One scheduled step changes the margin, so check_loss's state round trip matters.
    check_loss(MARGIN, schedule=schedule, margin=2.0, schedule_steps=1)
