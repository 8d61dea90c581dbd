"""The generator sampler passes ebkit's conformance checks."""

from ebkit.builtins import ebkit_samplers
from ebkit.testing import check_sampler

(GENERATOR,) = ebkit_samplers()


def test_generator_conforms():
    check_sampler(GENERATOR, latent_dim=4, width=8)


def test_generator_without_batchnorm_conforms():
    check_sampler(GENERATOR, n_layers=2, batchnorm=False, width=8)
