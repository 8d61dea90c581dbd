"""Tests for EBGAN's margin loss: formulas, automatic margin, metrics and gradients."""

from __future__ import annotations

import math

import pytest
import torch

from ebkit import DataSpec, EnergyOutput, LossFunctional, LossOutput
from ebkit_losses import F_VARIANTS
from ebkit_losses.margin import (
    VECTOR_BATCH_SIZE,
    VECTOR_SAMPLER_LR,
    VECTOR_STEPS,
    MarginLoss,
    auto_margin,
    margin_energy_loss,
    margin_sampler_loss,
)

REAL = torch.tensor([1.0, 2.0])
FAKE = torch.tensor([0.5, 12.0])
M = 10.0


def test_energy_loss_identity_by_hand() -> None:
    # mean(1, 2) + mean([10 − 0.5]⁺, [10 − 12]⁺) = 1.5 + mean(9.5, 0) = 6.25
    torch.testing.assert_close(margin_energy_loss(REAL, FAKE, M), torch.tensor(6.25))
    torch.testing.assert_close(margin_energy_loss(REAL, FAKE, M, "identity"), torch.tensor(6.25))


def test_energy_loss_square_by_hand() -> None:
    # mean(1, 4) + mean(9.5², 0²) = 2.5 + 45.125 = 47.625
    torch.testing.assert_close(margin_energy_loss(REAL, FAKE, M, "square"), torch.tensor(47.625))


def test_sampler_loss_by_hand() -> None:
    # identity: mean(0.5, 12) = 6.25; square: mean(0.25, 144) = 72.125
    torch.testing.assert_close(margin_sampler_loss(FAKE), torch.tensor(6.25))
    torch.testing.assert_close(margin_sampler_loss(FAKE, "square"), torch.tensor(72.125))
    # A batch where L_G and L_D differ under the identity too: mean(0.5, 14) = 7.25.
    torch.testing.assert_close(margin_sampler_loss(torch.tensor([0.5, 14.0])), torch.tensor(7.25))


def test_the_hinge_is_per_sample_then_averaged() -> None:
    # Averaging before the hinge would give [10 − mean(0.5, 12)]⁺ = 3.75 instead of 4.75.
    loss = margin_energy_loss(torch.zeros(2), FAKE, M)
    torch.testing.assert_close(loss, torch.tensor(4.75))


def test_margin_may_be_a_tensor() -> None:
    loss = margin_energy_loss(REAL, FAKE, torch.tensor(10.0))
    torch.testing.assert_close(loss, torch.tensor(6.25))


def test_batches_of_different_sizes_average_separately() -> None:
    # mean(1, 2, 3) + mean([10 − 4]⁺) = 2 + 6
    loss = margin_energy_loss(torch.tensor([1.0, 2.0, 3.0]), torch.tensor([4.0]), M)
    torch.testing.assert_close(loss, torch.tensor(8.0))


def test_energy_loss_gradients_by_hand() -> None:
    real = REAL.clone().requires_grad_()
    fake = FAKE.clone().requires_grad_()
    margin_energy_loss(real, fake, M).backward()
    torch.testing.assert_close(real.grad, torch.tensor([0.5, 0.5]))
    # Fakes beyond the margin get no gradient from L_D.
    torch.testing.assert_close(fake.grad, torch.tensor([-0.5, 0.0]))


def test_sampler_loss_gradient_does_not_vanish_beyond_the_margin() -> None:
    fake = FAKE.clone().requires_grad_()
    margin_sampler_loss(fake).backward()
    torch.testing.assert_close(fake.grad, torch.tensor([0.5, 0.5]))


@pytest.mark.parametrize("f", F_VARIANTS)
def test_gradcheck(f: str) -> None:
    generator = torch.Generator().manual_seed(0)
    real = torch.rand(4, dtype=torch.float64, generator=generator).requires_grad_()
    # Energies on both sides of the margin 1, but away from its kink.
    fake = torch.tensor([0.2, 0.6, 1.5, 3.0], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda r, q: margin_energy_loss(r, q, 1.0, f), (real, fake))
    assert torch.autograd.gradcheck(lambda q: margin_sampler_loss(q, f), (fake,))


