"""Tests for the generator's BEGAN architecture (``arch=began``) and its uniform noise."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from ebkit.builtins.samplers.generator import (
    BEGAN_LATENT_DIM,
    DEFAULT_LATENT_DIM,
    GeneratorSampler,
)
from ebkit.builtins.samplers.hooks import ebkit_samplers
from ebkit.core.interfaces import DataSpec
from ebkit.nets import began_halvings
from ebkit.testing import check_sampler

GENERATOR = next(record for record in ebkit_samplers() if record.name == "generator")


def seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def layers(module: nn.Module, kind: type[nn.Module]) -> list[nn.Module]:
    return [child for child in module.modules() if isinstance(child, kind)]


@pytest.mark.parametrize(
    ("event_shape", "upsamplings"),
    [
        ((1, 8, 8), 0),
        ((1, 16, 16), 1),
        ((3, 32, 32), 2),
        ((1, 64, 64), 3),
        ((3, 16, 32), 1),  # non-square: an 8×16 start
    ],
)
def test_output_shape_follows_the_data(event_shape: tuple[int, ...], upsamplings: int) -> None:
    spec = DataSpec(event_shape)
    assert began_halvings(spec) == upsamplings
    sampler = GeneratorSampler(spec, arch="began", filters=2, latent_dim=3)
    x = sampler.sample(4, None, seeded(0))
    assert x.shape == (4, *event_shape)
    assert x.requires_grad
    assert len(layers(sampler, nn.Upsample)) == upsamplings


@pytest.mark.parametrize(("side", "padded"), [(28, 32), (24, 32), (4, 8), (100, 128)])
def test_other_sizes_are_generated_padded_and_cropped(side: int, padded: int) -> None:
    sampler = GeneratorSampler(DataSpec((1, side, side)), arch="began", filters=2, latent_dim=3)
    x = sampler.sample(2, None, seeded(0))
    assert x.shape == (2, 1, side, side)
    decoder_output = sampler.net[0](torch.zeros(1, 3))  # before the centred crop
    assert decoder_output.shape == (1, 1, padded, padded)
    top = (padded - side) // 2
    torch.testing.assert_close(
        sampler.net(torch.zeros(1, 3)), decoder_output[..., top : top + side, top : top + side]
    )


def test_a_side_of_zero_is_one_clear_line() -> None:
    with pytest.raises(ValueError, match="sides of at least 1 pixel"):
        GeneratorSampler(DataSpec((1, 0, 0)), arch="began")


def test_vectors_are_refused() -> None:
    with pytest.raises(ValueError, match="needs image data"):
        GeneratorSampler(DataSpec((2,)), arch="began")


def test_architecture_is_begans_decoder() -> None:
    n = 4
    sampler = GeneratorSampler(DataSpec((3, 32, 32)), arch="began", filters=n, latent_dim=5)
    (linear,) = layers(sampler, nn.Linear)
    assert (linear.in_features, linear.out_features) == (5, n * 8 * 8)
    convs = layers(sampler, nn.Conv2d)
    # Two 3×3 convs per stage at n filters (8×8, 16×16, 32×32), then one to the data's C.
    assert [(c.in_channels, c.out_channels) for c in convs] == [(n, n)] * 6 + [(n, 3)]
    assert all(c.kernel_size == (3, 3) and c.stride == (1, 1) for c in convs)
    assert len(layers(sampler, nn.ELU)) == 6
    upsamplings = layers(sampler, nn.Upsample)
    assert [u.mode for u in upsamplings] == ["nearest", "nearest"]
    assert all(u.scale_factor == 2 for u in upsamplings)
    # No tanh and no BatchNorm (even with the batchnorm option's default, true).
    assert isinstance(sampler.net[-1], nn.Conv2d)
    assert not layers(sampler, nn.Tanh) and not layers(sampler, nn.BatchNorm2d)


def test_the_output_is_not_squashed() -> None:
    sampler = GeneratorSampler(DataSpec((1, 8, 8)), arch="began", filters=2, latent_dim=3)
    with torch.no_grad():
        sampler.net[-1].bias.fill_(3.0)
        sampler.net[-1].weight.zero_()
    # A tanh would keep this inside [-1, 1].
    torch.testing.assert_close(sampler.sample(2, None, seeded(0)), torch.full((2, 1, 8, 8), 3.0))


def test_began_defaults_to_uniform_noise_and_begans_h() -> None:
    sampler = GeneratorSampler(DataSpec((1, 16, 16)), arch="began", filters=2)
    assert (sampler.arch, sampler.noise, sampler.latent_dim) == ("began", "uniform", 64)
    assert BEGAN_LATENT_DIM == 64 and DEFAULT_LATENT_DIM == 100
    explicit = GeneratorSampler(
        DataSpec((1, 16, 16)), arch="began", filters=2, latent_dim=7, noise="normal"
    )
    assert (explicit.noise, explicit.latent_dim) == ("normal", 7)


def test_uniform_latent_lies_in_minus_1_1_and_comes_from_the_generator() -> None:
    sampler = GeneratorSampler(DataSpec((1, 8, 8)), arch="began", filters=2, latent_dim=16)
    drawn: list[torch.Tensor] = []
    sampler.net.register_forward_pre_hook(lambda module, args: drawn.append(args[0]))
    before = torch.random.get_rng_state()
    x = sampler.sample(500, None, seeded(11))
    assert torch.equal(torch.random.get_rng_state(), before)
    (z,) = drawn
    assert z.shape == (500, 16)
    assert z.min() >= -1 and z.max() <= 1
    # Uniform on [-1, 1]: mean 0, variance 1/3 (a normal z would have variance 1).
    assert abs(z.mean().item()) < 0.02
    assert z.var().item() == pytest.approx(1 / 3, rel=0.05)
    torch.testing.assert_close(
        x, sampler.generate(torch.rand(500, 16, generator=seeded(11)) * 2 - 1)
    )


def test_initialisation_is_glorot_uniform_with_zero_biases() -> None:
    torch.manual_seed(0)
    sampler = GeneratorSampler(DataSpec((1, 16, 16)), arch="began", filters=16, latent_dim=64)
    for layer in layers(sampler, nn.Conv2d) + layers(sampler, nn.Linear):
        fan_in = layer.weight[0].numel()
        fan_out = layer.weight.shape[0] * layer.weight[0, 0].numel()
        bound = math.sqrt(6 / (fan_in + fan_out))
        assert layer.weight.abs().max() <= bound
        assert layer.weight.std().item() == pytest.approx(bound / math.sqrt(3), rel=0.15)
        assert torch.count_nonzero(layer.bias) == 0


def test_options_reach_the_began_net_through_the_record() -> None:
    options = GENERATOR.resolve_options(
        {"arch": "began", "filters": "3", "noise": "normal"}, prefix="sampler"
    )
    assert options["latent_dim"] is None  # auto
    sampler = GENERATOR.load_factory()(DataSpec((1, 8, 8)), **options)
    assert (sampler.latent_dim, sampler.noise) == (64, "normal")
    assert layers(sampler, nn.Conv2d)[0].out_channels == 3


@pytest.mark.parametrize("event_shape", [(1, 8, 8), (3, 16, 16), (1, 16, 32)])
def test_began_generator_conforms(event_shape: tuple[int, ...]) -> None:
    check_sampler(GENERATOR, DataSpec(event_shape), arch="began", filters=2, latent_dim=4)


def test_uniform_noise_conforms_with_the_mlp() -> None:
    check_sampler(GENERATOR, noise="uniform", latent_dim=4, width=8)


def test_glorot_init_draws_within_the_glorot_bound_and_zeroes_biases_of_the_chosen_layers() -> None:
    from torch import nn

    from ebkit.nets import glorot_init

    net = nn.Sequential(nn.Linear(30, 50), nn.Conv2d(3, 4, 3), nn.ConvTranspose2d(4, 2, 3))
    before = net[2].weight.detach().clone()
    torch.manual_seed(0)
    glorot_init(net, (nn.Linear,))
    linear = net[0]
    bound = math.sqrt(6.0 / (30 + 50))  # U(−a, a), a = √(6 / (fan_in + fan_out))
    assert linear.weight.abs().max() <= bound and linear.weight.abs().max() > 0.9 * bound
    assert torch.equal(linear.bias, torch.zeros(50))
    assert net[1].bias.abs().sum() > 0  # a kind not chosen keeps its own init
    glorot_init(net)  # default kinds: Linear and Conv2d
    assert torch.equal(net[1].bias, torch.zeros(4))
    assert torch.equal(net[2].weight, before)  # transposed convolutions are not a default kind
