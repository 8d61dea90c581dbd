"""Tests for the replay sampler in ebkit.builtins.samplers.replay: the buffer's shape and filling,
slots drawn and written back, fresh starts, eval mode, and the buffer in state_dicts and
checkpoints."""

from __future__ import annotations

import inspect

import pytest
import torch

from ebkit import EnergyFunction, EnergyOutput, UsageError
from ebkit.builtins.samplers.hooks import ebkit_samplers
from ebkit.builtins.samplers.langevin import LANGEVIN_OPTION_NAMES, LangevinSampler
from ebkit.builtins.samplers.replay import ReplaySampler
from ebkit.core.interfaces import DataSpec
from ebkit.runs.build import seeded
from ebkit.testing import check_option_round_trip, check_sampler

TOY = DataSpec((2,), -3.0, 3.0)
REPLAY = next(component for component in ebkit_samplers() if component.name == "replay")


def generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


class Quadratic(EnergyFunction):
    """E(x) = ½‖x‖² with a trainable scale."""

    def __init__(self, spec: DataSpec = TOY) -> None:
        super().__init__(spec)
        self.scale = torch.nn.Parameter(torch.ones(()))

    def forward(self, x: torch.Tensor) -> EnergyOutput:
        return EnergyOutput(0.5 * self.scale * x.flatten(1).square().sum(1))


@pytest.mark.parametrize(
    "options",
    [{"capacity": 16, "steps": 3}, {"capacity": 8, "steps": 2, "mala": True, "reinit": 0.5}],
)
def test_conforms(options: dict) -> None:
    check_sampler(REPLAY, **options)


def test_the_record_matches_the_class() -> None:
    check_option_round_trip(REPLAY)
    names = [option.name for option in REPLAY.options]
    assert names == [
        "capacity",
        "reinit",
        "sample_rounds",
        "sample_reinit",
        *LANGEVIN_OPTION_NAMES,
        "kernel",
        "kernel_options",
    ]
    defaults = {option.name: option.default for option in REPLAY.options}
    assert (defaults["capacity"], defaults["reinit"]) == (8192, 0.05)
    keywords = inspect.signature(ReplaySampler).parameters
    assert keywords["capacity"].default == 8192 and keywords["reinit"].default == 0.05
    langevin_defaults = inspect.signature(LangevinSampler).parameters
    for name in LANGEVIN_OPTION_NAMES:
        if name != "steps":
            assert defaults[name] == langevin_defaults[name].default, name
    # steps is auto: 20 per call on vectors (persistent chains), 60 on images.
    assert defaults["steps"] is None
    assert ReplaySampler(DataSpec((2,)), capacity=4).langevin.steps == 20
    assert ReplaySampler(DataSpec((1, 4, 4)), capacity=4).langevin.steps == 60
    assert ReplaySampler(DataSpec((2,)), capacity=4, steps=7).langevin.steps == 7


def test_the_buffer_is_fixed_at_construction_and_filled_with_uniform_noise() -> None:
    sampler = ReplaySampler(DataSpec((1, 4, 4), -1.0, 1.0), capacity=3000)
    buffer = sampler.state_dict()["buffer"]
    assert buffer.shape == (3000, 1, 4, 4) and buffer.dtype == torch.float32
    assert buffer.min() >= -1.0 and buffer.max() <= 1.0
    assert buffer.mean().abs() < 0.02 and buffer.var().item() == pytest.approx(1 / 3, rel=0.05)
    # Filled from the default generator, which the build seeds like weight initialisation.
    with seeded(7):
        first = ReplaySampler(TOY, capacity=50).buffer
    with seeded(7):
        again = ReplaySampler(TOY, capacity=50).buffer
    with seeded(8):
        other = ReplaySampler(TOY, capacity=50).buffer
    assert torch.equal(first, again) and not torch.equal(first, other)


def test_chains_continue_from_their_slots_and_are_written_back_there() -> None:
    sampler = ReplaySampler(TOY, capacity=10, reinit=0.0, steps=3, step_size=0.1)
    before = sampler.buffer.clone()
    chains = sampler.sample(4, Quadratic(), generator(3))

    slots = torch.randperm(10, generator=generator(3))[:4]
    expected = LangevinSampler(TOY, steps=3, step_size=0.1).refine(
        before[slots], Quadratic(), torch.Generator().set_state(_after_randperm(3, 10))
    )
    torch.testing.assert_close(chains, expected)
    assert torch.equal(sampler.buffer[slots], chains)
    untouched = torch.ones(10, dtype=torch.bool)
    untouched[slots] = False
    assert torch.equal(sampler.buffer[untouched], before[untouched])
    assert sampler.metrics()["fresh_share"] == 0.0


def _after_randperm(seed: int, capacity: int) -> torch.Tensor:
    """The state of a generator seeded with ``seed`` after drawing the slots."""
    state = generator(seed)
    torch.randperm(capacity, generator=state)
    return state.get_state()


def test_without_steps_the_chains_are_the_buffer_slots_or_fresh_noise() -> None:
    kept = ReplaySampler(TOY, capacity=6, reinit=0.0, steps=0)
    chains = kept.sample(6, Quadratic(), generator(0))
    slots = torch.randperm(6, generator=generator(0))
    assert torch.equal(chains, kept.buffer[slots])

    fresh = ReplaySampler(TOY, capacity=6, reinit=1.0, steps=0)
    before = fresh.buffer.clone()
    chains = fresh.sample(6, Quadratic(), generator(0))
    state = generator(0)
    slots = torch.randperm(6, generator=state)
    torch.rand(6, generator=state)  # the coin flips
    noise = torch.rand(6, 2, generator=state) * 6 - 3
    torch.testing.assert_close(chains, noise)
    assert torch.equal(fresh.buffer[slots], chains) and not torch.equal(fresh.buffer, before)
    assert float(fresh.metrics()["fresh_share"]) == 1.0


