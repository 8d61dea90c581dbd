"""Tiny training runs: score matching and NCE with the `none` sampler shape wells at the
modes of a 2-D mixture; NCE with `noise=sampler` trains with a generator and with Langevin
MCMC; the command line refuses pairings that cannot train, before writing anything."""

from __future__ import annotations

import math

import pytest
import torch

from ebkit import Components, Trainer, TrainSettings, build_component

RING = torch.tensor(
    [[math.cos(2 * math.pi * k / 8), math.sin(2 * math.pi * k / 8)] for k in range(8)]
)
"""The modes of `8gaussians`: eight points on the unit circle."""
BETWEEN = torch.tensor(
    [
        [math.cos(2 * math.pi * (k + 0.5) / 8), math.sin(2 * math.pi * (k + 0.5) / 8)]
        for k in range(8)
    ]
)
"""The points of the unit circle halfway between neighbouring modes."""


def train(
    loss: str,
    *,
    sampler: str = "none",
    steps: int,
    activation: str = "leaky_relu",
    sampler_options: dict | None = None,
    **loss_options,
) -> tuple[Trainer, dict]:
    data = build_component("dataset", "8gaussians")
    spec = data.spec
    energy = build_component(
        "energy", "mlp", spec, seed=0, width=128, n_layers=3, activation=activation
    )
    parts = Components(
        data,
        energy,
        build_component("sampler", sampler, spec, seed=0, **(sampler_options or {})),
        build_component("loss", loss, spec, seed=0, **loss_options),
    )
    trainer = Trainer(parts, TrainSettings(steps=steps, batch_size=64, seed=0))
    metrics: dict = {}
    for _ in range(steps):
        metrics = trainer.train_step()
    trainer.check_finite()
    return trainer, metrics


def energies(trainer: Trainer, points: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return trainer.components.energy.energy(points)


def assert_wells_at_the_modes(trainer: Trainer) -> None:
    at_modes, between = energies(trainer, RING), energies(trainer, BETWEEN)
    origin = energies(trainer, torch.zeros(1, 2))
    # Every mode lies below both of its neighbouring midpoints and below the centre.
    assert torch.all(at_modes < between), (at_modes, between)
    assert torch.all(at_modes < between.roll(1)), (at_modes, between)
    assert torch.all(at_modes < origin), (at_modes, origin)


def test_dsm_learns_wells_at_the_modes() -> None:
    trainer, metrics = train("dsm", steps=300)
    assert_wells_at_the_modes(trainer)
    assert {"loss_energy", "energy_real", "score_norm"} <= set(metrics)


def test_nce_with_gaussian_noise_learns_wells_at_the_modes() -> None:
    trainer, metrics = train("nce", steps=300)
    assert_wells_at_the_modes(trainer)
    assert float(metrics["accuracy"]) > 0.8
    assert float(metrics["log_partition"]) != 0.0  # c is trained with the energy


def test_ssm_shapes_a_low_ring_through_the_modes() -> None:
    # Sliced score matching on the data themselves (no smoothing) first learns the ring's
    # radial profile: low on the circle through the modes, high inside and outside.
    trainer, metrics = train("ssm", steps=150, activation="swish")
    ring = energies(trainer, RING)
    for elsewhere in (torch.zeros(1, 2), 0.5 * RING, 1.6 * RING):
        assert ring.max() < energies(trainer, elsewhere).min()
    assert float(metrics["loss_energy"]) < 0  # below a flat energy's 0


def test_nce_trains_a_generator_with_the_samples_as_noise() -> None:
    trainer, metrics = train(
        "nce",
        sampler="generator",
        steps=20,
        noise="sampler",
        sampler_options={"width": 16, "latent_dim": 2},
    )
    assert {"loss_sampler", "loss_energy", "accuracy"} <= set(metrics)
    untrained = build_component(
        "sampler", "generator", trainer.components.energy.spec, seed=0, width=16, latent_dim=2
    )
    pairs = zip(untrained.parameters(), trainer.components.sampler.parameters(), strict=True)
    moved = [not torch.equal(a, b) for a, b in pairs]
    assert any(moved)  # the generator trained on the NCE classifier's logit


def test_nce_trains_with_langevin_samples_as_noise() -> None:
    _, metrics = train(
        "nce", sampler="langevin", steps=20, noise="sampler", sampler_options={"steps": 5}
    )
    assert "loss_sampler" not in metrics  # MCMC trains nothing
    assert float(metrics["energy_gap"]) > 0  # samples pushed above the data


@pytest.fixture
def cli(ebkit_plugins, ebkit_cli):
    import ebkit_estimation

    ebkit_plugins({"ebkit-estimation": ebkit_estimation})
    return ebkit_cli


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--sampler", "none", "--loss", "ssm"], "ssm needs an energy with curvature"),
        (["--sampler", "generator", "--loss", "nce"], "pair it with --sampler none"),
        (
            ["--sampler", "none", "--loss", "nce", "-o", "loss.noise=sampler"],
            "options of the loss that need none",
        ),
        (["--sampler", "none", "--loss", "dsm", "-o", "loss.sigmas=0"], "loss.sigmas"),
    ],
)
def test_the_command_line_refuses_what_cannot_train(cli, tmp_path, arguments, message) -> None:
    out = tmp_path / "run"
    result = cli(
        "train",
        "--energy",
        "mlp",
        "--data",
        "8gaussians",
        "--steps",
        "2",
        "--out",
        str(out),
        *arguments,
    )
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output
    assert not out.exists()


@pytest.mark.parametrize("loss", ["dsm", "nce"])
def test_several_processes_are_refused(monkeypatch, loss) -> None:
    # The data-parallel wrapper averages the energy's gradients only: DSM's gradient in x
    # bypasses it and NCE's c is not the energy's, so both train in one process.
    import ebkit_estimation.nce
    import ebkit_estimation.score_matching
    from ebkit import UsageError

    for module in (ebkit_estimation.nce, ebkit_estimation.score_matching):
        monkeypatch.setattr(module, "world_size", lambda: 2)
    with pytest.raises(UsageError, match="one process only"):
        train(loss, steps=0)
