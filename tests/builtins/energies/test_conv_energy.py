"""Tests for the ``conv`` energy (ebkit.builtins.energies.networks.ConvEnergy): any image size,
layer structure, per-sample energies, spectral norm, gradients and clear refusals."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from ebkit import DataSpec
from ebkit.builtins.energies.hooks import ebkit_energies
from ebkit.builtins.energies.networks import ConvEnergy, conv_output_side
from ebkit.testing import check_energy, check_option_round_trip


def component():
    (record,) = [c for c in ebkit_energies() if c.name == "conv"]
    return record


def convolutions(energy: ConvEnergy) -> list[nn.Conv2d]:
    return [module for module in energy.modules() if isinstance(module, nn.Conv2d)]


@pytest.mark.parametrize(
    ("shape", "sides"),
    [
        ((8,), (4, 2, 1)),
        ((28,), (14, 7, 4)),
        ((7,), (4, 2, 1)),
        ((1,), (1, 1, 1)),
        ((32,), (16, 8, 4)),
    ],
)
def test_conv_output_side_by_hand(shape: tuple[int], sides: tuple[int, ...]) -> None:
    assert tuple(conv_output_side(shape[0], k) for k in (1, 2, 3)) == sides


@pytest.mark.parametrize("shape", [(1, 8, 8), (1, 28, 28), (3, 7, 5), (3, 1, 1)])
def test_conv_conforms_on_any_image_size(shape: tuple[int, int, int]) -> None:
    check_energy(component(), DataSpec(shape), channels=[4, 8, 8])


def test_conv_with_spectral_norm_and_defaults_conforms() -> None:
    check_energy(component(), DataSpec((1, 8, 8)), spectral_norm=True)
    check_energy(component(), DataSpec((3, 16, 16)))


def test_layers_follow_channels_and_the_head_size_is_computed() -> None:
    energy = ConvEnergy(DataSpec((3, 28, 20)), channels=[5, 6, 7])
    layers = convolutions(energy)
    assert [(c.in_channels, c.out_channels) for c in layers] == [(3, 5), (5, 6), (6, 7)]
    assert all(c.kernel_size == (3, 3) and c.stride == (2, 2) for c in layers)
    # 28 → 14 → 7 → 4 and 20 → 10 → 5 → 3
    assert energy.head.in_features == 7 * 4 * 3
    output = energy(torch.rand(2, 3, 28, 20))
    assert output.energy.shape == (2,) and output.features.shape == (2, 7 * 4 * 3)
    torch.testing.assert_close(output.energy, energy.head(output.features).squeeze(1))
    assert not any(isinstance(m, nn.BatchNorm2d) for m in energy.modules())


def test_the_energy_of_a_sample_does_not_depend_on_its_batch() -> None:
    energy = ConvEnergy(DataSpec((1, 8, 8)), channels=[4, 8])
    x = torch.rand(5, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    alone = torch.cat([energy(x[i : i + 1]).energy for i in range(5)])
    torch.testing.assert_close(energy(x).energy, alone)


def test_spectral_norm_wraps_every_weight_layer() -> None:
    energy = ConvEnergy(DataSpec((1, 8, 8)), channels=[4, 8], spectral_norm=True)
    layers = [*convolutions(energy), energy.head]
    assert all(torch.nn.utils.parametrize.is_parametrized(m, "weight") for m in layers)


@pytest.mark.parametrize("spectral_norm", [False, True])
def test_input_gradcheck(spectral_norm: bool) -> None:
    energy = ConvEnergy(DataSpec((1, 5, 5)), channels=[2, 3], spectral_norm=spectral_norm)
    energy = energy.double().eval()
    x = torch.rand(2, 1, 5, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    assert torch.autograd.gradcheck(lambda t: energy.energy(t), (x.requires_grad_(),))


def test_vectors_are_refused_with_a_clear_message() -> None:
    with pytest.raises(
        ValueError, match=r"needs image data of shape \(C, H, W\), not \(2,\); use the mlp"
    ):
        ConvEnergy(DataSpec((2,), -1.0, 1.0))


@pytest.mark.parametrize("channels", [[], [4, 0]])
def test_bad_channels_are_refused(channels: list[int]) -> None:
    with pytest.raises(ValueError, match="channels must be a non-empty list"):
        ConvEnergy(DataSpec((1, 8, 8)), channels=channels)


def test_wrong_input_shape_is_refused() -> None:
    with pytest.raises(ValueError, match=r"expected samples of shape \(1, 8, 8\)"):
        ConvEnergy(DataSpec((1, 8, 8)), channels=[2])(torch.zeros(2, 1, 9, 9))


def test_component_record_and_class_defaults() -> None:
    record = component()
    check_option_round_trip(record)
    assert record.load_factory() is ConvEnergy
    defaults = {option.name: option.default for option in record.options}
    assert defaults == {
        "arch": "auto",
        "channels": None,
        "activation": "auto",
        "spectral_norm": False,
    }
    # auto is the plain network of 32, 64, 128 channels with swish on unconditional data.
    energy = ConvEnergy(DataSpec((1, 8, 8)))
    assert energy.arch == "plain"
    assert [c.out_channels for c in convolutions(energy)] == [32, 64, 128]
    assert isinstance(energy.body[1], nn.SiLU)
