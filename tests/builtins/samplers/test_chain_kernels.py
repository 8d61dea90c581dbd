"""Tests for chain kernels (ebkit.plugin.kernels): ``replay`` and ``generator-langevin``
run the chains of a sampler named by their ``kernel`` option, looked up in the registry,
and stay exactly as they were without it."""

from __future__ import annotations

import json
from typing import Any

import pytest
import torch
from torch import Tensor

from ebkit import (
    ChainKernel,
    Component,
    ContrastiveSampler,
    DataSpec,
    EnergyFunction,
    EnergyOutput,
    Option,
    build_chain_kernel,
)
from ebkit.builtins.samplers.generator_langevin import GeneratorLangevinSampler
from ebkit.builtins.samplers.langevin import LangevinSampler
from ebkit.builtins.samplers.replay import ReplaySampler
from ebkit.plugin.kernels import parse_kernel_options
from ebkit.plugin.manager import module_plugin
from ebkit.runs.build import seeded

TOY = DataSpec((2,), -3.0, 3.0)


class Bowl(EnergyFunction):
    """E(x) = ½‖x − 1‖² with a trainable scale."""

    def __init__(self, spec: DataSpec = TOY) -> None:
        super().__init__(spec)
        self.scale = torch.nn.Parameter(torch.ones(()))

    def forward(self, x: Tensor) -> EnergyOutput:
        return EnergyOutput(0.5 * self.scale * (x - 1.0).flatten(1).square().sum(1))


class HalvingKernel(ContrastiveSampler):
    """A chain kernel whose chain halves its start ``steps`` times and counts its calls
    in training mode in a buffer (state a checkpoint must keep)."""

    def __init__(self, spec: DataSpec, *, steps: int = 1, offset: float = 0.0) -> None:
        super().__init__(spec)
        self.steps = steps
        self.offset = offset
        self.register_buffer("calls", torch.zeros((), dtype=torch.int64))

    def initial(self, n: int, generator: Any, *, dtype: Any = None, device: Any = None) -> Tensor:
        shape = (n, *self.spec.event_shape)
        return torch.full(shape, 2.0 + self.offset, dtype=dtype, device=device)

    def refine(self, start: Tensor, energy: Any, generator: Any, labels: Any = None) -> Tensor:
        if self.training:
            self.calls += 1
        return start.detach() * 0.5**self.steps

    def sample(self, n: int, energy: Any, generator: Any, labels: Any = None) -> Tensor:
        return self.refine(self.initial(n, generator), energy, generator)

    def metrics(self) -> dict[str, Tensor | float]:
        return {"halvings": float(self.steps)}


HALVING = Component(
    name="halving",
    summary="a test chain kernel: halves its start",
    factory=HalvingKernel,
    options=(
        Option("steps", int, 1, "halvings per call", minimum=0),
        Option("offset", float, 0.0, "added to the start points"),
    ),
)


@pytest.fixture
def kernels(ebkit_cli: Any, ebkit_plugins: Any) -> Any:
    """The built-ins and ``halving``, for the library and ``ebkit_cli`` (set up first, so
    that this manager is the last one built)."""
    plugin = module_plugin("test-kernels", ebkit_samplers=lambda: [HALVING])
    return ebkit_plugins({"test-kernels": plugin})


def test_kernel_options_are_name_value_pairs() -> None:
    assert parse_kernel_options("") == {}
    assert parse_kernel_options(" steps=3  widths=4,5 ") == {"steps": "3", "widths": "4,5"}
    for bad in ("steps", "=3", "steps=", "steps=1 steps=2", "'open"):
        with pytest.raises(ValueError, match="kernel_options"):
            parse_kernel_options(bad)


def test_the_registry_builds_a_kernel_with_validated_options(kernels: Any) -> None:
    kernel = build_chain_kernel("halving", TOY, "steps=3 offset=0.5")
    assert isinstance(kernel, HalvingKernel) and isinstance(kernel, ChainKernel)
    assert (kernel.steps, kernel.offset) == (3, 0.5)
    assert build_chain_kernel("test-kernels/halving", TOY, {"steps": 2}).steps == 2
    assert isinstance(build_chain_kernel("langevin", TOY, "steps=4"), LangevinSampler)
    for name, options, message in [
        ("nope", "", "unknown sampler 'nope'"),
        ("halving", "stpes=2", r"kernel_options\.stpes: unknown option .*did you mean 'steps'"),
        ("halving", "steps=-1", r"kernel_options\.steps: '-1' is below the minimum 0"),
        ("generator", "", "not a chain kernel: it lacks initial, refine, steps"),
    ]:
        with pytest.raises(ValueError, match=message):
            build_chain_kernel(name, TOY, options)
    with pytest.raises(ValueError, match="cannot condition on class labels"):
        build_chain_kernel("halving", DataSpec((2,), num_classes=3, conditional=True))


def test_the_kernel_comes_from_the_manager_that_builds_the_sampler() -> None:
    from ebkit import build_component
    from ebkit.plugin.manager import PluginManager

    plugin = module_plugin("test-kernels", ebkit_samplers=lambda: [HALVING])
    manager = PluginManager(load_entry_points=False, environ={}, extra_plugins={"k": plugin})
    replay = build_component(
        "sampler", "replay", TOY, manager=manager, capacity=4, kernel="halving"
    )  # the process-wide manager does not know halving
    assert isinstance(replay.chain, HalvingKernel)


