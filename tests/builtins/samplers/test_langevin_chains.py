"""Tests for the langevin sampler's chains: frozen parameters, detached results, seeding,
the energy's dtype and grad mode, and the Metropolis correction (MALA)."""

from __future__ import annotations

import pytest
import torch
from sampler_doubles import TOY, Quadratic, seeded

from ebkit import EnergyFunction, EnergyOutput
from ebkit.builtins.samplers.langevin import (
    LangevinSampler,
)
from ebkit.core.interfaces import DataSpec

# -- the chain's bookkeeping ---------------------------------------------------------------------


def test_parameters_are_frozen_while_sampling_and_restored_exactly() -> None:
    energy = Quadratic()
    energy.extra = torch.nn.Parameter(torch.zeros(()), requires_grad=False)
    LangevinSampler(TOY, steps=3).sample(4, energy, seeded(0))
    assert energy.seen_requires_grad == [False, False, False]
    assert energy.scale.requires_grad and not energy.extra.requires_grad
    assert energy.scale.grad is None and energy.extra.grad is None


def test_parameters_are_restored_when_the_energy_fails() -> None:
    class Failing(Quadratic):
        def forward(self, x):
            raise ArithmeticError("boom")

    energy = Failing()
    with pytest.raises(ArithmeticError):
        LangevinSampler(TOY, steps=2).sample(3, energy, seeded(0))
    assert energy.scale.requires_grad


@pytest.mark.parametrize("mala", [False, True])
def test_samples_are_detached_and_the_start_is_untouched(mala: bool) -> None:
    sampler = LangevinSampler(TOY, steps=3, mala=mala, step_size=0.1, noise="coupled")
    start = torch.full((4, 2), 0.5, requires_grad=True) * 2  # a start with a graph
    before = start.detach().clone()
    moved = sampler.refine(start, Quadratic(), seeded(0))
    assert not moved.requires_grad and moved.grad_fn is None
    assert torch.equal(start.detach(), before)
    assert not torch.equal(moved, before)


@pytest.mark.parametrize("mala", [False, True])
def test_works_under_no_grad_and_gives_the_same_samples(mala: bool) -> None:
    sampler = LangevinSampler(TOY, steps=5, mala=mala, step_size=0.1)
    energy = Quadratic()
    expected = sampler.sample(6, energy, seeded(2))
    with torch.no_grad():
        actual = sampler.sample(6, energy, seeded(2))
    assert torch.equal(actual, expected)
    assert energy.scale.grad is None


@pytest.mark.parametrize("mala", [False, True])
def test_randomness_comes_from_the_generator_only(mala: bool) -> None:
    sampler = LangevinSampler(TOY, steps=4, mala=mala, noise="coupled", step_size=0.1)
    energy = Quadratic()
    torch.manual_seed(0)
    before = torch.random.get_rng_state()
    first = sampler.sample(8, energy, seeded(3))
    assert torch.equal(torch.random.get_rng_state(), before)
    assert torch.equal(first, sampler.sample(8, energy, seeded(3)))
    assert not torch.equal(first, sampler.sample(8, energy, seeded(4)))


def test_samples_take_the_energys_dtype() -> None:
    energy = Quadratic().double()
    samples = LangevinSampler(TOY, steps=2).sample(3, energy, seeded(0))
    assert samples.dtype == torch.float64


def test_noise_free_chains_are_gradient_descent() -> None:
    sampler = LangevinSampler(TOY, steps=50, step_size=0.1, noise_scale=0.0, grad_clip=0.0)
    samples = sampler.sample(5, Quadratic(centre=1.5), seeded(0))
    start = torch.rand(5, 2, generator=seeded(0)) * 8 - 4
    # x_k − c = (1 − η)·(x_{k−1} − c), so x_K = c + 0.9^50·(x_0 − c)
    torch.testing.assert_close(samples, 1.5 + 0.9**50 * (start - 1.5))
    assert sampler.temperature == 0.0


def test_an_energy_that_ignores_its_input_is_a_clear_error() -> None:
    class Constant(Quadratic):
        def forward(self, x):
            return EnergyOutput(self.scale.detach().expand(x.shape[0]))

    with pytest.raises(RuntimeError, match="does not depend on its input"):
        LangevinSampler(TOY, steps=1).sample(2, Constant(), seeded(0))


# -- MALA ----------------------------------------------------------------------------------------


def test_mala_reports_its_acceptance_rate_and_rejects_proposals_outside_the_box() -> None:
    spec = DataSpec((2,), -1.0, 1.0)

    class Downhill(EnergyFunction):
        """E(x) = −3·sum(x): every step pushes towards the upper corner."""

        def __init__(self) -> None:
            super().__init__(spec)
            self.weight = torch.nn.Parameter(torch.tensor(3.0))

        def forward(self, x):
            return EnergyOutput(-self.weight * x.sum(1))

    sampler = LangevinSampler(
        spec, steps=30, step_size=0.05, noise="coupled", grad_clip=0.0, mala=True
    )
    samples = sampler.sample(400, Downhill(), seeded(0))
    assert spec.low <= samples.min() and samples.max() <= spec.high
    rate = float(sampler.metrics()["acceptance_rate"])
    assert 0.0 < rate < 1.0
    free = LangevinSampler(
        spec, steps=30, step_size=0.05, noise="coupled", grad_clip=0.0, mala=True, clamp=False
    )
    assert free.sample(400, Downhill(), seeded(0)).max() > spec.high
    assert float(free.metrics()["acceptance_rate"]) > rate  # nothing rejected for leaving


def test_mala_with_a_tiny_step_accepts_almost_everything() -> None:
    # Unclipped: the drift then cancels the first-order energy change, so α → 1 as η → 0.
    sampler = LangevinSampler(
        TOY, steps=20, step_size=1e-4, noise="coupled", grad_clip=0.0, mala=True
    )
    sampler.sample(200, Quadratic().double(), seeded(0))
    assert float(sampler.metrics()["acceptance_rate"]) > 0.99