def test_the_share_of_fresh_starts_follows_reinit() -> None:
    sampler = ReplaySampler(TOY, capacity=8192, reinit=0.3, steps=0)
    sampler.sample(8000, Quadratic(), generator(1))
    share = float(sampler.metrics()["fresh_share"])
    standard_error = (0.3 * 0.7 / 8000) ** 0.5
    assert abs(share - 0.3) < 5 * standard_error


def test_eval_mode_reads_the_buffer_without_writing_it() -> None:
    sampler = ReplaySampler(TOY, capacity=8, steps=2).eval()
    before = sampler.buffer.clone()
    chains = sampler.sample(20, Quadratic(), generator(0))  # more than the capacity
    assert chains.shape == (20, 2)
    assert torch.equal(sampler.buffer, before)


def test_drawing_samples_on_vectors_continues_the_chains_without_restarts() -> None:
    # Eval mode on vectors: no fresh noise among the samples, one call of steps steps.
    sampler = ReplaySampler(TOY, capacity=8, steps=3, step_size=0.1).eval()
    assert (sampler.sample_rounds, sampler.sample_reinit) == (1, 0.0)
    chains = sampler.sample(20, Quadratic(), generator(4))
    state = generator(4)
    slots = torch.randint(8, (20,), generator=state)
    expected = LangevinSampler(TOY, steps=3, step_size=0.1).refine(
        sampler.buffer[slots], Quadratic(), state
    )
    torch.testing.assert_close(chains, expected)
    assert sampler.metrics()["fresh_share"] == 0.0
    # Training mode keeps its restarts.
    assert sampler.train().reinit == 0.05


def test_more_sample_rounds_continue_the_chains_longer() -> None:
    sampler = ReplaySampler(TOY, capacity=8, steps=3, step_size=0.1, sample_rounds=4).eval()
    chains = sampler.sample(20, Quadratic(), generator(4))
    state = generator(4)
    slots = torch.randint(8, (20,), generator=state)
    expected = LangevinSampler(TOY, steps=12, step_size=0.1).refine(
        sampler.buffer[slots], Quadratic(), state
    )
    torch.testing.assert_close(chains, expected)


def test_drawing_samples_follows_sample_rounds_and_sample_reinit() -> None:
    kept = ReplaySampler(TOY, capacity=6, steps=2, sample_rounds=0).eval()
    chains = kept.sample(10, Quadratic(), generator(0))
    assert torch.equal(chains, kept.buffer[torch.randint(6, (10,), generator=generator(0))])
    fresh = ReplaySampler(TOY, capacity=6, steps=0, sample_reinit=1.0).eval()
    chains = fresh.sample(4000, Quadratic(), generator(0))
    assert float(fresh.metrics()["fresh_share"]) == 1.0
    assert not torch.isin(chains[:, 0], fresh.buffer[:, 0]).any()


def test_drawing_samples_from_images_keeps_one_call_and_the_training_reinit() -> None:
    image = DataSpec((1, 2, 2), -1.0, 1.0)
    sampler = ReplaySampler(image, capacity=4, reinit=0.3)
    assert (sampler.sample_rounds, sampler.sample_reinit) == (1, 0.3)


def test_training_mode_needs_as_many_slots_as_chains() -> None:
    sampler = ReplaySampler(TOY, capacity=8)
    with pytest.raises(UsageError, match="cannot draw 9 distinct chains from a buffer of 8"):
        sampler.sample(9, Quadratic(), generator(0))


def test_the_buffer_survives_a_state_dict_round_trip() -> None:
    sampler = ReplaySampler(TOY, capacity=32, steps=2)
    for seed in range(3):
        sampler.sample(8, Quadratic(), generator(seed))
    with seeded(99):
        clone = ReplaySampler(TOY, capacity=32, steps=2)
    assert not torch.equal(clone.buffer, sampler.buffer)
    clone.load_state_dict(sampler.state_dict())
    assert torch.equal(clone.buffer, sampler.buffer)
    assert torch.equal(
        clone.sample(8, Quadratic(), generator(5)), sampler.sample(8, Quadratic(), generator(5))
    )
    assert torch.equal(clone.buffer, sampler.buffer)
    with pytest.raises(RuntimeError, match="size mismatch"):
        ReplaySampler(TOY, capacity=16).load_state_dict(sampler.state_dict())


def test_a_float64_energy_gets_float64_chains_and_the_buffer_stays_float32() -> None:
    sampler = ReplaySampler(TOY, capacity=8, steps=2)
    chains = sampler.sample(4, Quadratic().double(), generator(0))
    assert chains.dtype == torch.float64 and sampler.buffer.dtype == torch.float32


def test_metrics_add_the_fresh_share_to_the_langevin_diagnostics() -> None:
    sampler = ReplaySampler(TOY, capacity=16, steps=2)
    sampler.sample(8, Quadratic(), generator(0))
    assert set(sampler.metrics()) == {"temperature", "grad_norm", "step_distance", "fresh_share"}


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"capacity": 0}, "capacity must be a whole number >= 1"),
        ({"reinit": 1.5}, r"reinit must be a probability in \[0, 1\]"),
        ({"sample_reinit": -0.1}, r"sample_reinit must be a probability in \[0, 1\]"),
        ({"sample_rounds": 1.5}, "sample_rounds must be a whole number >= 0"),
        ({"step_size": -1.0}, "step_size must be a finite number > 0"),
    ],
)
def test_invalid_options_are_errors(options: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ReplaySampler(TOY, **options)
