"""The margin loss passes ebkit's conformance checks."""

import pytest

from ebkit.testing import check_loss
from ebkit_losses import ebkit_losses

MARGIN = next(component for component in ebkit_losses() if component.name == "margin")


@pytest.mark.parametrize("f", ["identity", "square"])
def test_margin_conforms(f):
    check_loss(MARGIN, f=f)


def test_margin_with_explicit_margin_conforms():
    check_loss(MARGIN, margin=1.5)


@pytest.mark.parametrize("units", ["mse", "l1"])
def test_margin_with_other_units_conforms(units):
    check_loss(MARGIN, units=units)