def test_unknown_f_is_an_error() -> None:
    with pytest.raises(ValueError, match="f must be"):
        margin_energy_loss(REAL, FAKE, M, "cube")
    with pytest.raises(ValueError, match="f must be"):
        margin_sampler_loss(FAKE, "cube")
    with pytest.raises(ValueError, match="f must be"):
        MarginLoss(DataSpec((2,)), f="cube")


def test_auto_margin_rule_for_the_l2_energy() -> None:
    # 0.3·√1024 = 9.6 ≈ the paper's 10 for 32×32 MNIST; 0.3·√12288 ≈ 33.3 for 64×64×3.
    assert auto_margin(DataSpec((1, 32, 32))) == pytest.approx(9.6)
    assert auto_margin(DataSpec((1, 32, 32)), "l2") == pytest.approx(9.6)
    assert auto_margin(DataSpec((1, 8, 8))) == pytest.approx(2.4)
    assert auto_margin(DataSpec((3, 64, 64))) == pytest.approx(0.3 * math.sqrt(3 * 64 * 64))
    assert MarginLoss(DataSpec((1, 32, 32))).margin == pytest.approx(9.6)


def test_auto_margin_scales_with_the_data_range() -> None:
    # Half-range 4: s = 1.2 per scalar, so 1.2·√2 for a 2-D toy in [-4, 4].
    assert auto_margin(DataSpec((2,), -4.0, 4.0)) == pytest.approx(1.2 * math.sqrt(2))
    # [0, 1] data has half-range 0.5.
    assert auto_margin(DataSpec((1, 32, 32), 0.0, 1.0)) == pytest.approx(4.8)
    assert auto_margin(DataSpec((1, 32, 32), 0.0, 1.0), "mse") == pytest.approx(0.0225)


def test_auto_margin_rule_for_mse_and_l1() -> None:
    # mse: s² = 0.09 whatever the size; l1: s·√(2/π)·d = 0.3·0.79788·64 ≈ 15.32 on 8×8.
    assert auto_margin(DataSpec((1, 8, 8)), "mse") == pytest.approx(0.09)
    assert auto_margin(DataSpec((3, 64, 64)), "mse") == pytest.approx(0.09)
    assert auto_margin(DataSpec((1, 8, 8)), "l1") == pytest.approx(15.3193, rel=1e-5)
    assert MarginLoss(DataSpec((1, 8, 8)), units="l1").margin == pytest.approx(15.3193, rel=1e-5)


def test_auto_margin_rule_for_mae() -> None:
    # mae (BEGAN's L with η = 1): s·√(2/π) = 0.3·0.79788 ≈ 0.2394 whatever the size.
    assert auto_margin(DataSpec((1, 8, 8)), "mae") == pytest.approx(0.239365, rel=1e-5)
    assert auto_margin(DataSpec((3, 64, 64)), "mae") == pytest.approx(0.239365, rel=1e-5)


def test_auto_margins_agree_on_a_gaussian_residual() -> None:
    # A reconstruction error with i.i.d. N(0, 0.3²) entries has, on a large image,
    # l2 ≈ 0.3·√d, mse ≈ 0.09 and l1 ≈ 0.3·√(2/π)·d: each rule's margin.
    spec = DataSpec((3, 64, 64))
    residual = 0.3 * torch.randn(spec.dim, generator=torch.Generator().manual_seed(0))
    measured = {
        "l2": residual.norm(),
        "mse": residual.square().mean(),
        "l1": residual.abs().sum(),
        "mae": residual.abs().mean(),
    }
    for units, value in measured.items():
        assert float(value) == pytest.approx(auto_margin(spec, units), rel=0.02), units


def test_unknown_units_are_an_error() -> None:
    with pytest.raises(ValueError, match="units must be"):
        auto_margin(DataSpec((2,)), "l3")
    with pytest.raises(ValueError, match="units must be"):
        MarginLoss(DataSpec((2,)), margin=1.0, units="l3")


