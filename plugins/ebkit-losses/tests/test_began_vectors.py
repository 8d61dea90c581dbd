"""The began loss's defaults on vectors: k_t held at 1 (λ_k = 0, k_0 = 1) with the R1
penalty on the data and the generated samples' loss capped at the box's width; images
keep the paper's control and no penalty, and runs saved before the penalty existed
resume without it."""

from __future__ import annotations

import pytest
import torch

from ebkit import DataSpec, EnergyOutput, R1Penalty
from ebkit.core.engine import Trainer
from ebkit.plugin.manager import PluginManager
from ebkit.runs.config import resolve_config
from ebkit.runs.training import build_trainer
from ebkit_losses import ebkit_losses
from ebkit_losses.began import BEGANLoss
from ebkit_losses.latent_constraint import LatentConstraintStep

POINTS = DataSpec((2,))
IMAGES = DataSpec((1, 8, 8))


def output_with_loss(value: float) -> EnergyOutput:
    """An energy output whose per-sample L (mean |residual|) is ``value`` for 2 samples."""
    residual = torch.full((2, 2), value)
    return EnergyOutput(energy=residual.abs().sum(1), residual=residual)


def test_vectors_hold_k_at_1_with_the_r1_penalty() -> None:
    loss = BEGANLoss(POINTS)
    assert (loss.gamma, loss.lambda_k, loss.k0, loss.r1) == (1.0, 0.0, 1.0, 1.0)
    # λ_k = 0: k_{t+1} = clip(1 + 0·(1·0.1 − 0.7), 0, 1) = 1, whatever the losses.
    for real, fake in ((0.1, 0.7), (0.9, 0.05)):
        loss.update_state(output_with_loss(real), output_with_loss(fake))
        assert float(loss.k) == 1.0
    asked = {"sampler_lr": 2e-3, "batch_size": 256, "beta1": 0.0, "beta2": 0.9}
    assert dict(loss.train_defaults()) == asked
    (penalty,) = loss.step_extensions()
    assert isinstance(penalty, R1Penalty)
    assert penalty.gamma == pytest.approx(1.0)


def test_vectors_cap_the_generated_loss_at_the_box_width() -> None:
    # auto: (high − low)^η, the loss of a reconstruction off by the box's width everywhere.
    assert BEGANLoss(DataSpec((2,), low=-1.4, high=1.4)).bound == pytest.approx(2.8)
    assert BEGANLoss(DataSpec((2,), low=-1.0, high=2.0), eta=2.0).bound == pytest.approx(9.0)
    assert BEGANLoss(IMAGES).bound == 0.0  # the paper's: no cap
    assert BEGANLoss(POINTS, bound=0.0).bound == 0.0  # a set value wins, 0 included
    # L(x) and L(G(z)) rising together: above the cap only L(x) moves L_D, so D lowers it.
    loss = BEGANLoss(POINTS)  # the box [-1, 1]: cap 2
    real = torch.full((2, 2), 5.0, requires_grad=True)
    fake = torch.full((2, 2), 5.0, requires_grad=True)
    as_output = [EnergyOutput(energy=v.abs().sum(1), residual=v) for v in (real, fake)]
    term = loss.energy_loss(*as_output)
    assert float(term.loss.detach()) == pytest.approx(5.0 - 2.0)
    term.loss.backward()
    assert torch.all(real.grad > 0) and torch.all(fake.grad == 0)


def test_images_keep_the_papers_control_and_no_penalty() -> None:
    loss = BEGANLoss(IMAGES)
    assert dict(loss.train_defaults()) == {}
    # The paper's control (λ_k = 0.001), started at k_0 = 0.8 with γ = 1.
    assert (loss.gamma, loss.lambda_k, loss.k0, loss.r1) == (1.0, 0.001, 0.8, 0.0)
    assert list(loss.step_extensions()) == []
    # k_1 = clip(0.8 + 0.001·(1·0.4 − 0.1), 0, 1) = 0.8003
    loss.update_state(output_with_loss(0.4), output_with_loss(0.1))
    assert float(loss.k) == pytest.approx(0.8003)


def test_set_values_win_and_the_penalty_joins_the_latent_constraint() -> None:
    loss = BEGANLoss(POINTS, lambda_k=0.5, k0=0.3, r1=0.0, constraint=0.1)
    assert (loss.lambda_k, loss.k0, float(loss.k), loss.r1) == (0.5, 0.3, pytest.approx(0.3), 0.0)
    assert [type(e) for e in loss.step_extensions()] == [LatentConstraintStep]
    both = BEGANLoss(IMAGES, r1=2.0, constraint=0.1)
    assert [type(e) for e in both.step_extensions()] == [LatentConstraintStep, R1Penalty]
    with pytest.raises(ValueError, match="r1 must be a non-negative number"):
        BEGANLoss(POINTS, r1=-1.0)


def test_runs_saved_before_the_penalty_resume_without_it() -> None:
    (began,) = [c for c in ebkit_losses() if c.name == "began"]
    option = began.option("r1")
    assert (option.default, option.saved_default) == (None, 0.0)
    # Old runs saved λ_k = 0.001 (its default then), so they keep the paper's control.
    assert began.option("lambda_k").default is None


def build(
    plugins: PluginManager, data: str, overrides: list[str], batch_size: int | None = 8
) -> Trainer:
    config = resolve_config(
        plugins,
        names={"energy": "autoencoder", "sampler": "generator", "loss": "began", "data": data},
        train={"steps": 2, "batch_size": batch_size},
        overrides=overrides,
    )
    return build_trainer(config, plugins)


def test_a_run_on_points_logs_the_penalty_and_keeps_k_at_1(plugins: PluginManager) -> None:
    trainer = build(plugins, "8gaussians", ["energy.width=4", "sampler.width=4"])
    metrics = [trainer.train_step() for _ in range(2)]
    assert all(float(m["penalty_r1"]) > 0 for m in metrics)
    assert [float(m["k"]) for m in metrics] == [1.0, 1.0]
    assert float(trainer.components.loss.k) == 1.0
    assert trainer.settings.sampler_lr == 2e-3


def test_a_run_on_images_has_no_penalty(plugins: PluginManager, tiny_began: list[str]) -> None:
    trainer = build(plugins, "digits", tiny_began)
    metrics = trainer.train_step()
    assert "penalty_r1" not in metrics
    assert float(metrics["k"]) == pytest.approx(0.8, abs=0.01)  # k_0 on images, the control on


def test_points_train_on_256_with_adam_betas_0_and_0_9_images_keep_64_and_0_5(
    plugins: PluginManager, tiny_began: list[str]
) -> None:
    tiny = ["energy.width=4", "sampler.width=4"]
    points = build(plugins, "8gaussians", tiny, batch_size=None)
    assert (points.settings.batch_size, points.settings.beta1, points.settings.beta2) == (
        256,
        0.0,
        0.9,
    )
    assert points.energy_optimizer.defaults["betas"] == (0.0, 0.9)
    assert build(plugins, "8gaussians", tiny, batch_size=32).settings.batch_size == 32
    image_nets = [option for option in tiny_began if not option.startswith("train.batch_size")]
    images = build(plugins, "digits", image_nets, batch_size=None)
    assert (images.settings.batch_size, images.settings.beta1, images.settings.beta2) == (
        64,
        0.5,
        0.999,
    )
