"""The autoencoder energy passes ebkit's conformance checks for every option family."""

import pytest

from ebkit import DataSpec
from ebkit.testing import check_energy
from ebkit_autoencoder import ebkit_energies

(AUTOENCODER,) = ebkit_energies()


@pytest.mark.parametrize("distance", ["auto", "l2", "mse", "l1", "mae"])
def test_autoencoder_conforms(distance):
    check_energy(AUTOENCODER, width=16, distance=distance)


def test_deep_autoencoder_with_dropout_conforms():
    check_energy(AUTOENCODER, DataSpec((1, 8, 8)), n_layers=4, width=16, dropout=True)


@pytest.mark.parametrize("event_shape", [(1, 28, 28), (3, 32, 32), (1, 8, 8)])
def test_conv_autoencoder_conforms(event_shape):
    check_energy(AUTOENCODER, DataSpec(event_shape), arch="conv", channels=[8, 16])


@pytest.mark.parametrize("distance", ["mse", "l1"])
def test_conv_autoencoder_with_other_distances_conforms(distance):
    check_energy(AUTOENCODER, DataSpec((1, 5, 7)), arch="conv", channels=[4], distance=distance)


def test_auto_architecture_conforms_on_digits_and_small_images():
    check_energy(AUTOENCODER, DataSpec((1, 8, 8)), width=16)  # an MLP
    check_energy(AUTOENCODER, DataSpec((1, 16, 16)), channels=[4, 8])  # a conv net
