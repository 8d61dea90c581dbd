"""The autoencoder energy passes ebkit's conformance checks for every option family."""

import pytest

from ebkit import DataSpec
from ebkit.testing import check_energy
from ebkit_autoencoder import ebkit_energies

(AUTOENCODER,) = ebkit_energies()


@pytest.mark.parametrize("distance", ["l2", "mse", "l1"])
def test_autoencoder_conforms(distance):
    check_energy(AUTOENCODER, width=16, distance=distance)


def test_deep_autoencoder_with_dropout_conforms():
    check_energy(AUTOENCODER, DataSpec((1, 8, 8)), n_layers=4, width=16, dropout=True)