def test_an_explicit_margin_wins_and_is_a_float() -> None:
    loss = MarginLoss(DataSpec((1, 32, 32)), margin=10)
    assert loss.margin == 10.0
    assert isinstance(loss.margin, float)
    assert MarginLoss(DataSpec((2,)), margin=0.0).margin == 0.0


def test_a_negative_margin_is_an_error() -> None:
    with pytest.raises(ValueError, match="margin"):
        MarginLoss(DataSpec((2,)), margin=-1.0)


@pytest.mark.parametrize("f", F_VARIANTS)
def test_class_uses_the_functions(f: str) -> None:
    loss = MarginLoss(DataSpec((2,)), margin=M, f=f)
    assert isinstance(loss, LossFunctional)
    energy = loss.energy_loss(EnergyOutput(REAL), EnergyOutput(FAKE))
    sampler = loss.sampler_loss(EnergyOutput(FAKE))
    assert isinstance(energy, LossOutput) and isinstance(sampler, LossOutput)
    torch.testing.assert_close(energy.loss, margin_energy_loss(REAL, FAKE, M, f))
    torch.testing.assert_close(sampler.loss, margin_sampler_loss(FAKE, f))


def test_energy_loss_metrics_by_hand() -> None:
    loss = MarginLoss(DataSpec((2,)), margin=M, f="square")
    out = loss.energy_loss(EnergyOutput(REAL), EnergyOutput(FAKE))
    expected = {
        "loss_energy": 47.625,
        "energy_real": 1.5,
        "energy_fake": 6.25,
        "energy_gap": 4.75,
        "fake_above_margin": 0.5,
        "margin": 10.0,
    }
    assert set(out.metrics) == set(expected)
    for name, value in expected.items():
        assert float(out.metrics[name]) == pytest.approx(value), name


def test_a_fake_exactly_at_the_margin_counts_as_above() -> None:
    loss = MarginLoss(DataSpec((2,)), margin=M)
    out = loss.energy_loss(EnergyOutput(REAL), EnergyOutput(torch.tensor([10.0, 9.0, 11.0, 0.0])))
    assert float(out.metrics["fake_above_margin"]) == pytest.approx(0.5)


def test_metrics_are_detached_tensors() -> None:
    real = REAL.clone().requires_grad_()
    fake = FAKE.clone().requires_grad_()
    loss = MarginLoss(DataSpec((2,)), margin=M)
    out = loss.energy_loss(EnergyOutput(real), EnergyOutput(fake))
    sampler = loss.sampler_loss(EnergyOutput(fake))
    assert out.loss.requires_grad and sampler.loss.requires_grad
    for name, value in {**out.metrics, **sampler.metrics}.items():
        assert isinstance(value, torch.Tensor) and not value.requires_grad, name
        assert value.ndim == 0, name
    assert float(sampler.metrics["loss_sampler"]) == pytest.approx(6.25)


def test_sampler_loss_keeps_the_graph_through_a_reconstruction() -> None:
    # A generator output x = θ·v and an "auto-encoder" reconstruction 2x: D = ‖2x − x‖.
    # Through the whole graph dL_G/dθ = ‖v‖ = 5; a detached target x would give 2‖v‖.
    theta = torch.tensor(1.5, requires_grad=True)
    x = theta * torch.tensor([[3.0, 4.0]])
    energy = EnergyOutput(energy=torch.linalg.vector_norm(2 * x - x, dim=1), reconstruction=2 * x)
    MarginLoss(DataSpec((2,)), margin=M).sampler_loss(energy).loss.backward()
    torch.testing.assert_close(theta.grad, torch.tensor(5.0))


def test_ebgan_trains_longer_on_larger_batches_and_its_generator_faster_on_vectors() -> None:
    asked = MarginLoss(DataSpec((2,))).train_defaults()
    assert asked == {
        "steps": VECTOR_STEPS,
        "sampler_lr": VECTOR_SAMPLER_LR,
        "batch_size": VECTOR_BATCH_SIZE,
    }
    assert (VECTOR_STEPS, VECTOR_SAMPLER_LR, VECTOR_BATCH_SIZE) == (20000, 2e-3, 256)
    assert MarginLoss(DataSpec((1, 28, 28))).train_defaults() == {}
