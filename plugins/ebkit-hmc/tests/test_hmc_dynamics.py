"""The formulas of ebkit_hmc.dynamics on hand-computed values, gradcheck of the leapfrog
map, and the two properties that make HMC exact (Neal 2011, §2.3.3): the leapfrog map
preserves volume and is reversible."""

from __future__ import annotations

import math

import pytest
import torch

from ebkit_hmc.dynamics import (
    dual_averaging_step,
    hamiltonian,
    kinetic_energy,
    leapfrog,
    log_acceptance,
)


def bowl(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """U(x) = ½‖x‖² and ∇U(x) = x."""
    return 0.5 * x.flatten(1).square().sum(1), x


def bumpy(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """U(x) = Σ log cosh(x_i) + 0.1·x_i⁴, a non-quadratic potential with its exact
    gradient tanh(x) + 0.4·x³ (differentiable, for gradcheck)."""
    potential = (x.cosh().log() + 0.1 * x**4).flatten(1).sum(1)
    return potential, x.tanh() + 0.4 * x**3


def test_one_leapfrog_step_by_hand() -> None:
    x, p = torch.tensor([[1.0]]), torch.tensor([[0.5]])
    # p½ = 0.5 − 0.05·1 = 0.45; x₁ = 1 + 0.1·0.45 = 1.045; p₁ = 0.45 − 0.05·1.045 = 0.39775
    end_x, end_p, potential, grad = leapfrog(x, p, x, bowl, step_size=0.1, steps=1, mass=1.0)
    torch.testing.assert_close(end_x, torch.tensor([[1.045]]))
    torch.testing.assert_close(end_p, torch.tensor([[0.39775]]))
    torch.testing.assert_close(potential, torch.tensor([0.5 * 1.045**2]))
    torch.testing.assert_close(grad, end_x)


def test_two_leapfrog_steps_with_a_mass_by_hand() -> None:
    x, p = torch.tensor([[1.0]], dtype=torch.float64), torch.tensor([[0.5]], dtype=torch.float64)
    # m = 2: p½ = 0.45; x₁ = 1 + 0.1·0.45/2 = 1.0225; p = 0.45 − 0.1·1.0225 = 0.34775;
    # x₂ = 1.0225 + 0.1·0.34775/2 = 1.0398875; p₂ = 0.34775 − 0.05·1.0398875 = 0.295755625
    end_x, end_p, _, _ = leapfrog(x, p, x, bowl, step_size=0.1, steps=2, mass=2.0)
    assert end_x.item() == pytest.approx(1.0398875, abs=1e-12)
    assert end_p.item() == pytest.approx(0.295755625, abs=1e-12)


def test_the_hamiltonian_and_the_acceptance_by_hand() -> None:
    p = torch.tensor([[3.0, 4.0]])
    torch.testing.assert_close(kinetic_energy(p, 2.0), torch.tensor([25.0 / 4.0]))
    torch.testing.assert_close(hamiltonian(torch.tensor([1.0]), p, 2.0), torch.tensor([7.25]))
    start, end = torch.tensor([1.0, 1.0, 1.0]), torch.tensor([1.25, 0.5, math.nan])
    # log α = H(x, p) − H(x', p'); a non-finite end point is always rejected
    torch.testing.assert_close(log_acceptance(start, end), torch.tensor([-0.25, 0.5, -math.inf]))


def test_dual_averaging_by_hand() -> None:
    # m = 1, t₀ = 10, γ = 0.05, δ = 0.65, α = 0.9, μ = log 0.1:
    # H̄₁ = (0.65 − 0.9)/11 = −0.0227273; log ε₁ = log 0.1 + 20·0.0227273 = −1.8480396
    error, log_step = dual_averaging_step(
        torch.tensor(0.0),
        1,
        torch.tensor(0.9),
        target=0.65,
        shrink_towards=math.log(0.1),
    )
    assert error.item() == pytest.approx(-0.25 / 11, rel=1e-6)
    assert log_step.item() == pytest.approx(math.log(0.1) + 20 * 0.25 / 11, rel=1e-6)
    # acceptance below the target shortens the step
    _, shorter = dual_averaging_step(
        error, 2, torch.tensor(0.1), target=0.65, shrink_towards=math.log(0.1)
    )
    assert shorter < log_step


def test_leapfrog_gradcheck() -> None:
    x = torch.randn(3, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    p = torch.randn(3, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(1))

    def flow(x: torch.Tensor, p: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        end_x, end_p, _, _ = leapfrog(x, p, bumpy(x)[1], bumpy, step_size=0.2, steps=3, mass=1.5)
        return end_x, end_p

    assert torch.autograd.gradcheck(flow, (x.requires_grad_(), p.requires_grad_()))


def test_leapfrog_preserves_volume_and_is_reversible() -> None:
    state = torch.tensor([0.7, -1.2, 0.4, 0.9], dtype=torch.float64)

    def flow(state: torch.Tensor) -> torch.Tensor:
        x, p = state[:2].unsqueeze(0), state[2:].unsqueeze(0)
        end_x, end_p, _, _ = leapfrog(x, p, bumpy(x)[1], bumpy, step_size=0.3, steps=5, mass=0.8)
        return torch.cat([end_x[0], end_p[0]])

    jacobian = torch.autograd.functional.jacobian(flow, state)
    assert torch.linalg.det(jacobian).item() == pytest.approx(1.0, abs=1e-10)
    end = flow(state)
    back = flow(torch.cat([end[:2], -end[2:]]))  # negate the momentum and integrate again
    torch.testing.assert_close(back, torch.cat([state[:2], -state[2:]]), rtol=0, atol=1e-12)


def test_leapfrog_needs_a_step() -> None:
    with pytest.raises(ValueError, match="at least one step"):
        zero = torch.zeros(1, 1)
        leapfrog(zero, zero, zero, bowl, step_size=0.1, steps=0, mass=1.0)
