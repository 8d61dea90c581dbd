"""Tests for Langevin dynamics in a generator's latent space
(ebkit.builtins.samplers.latent_langevin, discriminator-driven latent sampling) and its use
by ``generator-langevin`` when samples are drawn: one step by hand, the exact moments of
the chain's stationary law, frozen parameters, the uniform prior's box, and training left
as it was."""

from __future__ import annotations

import math

import pytest
import torch
from sampler_doubles import TOY, Quadratic, seeded
from torch import Tensor, nn

from ebkit.builtins.samplers.generator_langevin import GeneratorLangevinSampler
from ebkit.builtins.samplers.latent_langevin import latent_energy, latent_langevin

SMALL = {"latent_dim": 2, "width": 16}


class Identity(nn.Module):
    """G(z) = z, with one parameter so that freezing has something to freeze."""

    def __init__(self) -> None:
        super().__init__()
        self.unused = nn.Parameter(torch.zeros(()))

    def forward(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        return z + 0 * self.unused


def chain_on_a_bowl(
    z: Tensor, centre: float, scale: float, seed: int, steps: int, step_size: float, prior: str
) -> Tensor:
    """``latent_langevin`` with G(z) = z on E(x) = ½·scale·‖x − centre‖²."""
    energy = Quadratic(centre=centre, scale=scale)
    return latent_langevin(
        z, Identity(), energy, seeded(seed), steps=steps, step_size=step_size, prior=prior
    )


def test_one_step_by_hand_on_a_normal_prior() -> None:
    # U(z) = ½‖z‖² + ½·a‖z − c‖², so ∇U(z) = z + a(z − c).
    a, c, eps = 3.0, 0.5, 0.02
    z0 = torch.tensor([[1.0, -2.0], [0.25, 0.0]])
    moved = chain_on_a_bowl(z0, c, a, seed=7, steps=1, step_size=eps, prior="normal")
    noise = torch.randn(2, 2, generator=seeded(7))
    expected = z0 - eps * (z0 + a * (z0 - c)) + math.sqrt(2 * eps) * noise
    torch.testing.assert_close(moved, expected)
    assert not moved.requires_grad


def test_latent_energy_adds_the_prior_only_for_normal_z() -> None:
    z = torch.tensor([[1.0, 2.0]])
    energy = Quadratic(centre=1.0, scale=2.0)  # ½·2·‖z − 1‖² = 1
    normal = latent_energy(z, Identity(), energy, None, "normal")
    uniform = latent_energy(z, Identity(), energy, None, "uniform")
    torch.testing.assert_close(normal, torch.tensor([1.0 + 2.5]))
    torch.testing.assert_close(uniform, torch.tensor([1.0]))


def test_a_uniform_prior_keeps_z_in_its_box() -> None:
    # No prior gradient inside the box; the step towards c = 3 is clamped at 1.
    z0 = torch.tensor([[0.9, -0.2]])
    moved = chain_on_a_bowl(z0, 3.0, 50.0, seed=1, steps=1, step_size=0.01, prior="uniform")
    noise = torch.randn(1, 2, generator=seeded(1))
    expected = (z0 - 0.01 * 50.0 * (z0 - 3.0) + math.sqrt(0.02) * noise).clamp(-1.0, 1.0)
    torch.testing.assert_close(moved, expected)
    assert moved[0, 0] == 1.0


def test_the_chain_samples_the_tilted_prior_with_its_exact_moments() -> None:
    # exp(−½‖z‖² − ½a‖z − c‖²) is N(ac/(1 + a), 1/(1 + a)). The unadjusted chain at step ε
    # is stationary at the same mean with variance 1/(λ(1 − ελ/2)), λ = 1 + a (a Gaussian
    # AR(1) process), and forgets its start as (1 − ελ)^steps = 0.98^400 ≈ 3e-4.
    a, c, eps, n = 1.0, 1.2, 0.01, 20000
    z = chain_on_a_bowl(torch.zeros(n, 2), c, a, seed=3, steps=400, step_size=eps, prior="normal")
    precision = 1 + a
    variance = 1 / (precision * (1 - eps * precision / 2))
    mean_error = 4 * math.sqrt(variance / n)  # four standard errors
    variance_error = 4 * math.sqrt(2 / n) * variance
    torch.testing.assert_close(
        z.mean(0), torch.full((2,), a * c / precision), atol=mean_error, rtol=0
    )
    torch.testing.assert_close(z.var(0), torch.full((2,), variance), atol=variance_error, rtol=0)


def test_parameters_are_frozen_during_the_chain_and_restored() -> None:
    energy, generator = Quadratic(), Identity()
    latent_langevin(
        torch.ones(3, 2), generator, energy, seeded(0), steps=2, step_size=0.1, prior="normal"
    )
    assert energy.seen_requires_grad == [False, False]
    assert energy.scale.requires_grad and generator.unused.requires_grad
    assert energy.scale.grad is None and generator.unused.grad is None


@pytest.mark.parametrize("steps, step_size", [(-1, 0.1), (2, 0.0)])
def test_bad_steps_or_step_size_are_refused(steps: int, step_size: float) -> None:
    with pytest.raises(ValueError, match="latent"):
        latent_langevin(
            torch.ones(1, 2),
            Identity(),
            Quadratic(),
            seeded(0),
            steps=steps,
            step_size=step_size,
            prior="normal",
        )


def test_there_are_no_latent_steps_unless_asked_for() -> None:
    assert GeneratorLangevinSampler(TOY, **SMALL).latent_steps == 0
    with pytest.raises(ValueError, match="latent_step_size 0"):
        GeneratorLangevinSampler(TOY, **SMALL, latent_step_size=0.0)


def test_sample_applies_the_latent_steps_then_the_refinement() -> None:
    sampler = GeneratorLangevinSampler(TOY, **SMALL, steps=0, latent_steps=4).eval()
    energy = Quadratic(centre=1.0)
    samples = sampler.sample(6, energy, seeded(5))

    state = seeded(5)
    z = sampler.generator.draw_latent(6, state)
    z = latent_langevin(
        z, sampler.generator, energy, state, steps=4, step_size=0.01, prior="normal"
    )
    torch.testing.assert_close(samples, sampler.generator(z))
    assert samples.requires_grad  # G's graph, for a loss that trains G on sample()


def test_training_draws_no_latent_steps() -> None:
    plain = GeneratorLangevinSampler(TOY, **SMALL, steps=3, latent_steps=0).eval()
    latent = GeneratorLangevinSampler(TOY, **SMALL, steps=3, latent_steps=20).eval()
    latent.load_state_dict(plain.state_dict())
    for first, second in zip(
        plain.training_samples(5, Quadratic(), seeded(2)),
        latent.training_samples(5, Quadratic(), seeded(2)),
        strict=True,
    ):
        assert torch.equal(first, second)
