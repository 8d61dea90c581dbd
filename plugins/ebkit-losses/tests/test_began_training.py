"""The began loss in training: k_t moves, is checkpointed and restored exactly on resume,
and M_global and k_t reach metrics.jsonl and curves.png."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import ebkit_autoencoder
import ebkit_losses
from ebkit import DataSpec, EnergyFunction, EnergyOutput, UsageError
from ebkit.core.engine import Components, Trainer, TrainSettings
from ebkit.plugin.manager import PluginManager
from ebkit.runs.checkpoints import (
    load_checkpoint,
    restore_trainer_state,
    save_checkpoint,
    trainer_state,
)
from ebkit.runs.config import resolve_config
from ebkit.runs.training import build_trainer
from ebkit_losses.began import BEGANLoss


@pytest.fixture
def small(tiny_began: list[str]) -> list[str]:
    """BEGAN's nets on the 8×8 digits, with a large λ_k so that k_t moves visibly in a
    few steps."""
    # The paper's γ and k_0 = 0, so that k_t moves from 0 within a few steps.
    return [*tiny_began, "loss.lambda_k=0.5", "loss.gamma=0.5", "loss.k0=0"]


@pytest.fixture
def config(plugins: PluginManager, small: list[str]):
    def build(steps: int = 20):
        return resolve_config(
            plugins,
            names={
                "energy": "autoencoder", "sampler": "generator", "loss": "began", "data": "digits"
            },
            train={"steps": steps},
            overrides=small,
        )  # fmt: skip

    return build


def run_steps(trainer: Trainer, steps: int) -> list[float]:
    """The k_t of the loss after each of ``steps`` steps."""
    trajectory = []
    for _ in range(steps):
        trainer.train_step()
        trajectory.append(float(trainer.components.loss.k))
    return trajectory


def test_k_moves_and_m_global_is_logged_every_step(plugins: PluginManager, config) -> None:
    trainer = build_trainer(config(), plugins)
    loss = trainer.components.loss
    assert isinstance(loss, BEGANLoss) and float(loss.k) == 0.0
    metrics = trainer.train_step()
    assert {"k", "m_global", "l_real", "l_fake", "loss_energy", "loss_sampler"} <= set(metrics)
    assert float(metrics["k"]) == 0.0  # the k_0 this step used
    # M_global = L(x) + |γ·L(x) − L(G(z_G))|, and k_1 = clip(λ_k·(γ·L(x) − L(G(z_G))), 0, 1).
    real, fake_g = float(metrics["l_real"]), float(metrics["loss_sampler"])
    assert float(metrics["m_global"]) >= real
    assert float(loss.k) == pytest.approx(min(max(0.5 * (0.5 * real - fake_g), 0.0), 1.0))
    assert 0.0 <= float(loss.k) <= 1.0


def test_resume_restores_k_exactly_and_continues_identically(
    plugins: PluginManager, config, tmp_path: Path
) -> None:
    straight = build_trainer(config(), plugins)
    expected = run_steps(straight, 6)
    assert len(set(expected)) > 1, "k_t should move within six steps with λ_k = 0.5"

    first = build_trainer(config(), plugins)
    run_steps(first, 3)
    tensors, meta = load_checkpoint(save_checkpoint(first, tmp_path))
    assert torch.equal(tensors["loss.k"], first.components.loss.k)

    resumed = build_trainer(config(), plugins)
    assert float(resumed.components.loss.k) == 0.0
    restore_trainer_state(resumed, tensors, meta)
    assert torch.equal(resumed.components.loss.k, first.components.loss.k)
    assert float(resumed.components.loss.k) == expected[2]
    assert run_steps(resumed, 3) == expected[3:]
    assert torch.equal(trainer_state(resumed)[0]["loss.k"], trainer_state(straight)[0]["loss.k"])


def test_the_cli_logs_and_plots_k_and_m_global_and_resumes(
    ebkit_plugins, ebkit_cli, small: list[str], tmp_path: Path
) -> None:
    ebkit_plugins({"ebkit-losses": ebkit_losses, "ebkit-autoencoder": ebkit_autoencoder})
    run = tmp_path / "run"
    common = [f"-o{option}" for option in small]
    result = ebkit_cli(
        "train", "--energy", "autoencoder", "--sampler", "generator", "--loss", "began",
        "--data", "digits", "--steps", "4", "--out", str(run), "--quiet",
        "-o", "train.log_every=1", "-o", "train.sample_every=0", "-o", "train.sample_count=4",
        *common,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [record["step"] for record in records] == [1, 2, 3, 4]
    assert all({"k", "m_global"} <= set(record) for record in records)
    assert (run / "curves.png").stat().st_size > 0
    saved = load_checkpoint(run / "checkpoints" / "step-0000004.safetensors")[0]["loss.k"]

    result = ebkit_cli("train", "--resume", "--out", str(run), "--steps", "6", "--quiet")
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [record["step"] for record in records] == [1, 2, 3, 4, 5, 6]
    # Step 5 used the k_5 that step 4 produced and the checkpoint saved.
    assert records[4]["k"] == pytest.approx(float(saved), abs=0)


class ScalarOnly(EnergyFunction):
    """An energy with no residual."""

    def __init__(self, spec: DataSpec) -> None:
        super().__init__(spec)
        self.scale = torch.nn.Parameter(torch.ones(()))

    def forward(self, x: torch.Tensor) -> EnergyOutput:
        return EnergyOutput(energy=self.scale * x.flatten(1).pow(2).sum(1))


def test_an_energy_without_a_residual_is_refused_before_training(
    plugins: PluginManager, config
) -> None:
    trainer = build_trainer(config(), plugins)
    components = Components(
        trainer.components.dataset,
        ScalarOnly(trainer.components.dataset.spec),
        trainer.components.sampler,
        trainer.components.loss,
    )
    with pytest.raises(UsageError, match=r"loss BEGANLoss needs the energy's residual"):
        Trainer(components, TrainSettings(steps=1))
