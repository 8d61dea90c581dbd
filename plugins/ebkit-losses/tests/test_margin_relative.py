"""Tests for the margin read relative to the data's energy (``relative_to="data"``)."""

from __future__ import annotations

import pytest
import torch

from ebkit import DataSpec, EnergyOutput
from ebkit_losses.margin import MarginLoss

SPEC = DataSpec((1, 8, 8))


def outputs(real: list[float], fake: list[float]) -> tuple[EnergyOutput, EnergyOutput]:
    real_energy = torch.tensor(real, requires_grad=True)
    fake_energy = torch.tensor(fake, requires_grad=True)
    return EnergyOutput(energy=real_energy), EnergyOutput(energy=fake_energy)


def test_the_margin_is_a_multiple_of_the_batch_mean_data_energy() -> None:
    loss = MarginLoss(SPEC, margin=1.5, relative_to="data")
    real, fake = outputs([2.0, 4.0], [1.0, 6.0])  # m = 1.5 · 3 = 4.5
    result = loss.energy_loss(real, fake)
    # mean E(x) = 3; hinge [4.5 − 1]⁺ = 3.5 and [4.5 − 6]⁺ = 0, mean 1.75.
    assert float(result.loss.detach()) == pytest.approx(3.0 + 1.75)
    assert float(result.metrics["margin"]) == pytest.approx(4.5)
    assert float(result.metrics["fake_above_margin"]) == pytest.approx(0.5)
    result.loss.backward()
    # The margin is read from E(x) but not differentiated: E(x)'s gradient is eq. 1's 1/B.
    assert real.energy.grad is not None and fake.energy.grad is not None
    assert real.energy.grad.tolist() == pytest.approx([0.5, 0.5])
    assert fake.energy.grad.tolist() == pytest.approx([-0.5, 0.0])


def test_the_relative_margin_follows_the_schedule_to_no_hinge() -> None:
    loss = MarginLoss(
        SPEC, margin=1.0, schedule="linear", final_margin=0.0, schedule_steps=2, relative_to="data"
    )
    real, fake = outputs([4.0, 4.0], [1.0, 3.0])
    assert float(loss.energy_loss(real, fake).loss.detach()) == pytest.approx(4.0 + 2.0)
    loss.update_state(real, fake)
    assert float(loss.energy_loss(real, fake).metrics["margin"]) == pytest.approx(2.0)
    loss.update_state(real, fake)
    assert float(loss.energy_loss(real, fake).loss.detach()) == pytest.approx(4.0)  # m_T = 0


def test_the_default_margin_is_in_the_energys_units() -> None:
    loss = MarginLoss(SPEC, margin=1.5)
    real, fake = outputs([2.0, 4.0], [1.0, 6.0])
    assert float(loss.energy_loss(real, fake).metrics["margin"]) == pytest.approx(1.5)
    assert "relative_to" not in repr(loss)
    assert "relative_to='data'" in repr(MarginLoss(SPEC, margin=1.5, relative_to="data"))


def test_an_unknown_reference_is_refused() -> None:
    with pytest.raises(ValueError, match="relative_to must be one of zero, data"):
        MarginLoss(SPEC, margin=1.0, relative_to="fake")


def test_feature_matching_trains_the_generator_towards_the_datas_mean_features() -> None:
    loss = MarginLoss(SPEC, margin=1.0, generator="feature-matching")
    real = EnergyOutput(
        energy=torch.tensor([1.0, 2.0]), features=torch.tensor([[0.0, 2.0], [2.0, 4.0]])
    )
    fake_features = torch.tensor([[1.0, 1.0], [3.0, 1.0]], requires_grad=True)
    fake = EnergyOutput(energy=torch.tensor([5.0, 6.0], requires_grad=True), features=fake_features)
    loss.energy_loss(real, fake)
    term = loss.sampler_loss(fake)
    # mean f(x) = (1, 3), mean f(G(z)) = (2, 1): ‖(1, −2)‖² = 5; the energy has no say.
    assert float(term.loss.detach()) == pytest.approx(5.0)
    term.loss.backward()
    assert fake_features.grad is not None and fake.energy.grad is None
    assert fake_features.grad.flatten().tolist() == pytest.approx([1.0, -2.0, 1.0, -2.0])
    assert "generator='feature-matching'" in repr(loss)


def test_feature_matching_refuses_an_energy_without_features() -> None:
    loss = MarginLoss(SPEC, margin=1.0, generator="feature-matching")
    real, fake = outputs([1.0, 2.0], [3.0, 4.0])
    with pytest.raises(ValueError, match="needs an energy with features"):
        loss.energy_loss(real, fake)
    with pytest.raises(ValueError, match="generator must be one of energy, feature-matching"):
        MarginLoss(SPEC, generator="wasserstein")
