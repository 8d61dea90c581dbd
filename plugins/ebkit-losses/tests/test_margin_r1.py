"""The margin loss's R1 penalty on the data (Mescheder et al. 2018, eq. 9): on for vectors,
off for images and for runs saved before it, and added to the energy's loss of a step."""

from __future__ import annotations

import copy

import pytest
import torch

import ebkit_losses
from ebkit import DataSpec, R1Penalty, UsageError, r1_penalty
from ebkit.plugin.manager import PluginManager
from ebkit.runs.config import resolve_config
from ebkit.runs.training import build_trainer
from ebkit_losses import MARGIN_VECTOR_R1
from ebkit_losses.margin import MarginLoss

VECTORS = DataSpec((2,))
IMAGES = DataSpec((1, 8, 8), 0.0, 1.0)


def the_option():
    (component,) = [c for c in ebkit_losses.ebkit_losses() if c.name == "margin"]
    return component, component.option("r1")


def test_r1_is_on_for_vectors_only_and_brings_its_step_extension() -> None:
    assert MarginLoss(VECTORS).r1 == MARGIN_VECTOR_R1 == 0.1
    (extension,) = MarginLoss(VECTORS).step_extensions()
    assert isinstance(extension, R1Penalty) and extension.gamma == MARGIN_VECTOR_R1
    assert MarginLoss(IMAGES).r1 == 0.0 and MarginLoss(IMAGES).step_extensions() == []
    assert MarginLoss(VECTORS, r1=0).step_extensions() == []
    (extension,) = MarginLoss(IMAGES, r1=2.5).step_extensions()
    assert extension.gamma == 2.5


def test_saved_runs_train_without_it_and_a_negative_weight_is_refused() -> None:
    component, option = the_option()
    assert option.default is None and option.saved_default == 0.0
    with pytest.raises(UsageError, match=r"loss\.r1"):
        component.resolve_options({"r1": "-1"}, prefix="loss")
    with pytest.raises(ValueError, match="r1 must be a non-negative number"):
        MarginLoss(VECTORS, r1=-0.5)


@pytest.fixture(scope="module")
def plugins() -> PluginManager:
    import ebkit_autoencoder

    return PluginManager(
        environ={},
        extra_plugins={"ebkit-losses": ebkit_losses, "ebkit-autoencoder": ebkit_autoencoder},
    )


def tiny_ebgan(plugins: PluginManager, *overrides: str):
    return resolve_config(
        plugins,
        names={
            "energy": "autoencoder", "sampler": "generator", "loss": "margin", "data": "8gaussians"
        },
        train={"steps": 2},
        overrides=["energy.width=8", "sampler.width=8", "train.batch_size=8", *overrides],
    )  # fmt: skip


def test_a_vector_step_adds_the_penalty_of_the_energy_before_the_step(
    plugins: PluginManager,
) -> None:
    trainer = build_trainer(tiny_ebgan(plugins), plugins)
    before = copy.deepcopy(trainer.components.energy)
    metrics = trainer.train_step()
    # γ/2 · mean ‖∇ₓE(x)‖² of the auto-encoder as it was when the step read the batch.
    expected = r1_penalty(before, trainer.batch.x, gamma=MARGIN_VECTOR_R1)
    assert float(expected.detach()) > 0
    torch.testing.assert_close(metrics["penalty_r1"], expected.detach())
    unpenalised = build_trainer(tiny_ebgan(plugins, "loss.r1=0"), plugins).train_step()
    assert "penalty_r1" not in unpenalised
