"""Tests for BEGAN's auto-encoder energy (``arch=began``): sizes, structure, init and the
fields it fills."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from ebkit import DataSpec, EnergyFunction, EnergyOutput
from ebkit.nets import began_decoder, began_halvings
from ebkit.testing import check_energy
from ebkit_autoencoder import ebkit_energies
from ebkit_autoencoder.began import (
    BEGANAutoEncoderEnergy,
    began_encoder,
)
from ebkit_autoencoder.factory import autoencoder_energy

(AUTOENCODER,) = ebkit_energies()


def layers(module: nn.Module, kind: type[nn.Module]) -> list[nn.Module]:
    return [child for child in module.modules() if isinstance(child, kind)]


def test_is_an_energy_that_provides_features_reconstruction_and_residual() -> None:
    energy = BEGANAutoEncoderEnergy(DataSpec((1, 8, 8)), filters=2, embedding=3)
    assert isinstance(energy, EnergyFunction)
    assert energy.provides == frozenset({"features", "reconstruction", "residual"})
    assert energy.distance == "mae"  # what distance="auto" means for BEGAN


@pytest.mark.parametrize(
    ("event_shape", "halvings", "bottleneck"),
    [
        ((1, 8, 8), 0, (8, 8)),
        ((1, 16, 16), 1, (8, 8)),
        ((3, 32, 32), 2, (8, 8)),
        ((1, 64, 64), 3, (8, 8)),
        ((3, 16, 32), 1, (8, 16)),  # non-square: halved by the shorter side
        ((1, 64, 8), 0, (64, 8)),
    ],
)
def test_output_shapes_for_sides_of_8_times_a_power_of_2(
    event_shape: tuple[int, int, int], halvings: int, bottleneck: tuple[int, int]
) -> None:
    spec = DataSpec(event_shape)
    assert began_halvings(spec) == halvings
    energy = BEGANAutoEncoderEnergy(spec, filters=2, embedding=5)
    assert energy.bottleneck == bottleneck
    x = torch.randn(3, *event_shape)
    out = energy(x)
    assert isinstance(out, EnergyOutput)
    assert out.energy.shape == (3,)
    assert out.features.shape == (3, 5)  # the embedding h
    assert out.reconstruction.shape == x.shape
    assert out.residual.shape == x.shape
    assert out.logits is None


@pytest.mark.parametrize(("side", "padded"), [(28, 32), (24, 32), (12, 16), (4, 8)])
def test_other_sizes_are_padded_and_cropped_back(side: int, padded: int) -> None:
    energy = BEGANAutoEncoderEnergy(DataSpec((1, side, side)), filters=2, embedding=3)
    x = torch.rand(2, 1, side, side) * 2 - 1
    out = energy(x)
    assert out.reconstruction.shape == out.residual.shape == x.shape
    torch.testing.assert_close(out.residual, out.reconstruction - x)
    left, right, top, bottom = energy.padding
    assert left + right == top + bottom == padded - side
    # The background (the data's low end) fills the border the networks see.
    padded_input = torch.nn.functional.pad(x, energy.padding, value=-1.0)
    decoded = energy.decoder(energy.encoder(padded_input))
    torch.testing.assert_close(
        out.reconstruction, decoded[..., top : top + side, left : left + side]
    )


def test_28_by_28_mnist_works_without_padding_the_data() -> None:
    energy = autoencoder_energy(DataSpec((1, 28, 28)), arch="began", filters=2, embedding=3)
    assert energy.bottleneck == (8, 8) and energy(torch.zeros(2, 1, 28, 28)).energy.shape == (2,)


def test_a_side_of_zero_is_one_clear_line() -> None:
    with pytest.raises(ValueError, match="sides of at least 1 pixel"):
        BEGANAutoEncoderEnergy(DataSpec((1, 0, 0)))


def test_vectors_are_refused() -> None:
    with pytest.raises(ValueError, match="needs image data"):
        BEGANAutoEncoderEnergy(DataSpec((2,)))


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"filters": 0}, "filters"),
        ({"embedding": 0}, "embedding"),
        ({"distance": "l3"}, "distance"),
    ],
)
def test_invalid_options_are_errors(options: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        BEGANAutoEncoderEnergy(DataSpec((1, 8, 8)), **options)


def test_the_factory_builds_it_only_when_asked() -> None:
    spec = DataSpec((1, 16, 16))
    energy = autoencoder_energy(spec, arch="began", filters=3, embedding=4, distance="mse")
    assert isinstance(energy, BEGANAutoEncoderEnergy)
    assert (energy.filters, energy.embedding, energy.distance) == (3, 4, "mse")
    assert not isinstance(autoencoder_energy(DataSpec((1, 64, 64))), BEGANAutoEncoderEnergy)
    with pytest.raises(ValueError, match="dropout applies to the mlp auto-encoder only"):
        autoencoder_energy(spec, arch="began", dropout=True)


def test_encoder_channels_grow_by_n_per_stage_with_stride_2_downsampling() -> None:
    n = 4
    energy = BEGANAutoEncoderEnergy(DataSpec((3, 32, 32)), filters=n, embedding=7)
    convs = layers(energy.encoder, nn.Conv2d)
    # Input conv, then per stage two 3×3 convs at n·(stage + 1), a stride-2 conv between
    # stages keeping the width: 32 → 16 → 8.
    assert [(c.in_channels, c.out_channels, c.stride[0]) for c in convs] == [
        (3, n, 1),
        (n, n, 1),
        (n, n, 1),
        (n, n, 2),
        (n, 2 * n, 1),
        (2 * n, 2 * n, 1),
        (2 * n, 2 * n, 2),
        (2 * n, 3 * n, 1),
        (3 * n, 3 * n, 1),
    ]
    assert all(c.kernel_size == (3, 3) and c.padding == (1, 1) for c in convs)
    (to_embedding,) = layers(energy.encoder, nn.Linear)
    assert (to_embedding.in_features, to_embedding.out_features) == (3 * n * 8 * 8, 7)
    # ELU after every conv, none after the linear map to h.
    assert len(layers(energy.encoder, nn.ELU)) == len(convs)
    assert isinstance(energy.encoder[-1], nn.Linear)


def test_decoder_keeps_n_filters_and_upsamples_by_nearest_neighbour() -> None:
    n = 4
    energy = BEGANAutoEncoderEnergy(DataSpec((3, 32, 32)), filters=n, embedding=7)
    (from_embedding,) = layers(energy.decoder, nn.Linear)
    assert (from_embedding.in_features, from_embedding.out_features) == (7, n * 8 * 8)
    convs = layers(energy.decoder, nn.Conv2d)
    assert [(c.in_channels, c.out_channels) for c in convs] == [(n, n)] * 6 + [(n, 3)]
    upsamplings = layers(energy.decoder, nn.Upsample)
    assert len(upsamplings) == 2
    assert all(u.mode == "nearest" and u.scale_factor == 2 for u in upsamplings)
    assert len(layers(energy.decoder, nn.ELU)) == 6
    # A linear reconstruction: no tanh, no activation after the last conv.
    assert isinstance(energy.decoder[-1], nn.Conv2d)
    assert not layers(energy, nn.Tanh) and not layers(energy, nn.BatchNorm2d)


def test_upsampling_repeats_each_pixel_in_a_2_by_2_block() -> None:
    decoder = began_decoder(1, (8, 8), 1, filters=1, embedding=2)
    upsample = next(m for m in decoder if isinstance(m, nn.Upsample))
    grid = torch.arange(64.0).reshape(1, 1, 8, 8)
    torch.testing.assert_close(
        upsample(grid), grid.repeat_interleave(2, dim=2).repeat_interleave(2, dim=3)
    )


def test_stage_counts_follow_the_image_size() -> None:
    for halvings in range(4):
        encoder = began_encoder(1, (8, 8), halvings, filters=2, embedding=3)
        decoder = began_decoder(1, (8, 8), halvings, filters=2, embedding=3)
        assert len(layers(encoder, nn.Conv2d)) == 1 + 2 * (halvings + 1) + halvings
        assert len(layers(decoder, nn.Conv2d)) == 2 * (halvings + 1) + 1
        assert len(layers(decoder, nn.Upsample)) == halvings


def test_initialisation_is_glorot_uniform_with_zero_biases() -> None:
    torch.manual_seed(0)
    energy = BEGANAutoEncoderEnergy(DataSpec((1, 16, 16)), filters=16, embedding=64)
    for layer in layers(energy, nn.Conv2d) + layers(energy, nn.Linear):
        fan_in = layer.weight[0].numel()
        fan_out = layer.weight.shape[0] * layer.weight[0, 0].numel()
        bound = math.sqrt(6 / (fan_in + fan_out))
        assert layer.weight.abs().max() <= bound
        # Uniform on [−b, b] has standard deviation b/√3.
        assert layer.weight.std().item() == pytest.approx(bound / math.sqrt(3), rel=0.15)
        assert torch.count_nonzero(layer.bias) == 0


def test_residual_and_energy_follow_the_reconstruction() -> None:
    torch.manual_seed(0)
    x = torch.rand(4, 1, 16, 16) * 2 - 1
    for distance, formula in {
        "auto": lambda r: r.flatten(1).abs().mean(dim=1),  # mae: BEGAN's L with η = 1
        "mse": lambda r: r.flatten(1).pow(2).mean(dim=1),
        "l2": lambda r: r.flatten(1).norm(dim=1),
    }.items():
        energy = BEGANAutoEncoderEnergy(DataSpec((1, 16, 16)), filters=2, distance=distance)
        out = energy(x)
        torch.testing.assert_close(out.residual, out.reconstruction - x)
        torch.testing.assert_close(out.energy, formula(out.residual))


def test_hand_set_weights_give_the_hand_computed_energy() -> None:
    # All weights 0 and the last conv's bias 0.25: the reconstruction is 0.25 everywhere.
    energy = BEGANAutoEncoderEnergy(DataSpec((1, 8, 8)), filters=2, embedding=3)
    with torch.no_grad():
        for parameter in energy.parameters():
            parameter.zero_()
        energy.decoder[-1].bias.fill_(0.25)
    x = torch.full((2, 1, 8, 8), -0.75)
    x[1] = 0.25
    out = energy(x)
    torch.testing.assert_close(out.reconstruction, torch.full_like(x, 0.25))
    torch.testing.assert_close(out.energy, torch.tensor([1.0, 0.0]))


def test_a_samples_energy_does_not_depend_on_its_batch() -> None:
    energy = BEGANAutoEncoderEnergy(DataSpec((1, 8, 8)), filters=2, embedding=3)
    x = torch.randn(5, 1, 8, 8)
    alone = torch.cat([energy(x[i : i + 1]).energy for i in range(5)])
    torch.testing.assert_close(energy(x).energy, alone)


def test_a_wrong_event_shape_is_an_error() -> None:
    energy = BEGANAutoEncoderEnergy(DataSpec((1, 8, 8)), filters=2)
    with pytest.raises(ValueError, match=r"\(1, 8, 8\)"):
        energy(torch.randn(2, 1, 16, 16))


def test_gradcheck_in_float64() -> None:
    torch.manual_seed(0)
    energy = BEGANAutoEncoderEnergy(DataSpec((1, 8, 8)), filters=1, embedding=2).double()
    x = torch.rand(2, 1, 8, 8, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda v: energy(v).energy, (x,))


@pytest.mark.parametrize("event_shape", [(1, 8, 8), (3, 16, 16), (1, 16, 32)])
def test_began_autoencoder_conforms(event_shape: tuple[int, int, int]) -> None:
    check_energy(AUTOENCODER, DataSpec(event_shape), arch="began", filters=2, embedding=4)


def test_began_autoencoder_with_the_l2_distance_conforms() -> None:
    check_energy(AUTOENCODER, DataSpec((1, 8, 8)), arch="began", filters=2, distance="l2")
