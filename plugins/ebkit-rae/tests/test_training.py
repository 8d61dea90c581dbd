"""Tiny training runs: each energy alone on the data (``--sampler none --loss none``) and as
EBGAN's discriminator (``--sampler generator --loss margin``), through ebkit's engine."""

from __future__ import annotations

import ebkit_rae
import pytest
import torch

from ebkit import Components, Trainer, TrainSettings, build_component

ENERGIES = ("denoising-ae", "contractive-ae", "sparse-ae")
NETWORK = {"width": 32, "depth": 2, "code": 16}
LEARNING_RATE = {"denoising-ae": 3e-3, "contractive-ae": 3e-3, "sparse-ae": 1e-3}
"""Rates at which 400 steps suffice; rectified sparse codes die at 5e-3 (see the class)."""
PENALTY = {
    "denoising-ae": None,
    "contractive-ae": "penalty_contractive",
    "sparse-ae": "penalty_sparse",
}


def _components(energy: str, sampler: str, loss: str) -> Components:
    dataset = build_component("dataset", "8gaussians")
    spec = dataset.spec
    return Components(
        dataset=dataset,
        energy=build_component("energy", energy, spec, seed=0, **NETWORK),
        sampler=build_component("sampler", sampler, spec, seed=1),
        loss=build_component("loss", loss, spec, seed=2),
    )


def _energy_at(energy: torch.nn.Module, points: torch.Tensor) -> torch.Tensor:
    energy.eval()
    with torch.no_grad():
        return energy(points).energy


@pytest.mark.parametrize("name", ENERGIES)
def test_trained_on_the_data_alone_the_energy_is_lower_at_the_data(ebkit_plugins, name) -> None:
    ebkit_plugins({"ebkit-rae": ebkit_rae})
    components = _components(name, "none", "none")
    settings = TrainSettings(steps=400, batch_size=128, energy_lr=LEARNING_RATE[name])
    trainer = Trainer(components, settings)
    metrics = [trainer.train_step() for _ in range(400)]
    if PENALTY[name]:
        assert float(metrics[-1][PENALTY[name]]) >= 0
    data = components.dataset.sample(512, torch.Generator().manual_seed(9)).x
    spec = components.dataset.spec
    box = torch.rand(512, 2, generator=torch.Generator().manual_seed(8))
    box = spec.low + (spec.high - spec.low) * box
    on_data, off_data = _energy_at(components.energy, data), _energy_at(components.energy, box)
    # The regulariser keeps the energy from going flat: the data's energy is well below
    # the average energy over the data's box.
    assert on_data.mean() < 0.4 * off_data.mean(), (float(on_data.mean()), float(off_data.mean()))


@pytest.mark.parametrize("name", ENERGIES)
def test_the_energy_trains_ebgan(ebkit_plugins, name) -> None:
    ebkit_plugins({"ebkit-rae": ebkit_rae, "ebkit-losses": pytest.importorskip("ebkit_losses")})
    components = _components(name, "generator", "margin")
    generator = components.sampler
    before = [p.detach().clone() for p in generator.parameters()]
    trainer = Trainer(components, TrainSettings(steps=20, batch_size=32))
    metrics = [trainer.train_step() for _ in range(20)]
    assert all(torch.isfinite(torch.as_tensor(m["loss_energy"])) for m in metrics)
    assert "loss_sampler" in metrics[-1]
    if PENALTY[name]:
        assert PENALTY[name] in metrics[-1]
    assert any(not torch.equal(a, b) for a, b in zip(before, generator.parameters(), strict=True))


def test_the_denoising_noise_comes_from_the_trainers_generator(ebkit_plugins) -> None:
    # Same seed, same trajectory; another seed of the trainer, other noise, other losses.
    ebkit_plugins({"ebkit-rae": ebkit_rae})

    def losses(seed: int) -> list[float]:
        components = _components("denoising-ae", "none", "none")
        trainer = Trainer(components, TrainSettings(steps=3, batch_size=16, seed=seed))
        torch.manual_seed(1234)  # the global RNG must not matter
        return [float(trainer.train_step()["loss_energy"]) for _ in range(3)]

    first = losses(0)
    torch.manual_seed(99)
    assert losses(0) == first
    assert losses(1) != first


def test_a_resumed_denoising_run_draws_the_same_noise(ebkit_plugins, tmp_path) -> None:
    # Train 6 steps with a checkpoint at 3, drop the last checkpoint, resume from step 3:
    # the weights must be those of the uninterrupted run, which they are only if the
    # noise drawn after the resume is the noise the uninterrupted run drew.
    import shutil

    from ebkit import load_run, resume, train

    ebkit_plugins({"ebkit-rae": ebkit_rae})
    options = {
        "energy.width": 8,
        "energy.depth": 1,
        "energy.code": 4,
        "energy.eval_draws": 1,
        "train.checkpoint_every": 3,
        "train.keep_checkpoints": 0,
        "train.sample_every": 0,
    }
    common = {"energy": "denoising-ae", "sampler": "none", "loss": "none", "data": "8gaussians"}
    whole = train(**common, steps=6, batch_size=8, options=options, out=tmp_path / "whole")
    shutil.copytree(tmp_path / "whole", tmp_path / "resumed")
    checkpoints = sorted((tmp_path / "resumed" / "checkpoints").iterdir())
    for path in checkpoints:
        if "0000006" in path.name:
            shutil.rmtree(path) if path.is_dir() else path.unlink()
    assert load_run(tmp_path / "resumed").step == 3
    resumed = resume(tmp_path / "resumed", steps=6)
    assert resumed.step == 6
    for (name, a), b in zip(
        whole.energy.state_dict().items(), resumed.energy.state_dict().values(), strict=True
    ):
        assert torch.equal(a, b), name
