"""The generator sampler passes ebkit's conformance checks."""

import pytest

from ebkit.builtins.samplers.hooks import ebkit_samplers
from ebkit.core.interfaces import DataSpec
from ebkit.testing import check_sampler

GENERATOR = next(c for c in ebkit_samplers() if c.name == "generator")


def test_generator_conforms():
    check_sampler(GENERATOR, latent_dim=4, width=8)


def test_generator_without_batchnorm_conforms():
    check_sampler(GENERATOR, n_layers=2, batchnorm=False, width=8)


@pytest.mark.parametrize("event_shape", [(1, 28, 28), (3, 32, 32), (1, 8, 8)])
def test_conv_generator_conforms(event_shape):
    check_sampler(GENERATOR, DataSpec(event_shape), arch="conv", latent_dim=4, channels=[8, 4])


def test_conv_generator_without_batchnorm_conforms():
    check_sampler(GENERATOR, DataSpec((2, 5, 7)), arch="conv", channels=[4], batchnorm=False)
