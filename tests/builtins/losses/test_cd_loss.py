"""Tests for the ``cd`` loss (ebkit.builtins.losses.cd): the formula of Du & Mordatch (2019,
Algorithm 1) on hand-computed cases, its gradients, the metrics, the sampler loss and the
registered component."""

from __future__ import annotations

import pytest
import torch

from ebkit import DataSpec, EnergyOutput, UsageError
from ebkit.builtins.losses.cd import CDLoss, cd_energy_loss, cd_sampler_loss, energy_magnitude
from ebkit.builtins.losses.hooks import ebkit_losses
from ebkit.testing import check_loss, check_option_round_trip

SPEC = DataSpec((2,), -1.0, 1.0)
REAL = torch.tensor([1.0, 2.0])
FAKE = torch.tensor([0.5, 3.0])


def component():
    (record,) = [c for c in ebkit_losses() if c.name == "cd"]
    return record


def test_energy_magnitude_is_a_mean_of_squares_by_hand() -> None:
    # mean(1, 4) + mean(0.25, 9) = 2.5 + 4.625; the square of the means would be 5.3125.
    torch.testing.assert_close(energy_magnitude(REAL, FAKE), torch.tensor(7.125))


def test_cd_loss_by_hand() -> None:
    # mean E⁺ − mean E⁻ = 1.5 − 1.75 = −0.25; + 0.1 · 7.125 = 0.4625
    torch.testing.assert_close(cd_energy_loss(REAL, FAKE), torch.tensor(0.4625))
    torch.testing.assert_close(cd_energy_loss(REAL, FAKE, alpha=1.0), torch.tensor(6.875))


def test_without_alpha_it_is_the_plain_energy_difference() -> None:
    torch.testing.assert_close(cd_energy_loss(REAL, FAKE, alpha=0.0), torch.tensor(-0.25))


def test_batches_of_different_sizes_average_separately() -> None:
    # mean(1, 2, 3) − mean(4) + 0.1·(mean(1, 4, 9) + 16) = 2 − 4 + 0.1·(14/3 + 16)
    loss = cd_energy_loss(torch.tensor([1.0, 2.0, 3.0]), torch.tensor([4.0]))
    torch.testing.assert_close(loss, torch.tensor(-2.0 + 0.1 * (14 / 3 + 16)))


def test_gradients_by_hand() -> None:
    real = REAL.clone().requires_grad_()
    fake = FAKE.clone().requires_grad_()
    cd_energy_loss(real, fake, alpha=0.1).backward()
    # ∂L/∂E⁺_i = 1/B + 2α·E⁺_i/B, ∂L/∂E⁻_i = −1/B + 2α·E⁻_i/B, with B = 2
    torch.testing.assert_close(real.grad, torch.tensor([0.5 + 0.1, 0.5 + 0.2]))
    torch.testing.assert_close(fake.grad, torch.tensor([-0.5 + 0.05, -0.5 + 0.3]))


@pytest.mark.parametrize("alpha", [0.0, 0.1, 2.5])
def test_gradcheck(alpha: float) -> None:
    generator = torch.Generator().manual_seed(0)
    real = torch.randn(5, dtype=torch.float64, generator=generator).requires_grad_()
    fake = torch.randn(3, dtype=torch.float64, generator=generator).requires_grad_()
    assert torch.autograd.gradcheck(lambda r, f: cd_energy_loss(r, f, alpha), (real, fake))
    assert torch.autograd.gradcheck(cd_sampler_loss, (fake,))


def test_sampler_loss_is_the_mean_energy_of_the_samples() -> None:
    fake = FAKE.clone().requires_grad_()
    loss = CDLoss(SPEC).sampler_loss(EnergyOutput(energy=fake))
    torch.testing.assert_close(loss.loss, torch.tensor(1.75))
    torch.testing.assert_close(loss.metrics["loss_sampler"], torch.tensor(1.75))
    loss.loss.backward()
    torch.testing.assert_close(fake.grad, torch.tensor([0.5, 0.5]))


def test_metrics_by_hand() -> None:
    result = CDLoss(SPEC, alpha=0.1).energy_loss(EnergyOutput(REAL), EnergyOutput(FAKE))
    expected = {
        "loss_energy": 0.4625,
        "energy_real": 1.5,
        "energy_fake": 1.75,
        "energy_gap": 0.25,
        "energy_magnitude": 7.125,
    }
    assert set(result.metrics) == set(expected)
    for name, value in expected.items():
        torch.testing.assert_close(result.metrics[name], torch.tensor(value), msg=name)
    torch.testing.assert_close(result.loss, torch.tensor(0.4625))


def test_a_non_finite_energy_gives_a_non_finite_loss_not_a_number() -> None:
    # The engine stops on it (tests/builtins/losses/test_cd_training.py); the loss must not hide it.
    loss = cd_energy_loss(torch.tensor([1.0, float("inf")]), FAKE)
    assert not torch.isfinite(loss)
    assert torch.isnan(cd_energy_loss(torch.tensor([float("nan"), 1.0]), FAKE))


@pytest.mark.parametrize("alpha", [0.0, 0.1, 3.0])
def test_cd_conforms(alpha: float) -> None:
    check_loss(component(), alpha=alpha)
    check_loss(component(), spec=SPEC, alpha=alpha)


def test_component_record() -> None:
    record = component()
    check_option_round_trip(record)
    assert record.factory == "ebkit.builtins.losses.cd:CDLoss"
    assert record.option("alpha").default == 0.1
    assert record.load_factory() is CDLoss


def test_class_defaults_match_the_options() -> None:
    assert CDLoss(SPEC).alpha == component().option("alpha").default


def test_negative_alpha_is_refused_with_one_line() -> None:
    with pytest.raises(UsageError, match=r"loss\.alpha: '-1' is below the minimum 0"):
        component().resolve_options({"alpha": "-1"}, prefix="loss")
    with pytest.raises(ValueError, match="alpha must be a finite number >= 0"):
        CDLoss(SPEC, alpha=-0.5)
    for value in (float("nan"), float("inf")):
        with pytest.raises(ValueError, match="alpha must be a finite number >= 0"):
            CDLoss(SPEC, alpha=value)