def test_without_a_kernel_the_samplers_keep_their_langevin_chains_and_state() -> None:
    with seeded(0):
        replay = ReplaySampler(TOY, capacity=8, steps=2)
    with seeded(0):
        named = ReplaySampler(TOY, capacity=8, steps=2, kernel="ebkit/langevin")
    assert isinstance(replay.chain, LangevinSampler) and replay.langevin is replay.chain
    assert list(replay.state_dict()) == ["buffer"]  # the checkpoint of every earlier run
    assert torch.equal(replay.buffer, named.buffer)
    energy = Bowl()
    first = replay.sample(4, energy, torch.Generator().manual_seed(1))
    assert torch.equal(first, named.sample(4, energy, torch.Generator().manual_seed(1)))
    hybrid = GeneratorLangevinSampler(TOY, latent_dim=2, width=8, steps=3)
    assert isinstance(hybrid.langevin, LangevinSampler) and hybrid.langevin.steps == 3
    assert all(key.startswith("generator.") for key in hybrid.state_dict())


def test_replay_fills_moves_and_saves_its_chains_with_the_kernel(kernels: Any) -> None:
    replay = ReplaySampler(TOY, capacity=6, reinit=0.0, kernel="halving", kernel_options="steps=2")
    assert isinstance(replay.chain, HalvingKernel) and replay.chain.steps == 2
    assert torch.equal(replay.buffer, torch.full((6, 2), 2.0))  # from the kernel's initial
    chains = replay.sample(3, Bowl(), torch.Generator().manual_seed(0))
    assert torch.equal(chains, torch.full((3, 2), 0.5))
    assert int((replay.buffer == 0.5).all(1).sum()) == 3  # written back to their slots
    assert replay.metrics() == {"halvings": 2.0, "fresh_share": 0.0}
    state = replay.state_dict()
    assert sorted(state) == ["buffer", "chain.calls"] and int(state["chain.calls"]) == 1
    clone = ReplaySampler(TOY, capacity=6, reinit=0.0, kernel="halving", kernel_options="steps=2")
    clone.load_state_dict(state)
    assert int(clone.chain.calls) == 1 and torch.equal(clone.buffer, replay.buffer)
    with pytest.raises(TypeError, match="runs kernel 'halving', not langevin"):
        _ = replay.langevin


def test_generator_langevin_refines_with_the_kernel(kernels: Any) -> None:
    hybrid = GeneratorLangevinSampler(
        TOY, latent_dim=2, width=8, kernel="halving", kernel_options="steps=1"
    )
    raw = hybrid.generator.sample(5, Bowl(), torch.Generator().manual_seed(2))
    refined, for_generator = hybrid.training_samples(5, Bowl(), torch.Generator().manual_seed(2))
    torch.testing.assert_close(refined, raw.detach() * 0.5)
    torch.testing.assert_close(for_generator, raw)
    sampled = hybrid.sample(5, Bowl(), torch.Generator().manual_seed(2))
    torch.testing.assert_close(sampled, raw * 0.5)  # with the graph straight through to G
    assert sampled.requires_grad and hybrid.metrics()["halvings"] == 1.0
    unrefined = GeneratorLangevinSampler(
        TOY, latent_dim=2, width=8, kernel="halving", kernel_options="steps=0"
    )
    unrefined.load_state_dict(hybrid.state_dict(), strict=False)
    torch.testing.assert_close(unrefined.sample(5, Bowl(), torch.Generator().manual_seed(2)), raw)


@pytest.mark.parametrize(
    ("sampler", "options", "message"),
    [
        ("replay", ["kernel=nope"], "kernel 'nope': unknown sampler 'nope'"),
        ("replay", ["kernel=generator"], "is not a chain kernel"),
        ("replay", ["kernel=halving", "step_size=0.1"], "step_size is a Langevin option"),
        ("replay", ["kernel=halving", "steps=3"], "steps is a Langevin option"),
        ("replay", ["kernel_options=steps=3"], "kernel_options are for a kernel other than"),
        ("generator-langevin", ["kernel=halving", "mala=true"], "mala is a Langevin option"),
        ("generator-langevin", ["kernel=halving", "kernel_options=steps"], "not NAME=VALUE"),
    ],
)
def test_bad_kernel_choices_are_one_line_usage_errors(
    kernels: Any, ebkit_cli: Any, tmp_path: Any, sampler: str, options: list[str], message: str
) -> None:
    overrides = [part for option in options for part in ("-o", f"sampler.{option}")]
    out = tmp_path / "run"
    result = ebkit_cli(
        "train", "--energy", "mlp", "--sampler", sampler, "--loss", "cd", "--data", "moons",
        "--steps", "1", "--out", str(out), "--quiet", *overrides,
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not out.exists()


def test_a_run_trains_with_a_kernel_and_records_it(
    kernels: Any, ebkit_cli: Any, tmp_path: Any
) -> None:
    out = tmp_path / "run"
    result = ebkit_cli(
        "train", "--energy", "mlp", "--sampler", "replay", "--loss", "cd", "--data", "moons",
        "--steps", "2", "--batch-size", "8", "--out", str(out), "--quiet",
        "-o", "energy.width=8", "-o", "sampler.capacity=16", "-o", "sampler.kernel=halving",
        "-o", "sampler.kernel_options=steps=2",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    options = json.loads((out / "config.json").read_text())["sampler"]["options"]
    assert (options["kernel"], options["kernel_options"]) == ("halving", "steps=2")
    record = json.loads((out / "metrics.jsonl").read_text().splitlines()[-1])
    assert (record["halvings"], record["fresh_share"]) == (2.0, 0.0)  # the kernel's metrics
