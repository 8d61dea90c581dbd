"""Tests for the generator sampler's ``deck`` architecture: the conditional CIFAR-10 EBGAN
generator, generalised to images whose sides 4 divides."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from ebkit.builtins.samplers.generator import (
    DECK_CHANNELS,
    GeneratorSampler,
    deck_start,
    generator_architecture,
)
from ebkit.builtins.samplers.hooks import ebkit_samplers
from ebkit.core.interfaces import DataSpec
from ebkit.testing import check_sampler

GENERATOR = next(record for record in ebkit_samplers() if record.name == "generator")


def seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def layers(module: nn.Module, kind: type[nn.Module]) -> list[nn.Module]:
    return [child for child in module.modules() if isinstance(child, kind)]


@pytest.mark.parametrize(
    ("event_shape", "start"),
    [((3, 32, 32), (8, 8)), ((1, 28, 28), (7, 7)), ((1, 8, 8), (2, 2)), ((2, 12, 8), (3, 2))],
)
def test_deck_feature_maps_grow_from_a_quarter_of_the_sides(event_shape, start) -> None:
    spec = DataSpec(event_shape)
    sampler = GeneratorSampler(spec, arch="deck", latent_dim=5)
    assert deck_start(spec) == start
    channels, height, width = event_shape
    sizes: list[tuple[int, ...]] = []
    hooks = [
        module.register_forward_hook(lambda _m, _i, out: sizes.append(tuple(out.shape[1:])))
        for module in sampler.net
        if isinstance(module, (nn.Unflatten, nn.ConvTranspose2d))
    ]
    x = sampler.sample(2, None, seeded(0))
    for hook in hooks:
        hook.remove()
    assert x.shape == (2, *event_shape)
    # The table: 128×8×8 -> 128×16×16 -> 64×32×32 -> 3×32×32 at 32×32.
    assert sizes == [
        (128, *start),
        (128, 2 * start[0], 2 * start[1]),
        (64, height, width),
        (channels, height, width),
    ]


def test_the_deck_generator_follows_the_table_at_32x32() -> None:
    spec = DataSpec((3, 32, 32), num_classes=10, conditional=True)
    sampler = GeneratorSampler(spec, arch="deck")
    (dense,) = layers(sampler.net, nn.Linear)
    # Noise 100 and class info 10 in, Dense 8192 (= 128·8·8) out.
    assert (sampler.latent_dim, sampler.label_dim) == (100, 10)
    assert (dense.in_features, dense.out_features) == (110, 8192)
    convs = layers(sampler.net, nn.ConvTranspose2d)
    assert [(c.in_channels, c.out_channels) for c in convs] == [(128, 128), (128, 64), (64, 3)]
    assert all(c.kernel_size == (5, 5) and c.padding == (2, 2) for c in convs)
    assert [c.stride for c in convs] == [(2, 2), (2, 2), (1, 1)]
    assert [c.output_padding for c in convs] == [(1, 1), (1, 1), (0, 0)]
    # BatchNorm + ReLU after the two hidden transposed convolutions, tanh on the output,
    # and nothing between the dense layer and the first convolution (the table has none).
    kinds = [type(module).__name__ for module in sampler.net]
    assert kinds == [
        "Linear",
        "Unflatten",
        "ConvTranspose2d",
        "BatchNorm2d",
        "ReLU",
        "ConvTranspose2d",
        "BatchNorm2d",
        "ReLU",
        "ConvTranspose2d",
        "Tanh",
    ]
    assert DECK_CHANNELS == (128, 128, 64)


def test_deck_weights_start_from_n_0_0_02_and_convs_before_batchnorm_have_no_bias() -> None:
    torch.manual_seed(0)
    sampler = GeneratorSampler(DataSpec((3, 32, 32)), arch="deck")
    (dense,) = layers(sampler.net, nn.Linear)
    convs = layers(sampler.net, nn.ConvTranspose2d)
    for module in (dense, *convs):
        assert module.weight.std().item() == pytest.approx(0.02, rel=0.05)
        assert module.weight.mean().abs().item() < 0.002
    assert [c.bias is None for c in convs] == [True, True, False]
    assert torch.count_nonzero(dense.bias) == 0 and torch.count_nonzero(convs[-1].bias) == 0


def test_deck_without_batchnorm_keeps_the_conv_biases() -> None:
    sampler = GeneratorSampler(DataSpec((1, 8, 8)), arch="deck", batchnorm=False)
    assert not layers(sampler, nn.BatchNorm2d)
    assert all(conv.bias is not None for conv in layers(sampler, nn.ConvTranspose2d))


@pytest.mark.parametrize(("bias", "expected"), [(0.0, 0.5), (20.0, 3.0), (-20.0, -2.0)])
def test_deck_tanh_is_mapped_onto_the_data_range(bias: float, expected: float) -> None:
    sampler = GeneratorSampler(DataSpec((1, 8, 8), low=-2.0, high=3.0), arch="deck")
    output = layers(sampler.net, nn.ConvTranspose2d)[-1]
    with torch.no_grad():
        output.weight.zero_()
        output.bias.fill_(bias)
    x = sampler.sample(3, None, seeded(0))
    # low + (tanh(b) + 1)·(high − low)/2: the midpoint for b = 0, the ends when saturated.
    assert torch.allclose(x, torch.full_like(x, expected), atol=1e-5)


@pytest.mark.parametrize(
    ("event_shape", "message"),
    [
        ((3, 30, 30), r"sides divisible by 4 \(8×8, 28×28, 32×32, 64×64, …\), not 30×30"),
        ((1, 32, 6), "not 32×6"),
        ((2,), r"needs image data of shape \(C, H, W\), not \(2,\)"),
    ],
)
def test_deck_refuses_other_sizes_in_one_line(event_shape, message: str) -> None:
    with pytest.raises(ValueError, match=message) as error:
        GeneratorSampler(DataSpec(event_shape), arch="deck")
    assert "\n" not in str(error.value)


@pytest.mark.parametrize(
    ("event_shape", "conditional", "expected"),
    [
        ((3, 32, 32), True, "deck"),  # conditional CIFAR-10, the setting it is made for
        ((3, 32, 32), False, "conv"),
        ((1, 28, 28), True, "mlp"),
        ((3, 16, 16), True, "conv"),
        ((1, 8, 8), True, "mlp"),
        ((2,), True, "mlp"),
    ],
)
def test_auto_picks_deck_only_for_conditional_3x32x32(event_shape, conditional, expected):
    spec = DataSpec(event_shape, num_classes=10, conditional=conditional)
    assert generator_architecture(spec) == expected
    assert generator_architecture(spec, "deck") == "deck"


def test_auto_builds_the_deck_for_a_conditional_cifar_run() -> None:
    sampler = GeneratorSampler(DataSpec((3, 32, 32), num_classes=10, conditional=True))
    assert (sampler.arch, sampler.latent_dim, sampler.noise) == ("deck", 100, "normal")


def test_the_record_offers_deck() -> None:
    assert "deck" in GENERATOR.option("arch").choices
    assert "deck" in GENERATOR.option("arch").help
    assert "deck" in GENERATOR.option("batchnorm").help


@pytest.mark.parametrize("event_shape", [(1, 8, 8), (3, 32, 32)])
def test_deck_conforms(event_shape) -> None:
    check_sampler(GENERATOR, DataSpec(event_shape), arch="deck", latent_dim=4)


def test_deck_gradients_match_finite_differences() -> None:
    spec = DataSpec((1, 8, 8), num_classes=3, conditional=True)
    sampler = GeneratorSampler(spec, arch="deck", latent_dim=3, label_dim=2).double().eval()
    labels = torch.tensor([0, 2])
    z = torch.randn(2, 3, dtype=torch.float64, generator=seeded(0)).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda v: sampler.generate(v, labels), (z,))
