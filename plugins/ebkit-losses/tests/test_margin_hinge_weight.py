"""Tests for the weight λ on the margin loss's hinge term (``hinge_weight``)."""

from __future__ import annotations

import math

import pytest
import torch

from ebkit import DataSpec, EnergyOutput
from ebkit_losses.margin import MarginLoss, margin_energy_loss

SPEC = DataSpec((1, 8, 8))


def test_the_hinge_term_is_scaled_by_its_weight() -> None:
    real = torch.tensor([2.0, 4.0], requires_grad=True)
    fake = torch.tensor([1.0, 6.0], requires_grad=True)
    # mean E(x) = 3; hinge [5 − 1]⁺ = 4 and [5 − 6]⁺ = 0, mean 2; λ = 0.25: 3 + 0.5.
    loss = margin_energy_loss(real, fake, 5.0, hinge_weight=0.25)
    assert loss.item() == pytest.approx(3.5)
    loss.backward()
    assert real.grad is not None and fake.grad is not None
    assert real.grad.tolist() == pytest.approx([0.5, 0.5])  # the data term is untouched
    assert fake.grad.tolist() == pytest.approx([-0.125, 0.0])  # −λ/B under the margin
    # square: mean(4, 16) = 10 and mean(16, 0) = 8; 10 + 0.25 · 8.
    assert margin_energy_loss(real, fake, 5.0, "square", 0.25).item() == pytest.approx(12.0)


def test_weight_1_is_eq_1_to_the_bit_gradients_included() -> None:
    real = torch.tensor([2.3, 4.1, 0.7], requires_grad=True)
    fake = torch.tensor([1.9, 6.2, 3.3], requires_grad=True)
    weighted = margin_energy_loss(real, fake, 5.1, "square", 1.0)
    (weighted_real, weighted_fake) = torch.autograd.grad(weighted, (real, fake))
    eq_1 = real.square().mean() + torch.clamp(5.1 - fake, min=0).square().mean()
    (eq_1_real, eq_1_fake) = torch.autograd.grad(eq_1, (real, fake))
    assert torch.equal(weighted, eq_1)
    assert torch.equal(weighted_real, eq_1_real) and torch.equal(weighted_fake, eq_1_fake)


def test_the_loss_weights_its_hinge_and_weight_1_is_eq_1() -> None:
    real = EnergyOutput(energy=torch.tensor([2.0, 4.0]))
    fake = EnergyOutput(energy=torch.tensor([1.0, 6.0]))
    weak = MarginLoss(SPEC, margin=1.5, relative_to="data", hinge_weight=0.1)
    # m = 1.5 · 3 = 4.5; hinge mean (3.5 + 0) / 2 = 1.75; 3 + 0.1 · 1.75.
    assert float(weak.energy_loss(real, fake).loss) == pytest.approx(3.175)
    assert "hinge_weight=0.1" in repr(weak)
    full = MarginLoss(SPEC, margin=1.5, relative_to="data")
    assert float(full.energy_loss(real, fake).loss) == pytest.approx(4.75)
    assert full.hinge_weight == 1.0 and "hinge_weight" not in repr(full)
    none = MarginLoss(SPEC, margin=1.5, hinge_weight=0.0)
    assert float(none.energy_loss(real, fake).loss) == pytest.approx(3.0)


@pytest.mark.parametrize("weight", [-0.1, math.inf, math.nan])
def test_a_negative_or_non_finite_weight_is_refused(weight: float) -> None:
    with pytest.raises(ValueError, match="hinge_weight must be a finite non-negative number"):
        MarginLoss(SPEC, margin=1.0, hinge_weight=weight)
