"""Fixtures shared by the BEGAN tests: the plugins a run needs, and BEGAN's own networks
on the 8×8 digits at their smallest."""

from __future__ import annotations

import pytest

import ebkit_autoencoder
import ebkit_losses
from ebkit.plugin.manager import PluginManager


@pytest.fixture(scope="module")
def plugins() -> PluginManager:
    """The auto-encoder energy and the losses, whether or not they are installed."""
    return PluginManager(
        environ={},
        extra_plugins={"ebkit-losses": ebkit_losses, "ebkit-autoencoder": ebkit_autoencoder},
    )


@pytest.fixture
def tiny_began() -> list[str]:
    """BEGAN's encoder/decoder and generator with 2 filters, a code of 4 values and
    4-dimensional noise (so a latent constraint compares like with like), batches of 8."""
    return [
        "energy.arch=began",
        "energy.filters=2",
        "energy.embedding=4",
        "sampler.arch=began",
        "sampler.filters=2",
        "sampler.latent_dim=4",
        "train.batch_size=8",
    ]
