"""End-to-end training with the core's scalar energies and losses: contrastive divergence
with MCMC samplers and the GAN baseline from the command line, a quantitative check that
a short CD run learns low energy on the data, and a CD run whose energy blows up."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from ebkit import (
    ContrastiveSampler,
    DataSpec,
    EnergyFunction,
    EnergyOutput,
    NonFiniteLossError,
)
from ebkit.builtins.datasets.toy import Moons
from ebkit.builtins.energies.networks import MLPEnergy
from ebkit.builtins.losses.cd import CDLoss
from ebkit.core.engine import Callback, Components, Trainer, TrainSettings
from ebkit.pictures.landscapes import landscape_bounds
from ebkit.runs.build import seeded

FAST = ["--steps", "3", "--batch-size", "16", "--quiet", "-o", "train.sample_count=16"]
SMALL_REPLAY = ["-o", "sampler.steps=3", "-o", "sampler.capacity=64"]
SMALL_GENERATOR = ["-o", "sampler.width=16", "-o", "sampler.latent_dim=4"]


def records(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def samples_in(run: Path) -> list[str]:
    return sorted(path.name for path in (run / "samples").iterdir())


# -- the command line -----------------------------------------------------------------------


def test_cd_with_replay_from_the_cli(ebkit_cli, tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = ebkit_cli(
        "train", "--energy", "mlp", "--sampler", "replay", "--loss", "cd", "--data", "moons",
        *FAST, *SMALL_REPLAY, "-o", "energy.width=16", "-o", "train.log_every=1",
        "--out", str(out),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    config = json.loads((out / "config.json").read_text())
    assert (config["energy"]["id"], config["sampler"]["id"], config["loss"]["id"]) == (
        "ebkit/mlp",
        "ebkit/replay",
        "ebkit/cd",
    )
    assert config["loss"]["options"] == {"alpha": 0.1}
    last = records(out)[-1]
    assert last["step"] == 3
    for name in ("loss_energy", "energy_real", "energy_fake", "energy_gap", "energy_magnitude"):
        assert math.isfinite(last[name]), name
    assert samples_in(out) == ["final.png", "landscape.png"]


def test_gan_baseline_on_8gaussians_from_the_cli(ebkit_cli, tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = ebkit_cli(
        "train", "--energy", "mlp", "--sampler", "generator", "--loss", "gan",
        "--data", "8gaussians", *FAST, *SMALL_GENERATOR, "-o", "energy.width=16",
        "-o", "train.log_every=1", "--out", str(out),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    last = records(out)[-1]
    assert 0 < last["d_real"] < 1 and 0 < last["d_fake"] < 1
    assert math.isfinite(last["loss_sampler"]) and math.isfinite(last["loss_energy"])
    assert samples_in(out) == ["final.png", "landscape.png"]


def test_gan_baseline_on_digits_from_the_cli(ebkit_cli, tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = ebkit_cli(
        "train", "--energy", "conv", "-o", "energy.channels=4,8", "--sampler", "generator",
        "--loss", "gan", "--data", "digits", *FAST, *SMALL_GENERATOR, "--out", str(out),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert samples_in(out) == ["final.png"]  # images get a grid, no landscape
    assert "d_fake" in records(out)[-1]


def test_the_conv_energy_on_2d_data_is_a_one_line_usage_error(ebkit_cli, tmp_path) -> None:
    result = ebkit_cli(
        "train", "--energy", "conv", "--sampler", "replay", "--loss", "cd", "--data", "moons",
        *FAST, "--out", str(tmp_path / "run"),
    )  # fmt: skip
    assert result.exit_code == 2
    (line,) = [line for line in result.stderr.splitlines() if line.strip()]
    assert line.startswith("Error:") and "needs image data of shape (C, H, W)" in line
    assert "use the mlp energy" in line


def test_a_cd_run_whose_energy_blows_up_stops_with_one_line(ebkit_cli, tmp_path) -> None:
    # Adam moves every weight by about the learning rate: 1e30 overflows float32 energies.
    out = tmp_path / "run"
    result = ebkit_cli(
        "train", "--energy", "mlp", "--sampler", "replay", "--loss", "cd", "--data", "moons",
        *FAST, *SMALL_REPLAY, "-o", "train.energy_lr=1e30", "-o", "train.log_every=1",
        "--out", str(out),
    )  # fmt: skip
    assert result.exit_code == 1
    (line,) = [line for line in result.stderr.splitlines() if line.strip()]
    assert line.startswith("Error: the energy loss became nan at step 2; training stopped")
    # Step 1 was logged with finite values; nothing was logged for the failed step.
    assert [record["step"] for record in records(out)] == [1]
    assert all(math.isfinite(v) for v in records(out)[0].values())


# -- the Python API -------------------------------------------------------------------------


class PersistentLangevin(ContrastiveSampler):
    """A minimal replay sampler for these tests, independent of the built-in ones:
    persistent chains updated by exact Langevin steps (temperature 1),
    x ← clamp(x − η·∇E(x) + √(2η)·ξ, [low, high])."""

    def __init__(self, spec: DataSpec, *, chains: int = 512, steps: int = 10) -> None:
        super().__init__(spec)
        self.steps = steps
        self.step_size = 0.005
        self.register_buffer("chains", torch.empty(chains, 2).uniform_(spec.low, spec.high))

    def sample(self, n: int, energy: EnergyFunction, generator: torch.Generator) -> torch.Tensor:
        slots = torch.randperm(len(self.chains), generator=generator)[:n]
        x = self.chains[slots]
        for _ in range(self.steps):
            x = x.detach().requires_grad_(True)
            (grad,) = torch.autograd.grad(energy.energy(x).sum(), x)
            noise = torch.randn(x.shape, generator=generator)
            x = x - self.step_size * grad + math.sqrt(2 * self.step_size) * noise
            x = x.clamp(self.spec.low, self.spec.high)
        self.chains[slots] = x.detach()
        return x.detach()


def cd_trainer(steps: int, *, seed: int = 0) -> Trainer:
    data = Moons()
    with seeded(seed):
        energy = MLPEnergy(data.spec, width=32, n_layers=2)
        sampler = PersistentLangevin(data.spec)
    components = Components(data, energy, sampler, CDLoss(data.spec))
    return Trainer(components, TrainSettings(steps=steps, batch_size=64, seed=seed))


def energy_separation(trainer: Trainer) -> tuple[float, float]:
    """Mean E(uniform noise over the landscape's square) − mean E(held-out data), and the
    probability that a noise point has a higher energy than a data point (AUROC)."""
    generator = torch.Generator().manual_seed(12345)
    held_out = trainer.components.dataset.sample(2000, generator).x
    (x_low, x_high), (y_low, y_high) = landscape_bounds(held_out)
    unit = torch.rand(2000, 2, generator=generator)
    noise = torch.stack(
        [x_low + (x_high - x_low) * unit[:, 0], y_low + (y_high - y_low) * unit[:, 1]], 1
    )
    energy = trainer.components.energy.eval()
    with torch.no_grad():
        on_data, on_noise = energy.energy(held_out), energy.energy(noise)
    energy.train()
    auroc = (on_noise[:, None] > on_data[None, :]).double().mean().item()
    return (on_noise.mean() - on_data.mean()).item(), auroc


def test_a_short_cd_run_puts_the_data_at_lower_energy_than_noise() -> None:
    trainer = cd_trainer(200)
    gap_before, auroc_before = energy_separation(trainer)
    assert abs(gap_before) < 0.3 and 0.3 < auroc_before < 0.7  # untrained: no preference
    trainer.fit()
    gap, auroc = energy_separation(trainer)
    # Measured at 200 steps (seeds 0–2): gap 1.3–1.9, AUROC 0.83–0.85.
    assert gap > 0.8, f"mean energy of noise − data = {gap:.3f}"
    assert auroc > 0.75, f"AUROC {auroc:.3f}"


def test_cd_trains_a_generator_to_lower_the_energy_of_its_samples() -> None:
    from ebkit.builtins.samplers.generator import GeneratorSampler

    class Bowl(EnergyFunction):
        """E(x) = scale·‖x − (0.5, 0.5)‖²."""

        def __init__(self, spec: DataSpec) -> None:
            super().__init__(spec)
            self.scale = torch.nn.Parameter(torch.ones(()))

        def forward(self, x: torch.Tensor) -> EnergyOutput:
            return EnergyOutput(energy=self.scale * (x - 0.5).square().sum(1))

    data = Moons()
    energy = Bowl(data.spec)
    with seeded(0):
        generator = GeneratorSampler(data.spec, latent_dim=4, width=16, batchnorm=False)
    components = Components(data, energy, generator, CDLoss(data.spec))
    # A frozen energy (learning rate 0), so only L_G = mean E(G(z)) moves anything.
    settings = TrainSettings(steps=20, batch_size=32, energy_lr=0.0, sampler_lr=0.01)
    trainer = Trainer(components, settings)

    def mean_sample_energy() -> float:
        with torch.no_grad():
            samples = generator.sample(256, energy, torch.Generator().manual_seed(1))
            return energy.energy(samples).mean().item()

    before = mean_sample_energy()
    trainer.fit()
    after = mean_sample_energy()
    assert after < 0.5 * before, (before, after)


@pytest.mark.parametrize("dataset", ["moons", "swissroll"])
def test_cd_with_the_replay_sampler_runs_on_both_toys(dataset: str) -> None:
    from ebkit.builtins.datasets.toy import SwissRoll
    from ebkit.builtins.samplers.replay import ReplaySampler

    data = Moons() if dataset == "moons" else SwissRoll()
    with seeded(0):
        energy = MLPEnergy(data.spec, width=16)
        sampler = ReplaySampler(data.spec, capacity=64, steps=3)
    trainer = Trainer(
        Components(data, energy, sampler, CDLoss(data.spec)), TrainSettings(steps=3, batch_size=16)
    )
    trainer.fit()
    assert trainer.step == 3
    assert all(torch.isfinite(p).all() for p in energy.parameters())


class BlowUpBefore(Callback):
    """Scales the energy's output layer by 1e30 after step ``step``: E ≈ 1e30, E² = inf."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_step_end(self, trainer: Trainer, metrics) -> None:
        if trainer.step == self.step:
            energy = trainer.components.energy
            with torch.no_grad():
                energy.head.weight.mul_(1e30)
                energy.head.bias.fill_(1e30)


def test_a_non_finite_cd_loss_stops_training_naming_the_step_where_it_appeared() -> None:
    trainer = cd_trainer(10)
    trainer.callbacks = [BlowUpBefore(step=2)]
    # The step does not wait for the device to look at the loss; the run stops when it
    # is read (at the end here, before any callback could save it), naming step 3.
    with pytest.raises(NonFiniteLossError, match=r"^the energy loss became inf at step 3; "):
        trainer.fit()
    assert trainer.step >= 3
