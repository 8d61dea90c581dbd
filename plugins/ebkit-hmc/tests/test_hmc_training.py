"""Tiny training runs: ``--sampler hmc`` from the command line, and hmc as the chain
kernel of ``replay`` (persistent HMC chains) and of ``generator-langevin`` (G(z) refined
by HMC), built through the registry like ``-o sampler.kernel=hmc``."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

import ebkit_hmc
from ebkit import Components, PluginManager, Trainer, TrainSettings, build_component
from ebkit_hmc.sampler import HMCSampler


@pytest.fixture(autouse=True)
def one_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def manager() -> PluginManager:
    return PluginManager(
        load_entry_points=False, environ={}, extra_plugins={"ebkit-hmc": ebkit_hmc}
    )


def trainer_for(manager: PluginManager, sampler: str, loss: str, steps: int, **options) -> Trainer:
    data = build_component("dataset", "8gaussians", seed=0, manager=manager)
    energy = build_component("energy", "mlp", data.spec, seed=1, manager=manager, width=16)
    contrastive = build_component("sampler", sampler, data.spec, seed=2, manager=manager, **options)
    functional = build_component("loss", loss, data.spec, seed=3, manager=manager)
    settings = TrainSettings(steps=steps, batch_size=32, seed=0)
    return Trainer(Components(data, energy, contrastive, functional), settings)


def train(trainer: Trainer) -> dict:
    """Run the trainer's steps; the metrics of the last one."""
    trainer.set_mode(training=True)
    for _ in range(trainer.settings.steps):
        metrics = trainer.train_step()
    trainer.check_finite()
    return metrics


def test_cli_trains_with_the_hmc_sampler(ebkit_plugins, ebkit_cli, tmp_path) -> None:
    ebkit_plugins({"ebkit-hmc": ebkit_hmc})
    run = tmp_path / "run"
    result = ebkit_cli(
        "train", "--energy", "mlp", "--sampler", "hmc", "--loss", "cd", "--data", "moons",
        "--steps", "4", "--batch-size", "16", "--out", str(run), "--quiet",
        "-o", "energy.width=8", "-o", "sampler.steps=3", "-o", "train.log_every=2",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [record["step"] for record in records] == [2, 4]
    assert {"acceptance_rate", "step_size", "step_distance", "energy_error"} <= set(records[-1])
    assert 0.0 <= records[-1]["acceptance_rate"] <= 1.0
    state = load_file(run / "checkpoints" / "step-0000004.safetensors")
    # 12 transitions of dual averaging moved ε from its first value, and the checkpoint keeps it
    assert int(state["sampler.adapt_iteration"]) == 12
    assert float(state["sampler.log_step_size"].exp()) != pytest.approx(0.005)
    config = json.loads((run / "config.json").read_text())
    assert config["sampler"]["id"] == "ebkit-hmc/hmc"


def test_replay_keeps_persistent_hmc_chains(manager) -> None:
    trainer = trainer_for(
        manager, "replay", "cd", 20, capacity=64, kernel="hmc",
        kernel_options="steps=3 leapfrog_steps=3",
    )  # fmt: skip
    replay = trainer.components.sampler
    assert isinstance(replay.chain, HMCSampler) and replay.chain.steps == 3
    before = replay.buffer.clone()
    last = train(trainer)
    assert not torch.equal(replay.buffer, before)  # chains written back
    assert {"acceptance_rate", "step_size", "fresh_share"} <= set(last)
    assert int(replay.chain.adapt_iteration) == 60  # 20 calls × 3 transitions
    assert {"buffer", "chain.log_step_size", "chain.adapt_iteration"} <= set(replay.state_dict())


def test_generator_langevin_refines_with_hmc(manager) -> None:
    trainer = trainer_for(
        manager, "generator-langevin", "gan", 10, width=16, kernel="hmc",
        kernel_options="steps=2 leapfrog_steps=2 step_size=0.01",
    )  # fmt: skip
    hybrid = trainer.components.sampler
    assert isinstance(hybrid.chain, HMCSampler)
    weights = [parameter.detach().clone() for parameter in hybrid.generator.parameters()]
    last = train(trainer)
    assert {"acceptance_rate", "energy_raw", "energy_refined", "loss_sampler"} <= set(last)
    moved = [
        not torch.equal(a, b) for a, b in zip(weights, hybrid.generator.parameters(), strict=True)
    ]
    assert all(moved)  # the generator trains on raw G(z), as with Langevin refinement
