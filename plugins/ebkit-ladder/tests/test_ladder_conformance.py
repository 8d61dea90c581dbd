"""The ladder energy passes ebkit's conformance checks in each of its cost modes."""

import pytest

from ebkit import DataSpec
from ebkit.testing import check_energy
from ebkit_ladder import ebkit_energies

(LADDER,) = ebkit_energies()


def test_ladder_conforms_on_labelled_digits_sized_images():
    check_energy(LADDER, DataSpec((1, 8, 8), num_classes=10), sizes=[16, 8])


@pytest.mark.parametrize("costs", ["bottom", "full"])
def test_ladder_conforms_on_the_default_specs_with_explicit_classes(costs):
    # The default specs (a 2-D toy and 1×8×8 images) carry no labels.
    check_energy(LADDER, num_classes=3, sizes=[5, 4], costs=costs)


def test_ladder_without_noise_conforms():
    check_energy(LADDER, DataSpec((3, 4, 4), num_classes=2), sizes=[6], noise_std=0.0)
