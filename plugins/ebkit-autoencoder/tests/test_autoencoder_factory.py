"""Tests for the ``autoencoder`` factory: which architecture ``arch`` builds."""

from __future__ import annotations

import pytest
import torch

from ebkit import DataSpec
from ebkit_autoencoder.conv import ConvAutoEncoderEnergy
from ebkit_autoencoder.factory import autoencoder_energy
from ebkit_autoencoder.mlp import MLPAutoEncoderEnergy


@pytest.mark.parametrize(
    ("event_shape", "expected"),
    [
        ((2,), MLPAutoEncoderEnergy),
        ((1, 8, 8), MLPAutoEncoderEnergy),  # the digits stay an MLP
        ((3, 15, 32), MLPAutoEncoderEnergy),  # one side below 16
        ((1, 16, 16), MLPAutoEncoderEnergy),
        ((1, 28, 28), MLPAutoEncoderEnergy),  # MNIST: the paper's MLP grid
        ((1, 64, 64), ConvAutoEncoderEnergy),
        ((3, 32, 32), ConvAutoEncoderEnergy),
        ((3, 64, 64), ConvAutoEncoderEnergy),
    ],
)
def test_auto_follows_the_shared_architecture_rule(event_shape, expected) -> None:
    energy = autoencoder_energy(DataSpec(event_shape), width=8, channels=[2, 4])
    assert type(energy) is expected


def test_explicit_arch_wins() -> None:
    spec = DataSpec((1, 28, 28))
    assert isinstance(autoencoder_energy(spec, arch="mlp", width=8), MLPAutoEncoderEnergy)
    digits = DataSpec((1, 8, 8))
    assert isinstance(autoencoder_energy(digits, arch="conv", channels=[2]), ConvAutoEncoderEnergy)


def test_options_reach_the_chosen_network() -> None:
    mlp = autoencoder_energy(DataSpec((1, 8, 8)), n_layers=3, width=8, distance="mse")
    assert isinstance(mlp, MLPAutoEncoderEnergy) and mlp.distance == "mse"
    assert mlp(torch.randn(2, 1, 8, 8)).features.shape == (2, 8)
    conv = autoencoder_energy(
        DataSpec((1, 8, 8)), arch="conv", channels=[2, 4], distance="l1", batchnorm=False
    )
    assert isinstance(conv, ConvAutoEncoderEnergy) and conv.distance == "l1"
    assert conv.encoder[-2].out_channels == 4


def test_conv_on_vectors_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match=r"needs image data .*\(2,\)"):
        autoencoder_energy(DataSpec((2,)), arch="conv")


def test_dropout_with_the_conv_net_is_an_error_naming_the_auto_choice() -> None:
    with pytest.raises(ValueError, match=r"mlp auto-encoder only \(arch='auto' chose conv"):
        autoencoder_energy(DataSpec((3, 32, 32)), dropout=True, channels=[2])
    with pytest.raises(ValueError, match="mlp auto-encoder only; set arch='mlp'"):
        autoencoder_energy(DataSpec((1, 8, 8)), arch="conv", dropout=True, channels=[2])


def test_unknown_arch_is_an_error() -> None:
    with pytest.raises(ValueError, match="arch must be one of"):
        autoencoder_energy(DataSpec((1, 8, 8)), arch="resnet")


def test_linear_features_are_refused_for_the_conv_net() -> None:
    with pytest.raises(ValueError, match="features=linear applies to the mlp"):
        autoencoder_energy(DataSpec((3, 32, 32)), features="linear")
    assert autoencoder_energy(DataSpec((2,))).features == "linear"  # vectors: auto
