"""Tests for the convolutional auto-encoder energy (EBGAN App. C, any C×H×W)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from ebkit import DataSpec, EnergyFunction, EnergyOutput
from ebkit_autoencoder import DISTANCES
from ebkit_autoencoder.conv import (
    LEAKY_SLOPE,
    WEIGHT_STD,
    ConvAutoEncoderEnergy,
    padding_to_multiple,
)


def layers(module: nn.Module, kind: type[nn.Module]) -> list[nn.Module]:
    return [child for child in module.modules() if isinstance(child, kind)]


def test_is_an_energy_function_that_provides_features_reconstruction_and_residual() -> None:
    energy = ConvAutoEncoderEnergy(DataSpec((1, 8, 8)), channels=[2, 4])
    assert isinstance(energy, EnergyFunction)
    assert energy.provides == frozenset({"features", "reconstruction", "residual"})
    assert energy.distance == "l2"  # what distance="auto" means for the conv net


@pytest.mark.parametrize(
    ("size", "multiple", "expected"),
    [(28, 8, (2, 2)), (32, 8, (0, 0)), (5, 8, (1, 2)), (8, 8, (0, 0)), (3, 2, (0, 1))],
)
def test_padding_to_multiple_by_hand(size: int, multiple: int, expected: tuple) -> None:
    assert padding_to_multiple(size, multiple) == expected


@pytest.mark.parametrize(
    ("event_shape", "channels", "code_side"),
    [
        ((1, 28, 28), [4, 8, 16], (4, 4)),  # padded to 32×32
        ((3, 32, 32), [4, 8, 16], (4, 4)),
        ((3, 64, 64), [4, 8, 16], (8, 8)),
        ((1, 8, 8), [4, 8, 16], (1, 1)),  # the digits: a 1×1 code
        ((2, 5, 7), [4, 8], (2, 2)),  # padded to 8×8
        ((1, 2, 3), [4, 8, 16], (1, 1)),  # smaller than 2^k: padded up to 8×8
    ],
)
def test_output_shapes_for_any_image_size(
    event_shape: tuple[int, ...], channels: list[int], code_side: tuple
) -> None:
    energy = ConvAutoEncoderEnergy(DataSpec(event_shape), channels=channels)
    x = torch.randn(3, *event_shape)
    out = energy(x)
    assert isinstance(out, EnergyOutput)
    assert out.energy.shape == (3,)
    assert out.reconstruction is not None and out.reconstruction.shape == x.shape
    assert out.features is not None
    assert out.features.shape == (3, channels[-1] * code_side[0] * code_side[1])
    assert out.residual is not None
    torch.testing.assert_close(out.residual, out.reconstruction - x)
    assert out.logits is None


def test_padding_is_centred_and_cropped_off_again() -> None:
    # With identity encoder and decoder the code is the padded input and the
    # reconstruction must be the input itself: the crop undoes the padding exactly.
    energy = ConvAutoEncoderEnergy(DataSpec((1, 5, 7)), channels=[2, 2, 2])
    energy.encoder, energy.decoder = nn.Identity(), nn.Identity()
    x = torch.randn(2, 1, 5, 7)
    out = energy(x)
    torch.testing.assert_close(out.reconstruction, x)
    torch.testing.assert_close(out.energy, torch.zeros(2))
    padded = out.features.reshape(2, 1, 8, 8)
    # 5 → 8 adds one row above and two below; 7 → 8 one column on the right.
    torch.testing.assert_close(padded[:, :, 1:6, 0:7], x)
    outside = torch.ones(8, 8, dtype=torch.bool)
    outside[1:6, 0:7] = False
    assert torch.count_nonzero(padded[:, :, outside]) == 0


def test_only_the_input_pixels_count_not_the_padding() -> None:
    # Zero weights: the reconstruction is the last decoder bias c everywhere, so
    # D(x) = ‖x − c‖ over the 5×7 input pixels (the 64 − 35 padded ones do not count).
    energy = ConvAutoEncoderEnergy(DataSpec((1, 5, 7)), channels=[2, 3])
    with torch.no_grad():
        for parameter in energy.parameters():
            parameter.zero_()
        energy.decoder[-1].bias.fill_(0.5)
    x = torch.randn(4, 1, 5, 7)
    out = energy.eval()(x)
    torch.testing.assert_close(out.reconstruction, torch.full_like(x, 0.5))
    torch.testing.assert_close(out.energy, (x - 0.5).flatten(1).norm(dim=1))


def test_energy_is_the_chosen_distance_of_the_returned_reconstruction() -> None:
    torch.manual_seed(0)
    x = torch.randn(4, 3, 9, 9)
    for distance, formula in {
        "l2": lambda d: d.flatten(1).norm(dim=1),
        "mse": lambda d: d.flatten(1).pow(2).mean(dim=1),
        "l1": lambda d: d.flatten(1).abs().sum(dim=1),
        "mae": lambda d: d.flatten(1).abs().mean(dim=1),
    }.items():
        energy = ConvAutoEncoderEnergy(DataSpec((3, 9, 9)), channels=[4, 8], distance=distance)
        out = energy(x)
        torch.testing.assert_close(out.energy, formula(out.reconstruction - x))


def test_architecture_follows_the_paper_and_dcgan() -> None:
    energy = ConvAutoEncoderEnergy(DataSpec((3, 64, 64)), channels=[64, 128, 256])
    convs = layers(energy.encoder, nn.Conv2d)
    deconvs = layers(energy.decoder, nn.ConvTranspose2d)
    # (64)4c2s-(128)4c2s-(256)4c2s and (128)4c2s-(64)4c2s-(3)4c2s.
    assert [(c.in_channels, c.out_channels) for c in convs] == [(3, 64), (64, 128), (128, 256)]
    assert [(c.in_channels, c.out_channels) for c in deconvs] == [
        (256, 128),
        (128, 64),
        (64, 3),
    ]
    for layer in convs + deconvs:
        assert layer.kernel_size == (4, 4) and layer.stride == (2, 2) and layer.padding == (1, 1)
    # BatchNorm after every convolution but the encoder's first and the decoder's last.
    assert not isinstance(energy.encoder[1], nn.BatchNorm2d)
    assert len(layers(energy, nn.BatchNorm2d)) == 4
    assert isinstance(energy.decoder[-1], nn.ConvTranspose2d)  # a linear reconstruction
    leaky = layers(energy.encoder, nn.LeakyReLU)
    assert len(leaky) == 3 and all(m.negative_slope == LEAKY_SLOPE == 0.2 for m in leaky)
    assert len(layers(energy.decoder, nn.ReLU)) == 2
    assert not layers(energy.decoder, nn.LeakyReLU)
    # Biases only where no BatchNorm follows (its shift replaces them).
    assert [c.bias is not None for c in convs] == [True, False, False]
    assert [c.bias is not None for c in deconvs] == [False, False, True]


def test_batchnorm_can_be_switched_off() -> None:
    energy = ConvAutoEncoderEnergy(DataSpec((1, 16, 16)), channels=[4, 8, 16], batchnorm=False)
    assert not layers(energy, nn.BatchNorm2d)
    assert all(
        m.bias is not None for m in layers(energy, nn.Conv2d) + layers(energy, nn.ConvTranspose2d)
    )


def test_initialisation_is_normal_0_0002_with_zero_biases() -> None:
    torch.manual_seed(0)
    energy = ConvAutoEncoderEnergy(DataSpec((3, 16, 16)), channels=[64, 128], batchnorm=False)
    convs = layers(energy, nn.Conv2d) + layers(energy, nn.ConvTranspose2d)
    weights = torch.cat([m.weight.flatten() for m in convs])
    assert WEIGHT_STD == 0.002
    assert weights.std().item() == pytest.approx(0.002, rel=0.02)
    assert weights.mean().abs().item() < 1e-4
    assert all(torch.count_nonzero(m.bias) == 0 for m in convs)


def test_a_wrong_event_shape_is_an_error() -> None:
    energy = ConvAutoEncoderEnergy(DataSpec((1, 8, 8)), channels=[2])
    with pytest.raises(ValueError, match=r"\(1, 8, 8\)"):
        energy(torch.randn(2, 1, 8, 9))


@pytest.mark.parametrize(
    ("spec", "options", "match"),
    [
        (DataSpec((2,)), {}, "arch='mlp'"),
        (DataSpec((1, 8, 8)), {"channels": []}, "channels"),
        (DataSpec((1, 8, 8)), {"channels": [4, 0]}, "channels"),
        (DataSpec((1, 8, 8)), {"distance": "l3"}, "distance"),
    ],
)
def test_invalid_options_are_errors(spec: DataSpec, options: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        ConvAutoEncoderEnergy(spec, **options)


@pytest.mark.parametrize("distance", DISTANCES)
def test_gradcheck_whole_energy_in_eval_mode(distance: str) -> None:
    torch.manual_seed(0)
    energy = ConvAutoEncoderEnergy(DataSpec((1, 3, 2)), channels=[2, 3], distance=distance)
    energy = energy.double().eval()
    # Larger weights than the init, so the reconstruction is not ≈ 0 and the check also
    # exercises the path through the encoder and decoder.
    with torch.no_grad():
        for parameter in energy.parameters():
            parameter.normal_()
    x = torch.randn(2, 1, 3, 2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: energy(t).energy, (x,), fast_mode=True)


def test_input_gradient_includes_the_target_path() -> None:
    # With every weight zero the reconstruction is 0, so D(x) = ‖x‖ and ∇ₓD = x / ‖x‖.
    energy = ConvAutoEncoderEnergy(DataSpec((1, 2, 2)), channels=[2])
    with torch.no_grad():
        for parameter in energy.parameters():
            parameter.zero_()
    x = torch.tensor([[[[3.0, 0.0], [0.0, 4.0]]]], requires_grad=True)
    energy.eval()(x).energy.sum().backward()
    torch.testing.assert_close(x.grad, torch.tensor([[[[0.6, 0.0], [0.0, 0.8]]]]))
