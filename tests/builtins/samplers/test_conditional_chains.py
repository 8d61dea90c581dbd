"""Tests for the chain samplers in conditional runs: langevin runs MCMC on E(x | y), and
generator-langevin refines G(z, y) on E(x | y)."""

from __future__ import annotations

import pytest
import torch
from sampler_doubles import CONDITIONAL_TOY, MEANS, ClassMeans, energy_by_hand, seeded
from torch import Tensor

from ebkit import EnergyFunction, EnergyOutput
from ebkit.builtins.samplers.generator_langevin import GeneratorLangevinSampler
from ebkit.builtins.samplers.langevin import LangevinSampler
from ebkit.core.interfaces import DataSpec

# -- langevin: MCMC on E(x | y) ----------------------------------------------------------------


def test_conditional_chains_descend_to_the_mean_of_their_class() -> None:
    # Without noise, clipping or clamping a step is x ← x − η(x − μ_y), so after K steps
    # x_K = μ_y + (1 − η)^K (x_0 − μ_y) exactly.
    steps, eta = 30, 0.1
    sampler = LangevinSampler(
        CONDITIONAL_TOY,
        steps=steps,
        step_size=eta,
        noise="independent",
        noise_scale=0.0,
        grad_clip=0.0,
        clamp=False,
    )
    energy = ClassMeans()
    labels = torch.tensor([0, 1, 2, 2, 1, 0])
    start = sampler.initial(6, seeded(0), dtype=torch.float32)
    chains = sampler.sample(6, energy, seeded(0), labels)
    expected = MEANS[labels] + (1 - eta) ** steps * (start - MEANS[labels])
    torch.testing.assert_close(chains, expected)
    assert len(energy.calls) == steps
    assert all(torch.equal(call, labels) for call in energy.calls)
    torch.testing.assert_close(sampler.start_energy, energy_by_hand(start, labels))


def test_the_same_start_under_other_labels_goes_elsewhere() -> None:
    sampler = LangevinSampler(
        CONDITIONAL_TOY, steps=40, step_size=0.1, noise="independent", grad_clip=0.0
    )
    first = sampler.sample(3, ClassMeans(), seeded(5), torch.tensor([0, 0, 0]))
    second = sampler.sample(3, ClassMeans(), seeded(5), torch.tensor([2, 2, 2]))
    assert (torch.linalg.vector_norm(first - MEANS[0], dim=1) < 1.0).all()
    assert (torch.linalg.vector_norm(second - MEANS[2], dim=1) < 1.0).all()
    unmoved = LangevinSampler(CONDITIONAL_TOY, steps=0)
    assert torch.equal(
        unmoved.sample(3, ClassMeans(), seeded(5), torch.tensor([0, 0, 0])),
        unmoved.sample(3, ClassMeans(), seeded(5), torch.tensor([2, 1, 2])),
    )


def test_mala_samples_the_conditional_target_and_evaluates_every_proposal_with_labels() -> None:
    # Temperature s² = 0.05², so each chain ends within a few 0.05 of its class's mean.
    steps = 150
    sampler = LangevinSampler(
        CONDITIONAL_TOY, steps=steps, step_size=0.1, noise="coupled", noise_scale=0.05, mala=True
    )
    energy = ClassMeans()
    labels = torch.arange(3).repeat(20)
    start = sampler.initial(60, seeded(1), dtype=torch.float32)
    chains = sampler.sample(60, energy, seeded(1), labels)
    distance = torch.linalg.vector_norm(chains - MEANS[labels], dim=1)
    assert distance.max() < 0.3
    # One evaluation at the start, then one per proposal, each for the chains' classes.
    assert len(energy.calls) == steps + 1
    assert all(torch.equal(call, labels) for call in energy.calls)
    metrics = sampler.metrics()
    assert metrics["acceptance_rate"] > 0.8
    torch.testing.assert_close(sampler.start_energy, energy_by_hand(start, labels))


def test_the_unconditional_chain_calls_the_energy_without_labels() -> None:
    calls: list[int] = []

    class Bowl(EnergyFunction):
        def forward(self, x: Tensor) -> EnergyOutput:  # no labels parameter at all
            calls.append(x.shape[0])
            return EnergyOutput(0.5 * x.square().sum(1))

    spec = DataSpec((2,), -4.0, 4.0, num_classes=3)
    for mala in (False, True):
        LangevinSampler(spec, steps=3, mala=mala).sample(4, Bowl(spec), seeded(0))
    assert calls == [4] * 3 + [4] * 4


# -- generator-langevin: G(z, y), then Langevin on E(x | y) ----------------------------------------


def hybrid(steps: int) -> GeneratorLangevinSampler:
    return GeneratorLangevinSampler(
        CONDITIONAL_TOY,
        latent_dim=4,
        width=8,
        label_dim=2,
        steps=steps,
        step_size=0.1,
        anneal="none",  # fixed steps (the vector default anneals them), for the formula below
        noise_scale=0.0,
        grad_clip=0.0,
        clamp=False,
    ).eval()


def test_hybrid_training_samples_are_g_of_z_and_y_refined_on_e_of_x_given_y() -> None:
    sampler, energy, steps = hybrid(steps=10), ClassMeans(), 10
    labels = torch.tensor([2, 0, 1, 1])
    refined, raw = sampler.training_samples(4, energy, seeded(2), labels)
    z = torch.randn(4, 4, generator=seeded(2))
    torch.testing.assert_close(raw, sampler.generator.generate(z, labels))
    assert raw.requires_grad and not refined.requires_grad
    expected = MEANS[labels] + 0.9**steps * (raw.detach() - MEANS[labels])
    torch.testing.assert_close(refined, expected)
    # The chain's evaluations and the extra one for energy_refined all saw the labels.
    assert len(energy.calls) == steps + 1
    assert all(torch.equal(call, labels) for call in energy.calls)
    metrics = sampler.metrics()
    torch.testing.assert_close(metrics["energy_raw"], energy_by_hand(raw.detach(), labels).mean())
    torch.testing.assert_close(metrics["energy_refined"], energy_by_hand(refined, labels).mean())


@pytest.mark.parametrize("steps", [0, 5])
def test_hybrid_sample_is_refined_and_trains_the_embedding(steps: int) -> None:
    sampler, energy = hybrid(steps), ClassMeans()
    labels = torch.tensor([1, 1, 2])
    refined, _ = sampler.training_samples(3, energy, seeded(4), labels)
    samples = sampler.sample(3, energy, seeded(4), labels)
    torch.testing.assert_close(samples.detach(), refined)
    samples.sum().backward()
    grad = sampler.generator.label_embedding.embedding.weight.grad
    assert grad[[1, 2]].abs().sum() > 0 and torch.count_nonzero(grad[0]) == 0
