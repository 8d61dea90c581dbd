"""Tests for the public chain helpers (ebkit.core.chains) that ebkit's chain samplers
and plugins' share: start points, frozen parameters, the sampling dtype, E and ∇ₓE."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor

import ebkit
from ebkit import DataSpec, EnergyFunction, EnergyOutput
from ebkit.core.chains import energy_and_grad, floating_dtype, frozen, start_points

BOX = DataSpec((2,), -1.0, 3.0)


class Quadratic(EnergyFunction):
    """E(x) = a·‖x‖² with a trainable a and a frozen offset b (E + b)."""

    def __init__(self, spec: DataSpec = BOX, dtype: torch.dtype = torch.float32) -> None:
        super().__init__(spec)
        self.a = torch.nn.Parameter(torch.tensor(1.5, dtype=dtype))
        self.b = torch.nn.Parameter(torch.tensor(0.5, dtype=dtype), requires_grad=False)

    def forward(self, x: Tensor) -> EnergyOutput:
        return EnergyOutput(self.a * x.flatten(1).square().sum(1) + self.b)


class Constant(EnergyFunction):
    def forward(self, x: Tensor) -> EnergyOutput:
        return EnergyOutput(torch.zeros(x.shape[0]))


def test_the_helpers_are_public_api() -> None:
    assert ebkit.start_points is start_points
    assert ebkit.frozen is frozen
    assert ebkit.floating_dtype is floating_dtype
    assert ebkit.energy_and_grad is energy_and_grad


def test_uniform_start_points_have_the_moments_of_the_box() -> None:
    points = start_points(BOX, 40_000, torch.Generator().manual_seed(0), init="uniform")
    assert points.shape == (40_000, 2)
    assert points.min() >= -1.0 and points.max() <= 3.0
    # U(-1, 3): mean 1, variance 16/12; standard errors 0.006 and 0.008
    assert torch.allclose(points.mean(0), torch.ones(2), atol=0.03)
    assert torch.allclose(points.var(0), torch.full((2,), 16 / 12), atol=0.04)


def test_gaussian_start_points_are_centred_with_a_quarter_of_the_range() -> None:
    wide = start_points(BOX, 40_000, torch.Generator().manual_seed(1), init="gaussian", clamp=False)
    # N(1, 1): mean 1 and standard deviation (3 − (−1))/4 = 1; standard errors 0.005
    assert torch.allclose(wide.mean(0), torch.ones(2), atol=0.03)
    assert torch.allclose(wide.std(0), torch.ones(2), atol=0.03)
    assert wide.min() < -1.0  # 2σ below the centre: about 2 % of the points
    clamped = start_points(BOX, 4_000, torch.Generator().manual_seed(1), init="gaussian")
    assert clamped.min() == -1.0 and clamped.max() == 3.0


def test_start_points_follow_the_generator_and_the_dtype() -> None:
    first = start_points(BOX, 5, torch.Generator().manual_seed(7), dtype=torch.float64)
    again = start_points(BOX, 5, torch.Generator().manual_seed(7), dtype=torch.float64)
    assert first.dtype == torch.float64 and torch.equal(first, again)
    torch.manual_seed(3)
    default = start_points(BOX, 5, None, device="cpu")
    torch.manual_seed(3)
    assert torch.equal(default, start_points(BOX, 5, None, device="cpu"))


def test_an_unknown_start_distribution_is_refused() -> None:
    with pytest.raises(ValueError, match="init must be one of uniform, gaussian, not 'normal'"):
        start_points(BOX, 2, None, init="normal")


def test_frozen_switches_off_the_trainable_parameters_and_restores_exactly_those() -> None:
    energy = Quadratic()
    with frozen(energy):
        assert not energy.a.requires_grad and not energy.b.requires_grad
    assert energy.a.requires_grad and not energy.b.requires_grad  # b was frozen before
    with pytest.raises(KeyError), frozen(energy):
        raise KeyError("restored on the way out of an error too")
    assert energy.a.requires_grad


def test_floating_dtype_is_the_first_floating_tensors() -> None:
    assert floating_dtype(Quadratic(dtype=torch.float64)) == torch.float64
    holder = torch.nn.Module()
    holder.register_buffer("count", torch.zeros((), dtype=torch.int64))
    assert floating_dtype(holder) == torch.get_default_dtype()


def test_energy_and_grad_is_exact_and_leaves_nothing_behind() -> None:
    energy = Quadratic()
    x = torch.tensor([[1.0, -2.0], [0.5, 0.0]])
    with frozen(energy):
        values, grad = energy_and_grad(energy, x)
    assert torch.allclose(values, torch.tensor([1.5 * 5 + 0.5, 1.5 * 0.25 + 0.5]))
    assert torch.allclose(grad, 2 * 1.5 * x)  # ∇ₓ a‖x‖² = 2a·x
    assert not x.requires_grad and not values.requires_grad and energy.a.grad is None


def test_an_energy_independent_of_its_input_has_no_gradient_to_follow() -> None:
    with pytest.raises(RuntimeError, match="does not depend on its input"):
        energy_and_grad(Constant(BOX), torch.zeros(3, 2))
