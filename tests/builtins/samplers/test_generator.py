"""Tests for the generator sampler in ebkit.builtins.samplers.generator."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from ebkit.builtins.samplers.generator import GeneratorSampler
from ebkit.core.interfaces import ContrastiveSampler, DataSpec

TOY = DataSpec(event_shape=(2,), low=-4.7, high=4.7)
DIGITS = DataSpec(event_shape=(1, 8, 8), num_classes=10)


def seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def linears(sampler: GeneratorSampler) -> list[nn.Linear]:
    return [module for module in sampler.modules() if isinstance(module, nn.Linear)]


def test_is_a_trainable_sampler() -> None:
    sampler = GeneratorSampler(TOY, latent_dim=4, width=16)
    assert isinstance(sampler, ContrastiveSampler)
    assert sampler.trainable is True


@pytest.mark.parametrize("spec", [TOY, DIGITS])
def test_output_shape_and_range(spec: DataSpec) -> None:
    # tanh keeps samples in range (vectors' auto output is linear, unbounded).
    sampler = GeneratorSampler(spec, latent_dim=8, width=32, output="tanh")
    x = sampler.sample(50, None, seeded(0))
    assert x.shape == (50, *spec.event_shape)
    assert x.dtype == torch.float32
    assert spec.low <= x.min() and x.max() <= spec.high


@pytest.mark.parametrize(("bias", "expected"), [(0.0, 0.5), (20.0, 3.0), (-20.0, -2.0)])
def test_tanh_is_mapped_onto_the_data_range(bias: float, expected: float) -> None:
    spec = DataSpec(event_shape=(2,), low=-2.0, high=3.0)
    sampler = GeneratorSampler(spec, latent_dim=4, width=8, output="tanh")
    output = linears(sampler)[-1]
    with torch.no_grad():
        output.weight.zero_()
        output.bias.fill_(bias)
    x = sampler.sample(6, None, seeded(0))
    # tanh(0) = 0 lands on the midpoint, saturation on the ends of [low, high].
    assert torch.allclose(x, torch.full_like(x, expected), atol=1e-5)


def test_samples_keep_their_graph_and_gradients_reach_every_parameter() -> None:
    sampler = GeneratorSampler(DIGITS, latent_dim=8, width=32)
    x = sampler.sample(16, None, seeded(0))
    assert x.requires_grad
    (x**2).sum().backward()
    for name, parameter in sampler.named_parameters():
        assert parameter.grad is not None, name
        assert parameter.grad.abs().sum() > 0, name


@pytest.mark.parametrize(("n_layers", "batchnorm"), [(1, True), (3, True), (4, False)])
def test_layer_structure_follows_the_paper(n_layers: int, batchnorm: bool) -> None:
    sampler = GeneratorSampler(
        TOY, latent_dim=10, n_layers=n_layers, width=64, batchnorm=batchnorm, output="tanh"
    )
    layers = linears(sampler)
    assert len(layers) == n_layers
    assert layers[0].in_features == 10 and layers[-1].out_features == 2
    assert all(layer.in_features == 64 for layer in layers[1:])
    norms = [module for module in sampler.modules() if isinstance(module, nn.BatchNorm1d)]
    # BatchNorm after every weight layer except the output one.
    assert len(norms) == (n_layers - 1 if batchnorm else 0)
    assert isinstance(list(sampler.modules())[-1], nn.Tanh)


def test_vectors_get_a_small_generator_with_a_linear_output_and_no_batchnorm() -> None:
    # Defaults for vectors: latent size = data dimension, width 128, no BatchNorm (it
    # couples a batch's samples), a linear output (tanh saturates at the range's edges).
    sampler = GeneratorSampler(TOY)
    layers = linears(sampler)
    assert sampler.latent_dim == 2 and layers[0].in_features == 2
    assert layers[0].out_features == 128
    modules = list(sampler.net.modules())
    assert not any(isinstance(module, (nn.BatchNorm1d, nn.Tanh)) for module in modules)
    output = layers[-1]
    with torch.no_grad():
        output.weight.zero_()
        output.bias.fill_(20.0)
    # Unit output u maps to low + (u + 1)·(high − low)/2 unclipped, beyond the range.
    x = sampler.sample(3, None, seeded(0))
    expected = TOY.low + 21.0 * (TOY.high - TOY.low) / 2
    assert torch.allclose(x, torch.full_like(x, expected))
    # Images keep the paper's net: width 512, BatchNorm, tanh.
    image = GeneratorSampler(DIGITS)
    assert linears(image)[0].out_features == 512
    assert any(isinstance(module, nn.BatchNorm1d) for module in image.modules())
    assert isinstance(list(image.modules())[-1], nn.Tanh)


def test_latent_dim_and_noise_default_to_ebgans() -> None:
    sampler = GeneratorSampler(DIGITS)
    assert (sampler.arch, sampler.latent_dim, sampler.noise) == ("mlp", 100, "normal")
    assert linears(sampler)[0].in_features == 100


def test_initial_weights_are_normal_with_std_002_and_zero_biases() -> None:
    sampler = GeneratorSampler(DIGITS)  # the defaults: 100 → 512 → 512 → 64
    for layer in linears(sampler):
        assert layer.weight.mean().abs() < 0.002
        assert layer.weight.std().item() == pytest.approx(0.02, rel=0.05)
        assert torch.count_nonzero(layer.bias) == 0


def test_same_seed_same_samples_and_different_seed_different_samples() -> None:
    sampler = GeneratorSampler(TOY, latent_dim=8, width=32)
    assert torch.equal(sampler.sample(32, None, seeded(1)), sampler.sample(32, None, seeded(1)))
    assert not torch.allclose(
        sampler.sample(32, None, seeded(1)), sampler.sample(32, None, seeded(2))
    )


def test_sample_draws_standard_normal_z_from_the_generator_only() -> None:
    sampler = GeneratorSampler(TOY, latent_dim=8, width=32).eval()
    before = torch.random.get_rng_state()
    x = sampler.sample(20, None, seeded(7))
    assert torch.equal(torch.random.get_rng_state(), before)
    z = torch.randn(20, 8, generator=seeded(7))
    assert torch.equal(x, sampler.generate(z))


def test_generate_rejects_a_wrong_latent_size() -> None:
    sampler = GeneratorSampler(TOY, latent_dim=8, width=32)
    with pytest.raises(ValueError, match=r"expected \(n, 8\)"):
        sampler.generate(torch.zeros(4, 9))


@pytest.mark.parametrize("option", ["latent_dim", "n_layers", "width", "filters"])
def test_sizes_below_one_are_rejected(option: str) -> None:
    with pytest.raises(ValueError, match=option):
        GeneratorSampler(TOY, **{option: 0})


def test_uniform_noise_is_u_minus_1_1_from_the_generator_only() -> None:
    sampler = GeneratorSampler(TOY, latent_dim=8, width=32, noise="uniform").eval()
    before = torch.random.get_rng_state()
    x = sampler.sample(20, None, seeded(7))
    assert torch.equal(torch.random.get_rng_state(), before)
    z = torch.rand(20, 8, generator=seeded(7)) * 2 - 1
    torch.testing.assert_close(x, sampler.generate(z))


@pytest.mark.parametrize(("option", "value"), [("noise", "cauchy"), ("arch", "resnet")])
def test_unknown_choices_are_rejected(option: str, value: str) -> None:
    with pytest.raises(ValueError, match=f"{option} must be one of"):
        GeneratorSampler(TOY, **{option: value})
