"""Tests for the langevin sampler in ebkit.builtins.samplers.langevin: the step against its
formula, options and metrics (the chain's bookkeeping and MALA: test_langevin_chains.py)."""

from __future__ import annotations

import inspect
import math

import pytest
import torch
from sampler_doubles import TOY, Quadratic, seeded

from ebkit import Component, Option
from ebkit.builtins.samplers.hooks import ebkit_samplers
from ebkit.builtins.samplers.langevin import (
    ANNEAL_SCHEDULES,
    ANNEAL_TARGETS,
    INITS,
    LANGEVIN_OPTION_NAMES,
    NOISE_CONVENTIONS,
    LangevinSampler,
    anneal_factors,
    langevin_step,
    mala_log_acceptance,
)
from ebkit.core.interfaces import ContrastiveSampler, DataSpec
from ebkit.plugin.manager import module_plugin
from ebkit.testing import check_option_round_trip, check_sampler

RECORDS = {component.name: component for component in ebkit_samplers()}
LANGEVIN = RECORDS["langevin"]

# -- conformance ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "options",
    [
        {"steps": 4},
        {"steps": 3, "mala": True},
        {"steps": 3, "init": "gaussian", "noise": "coupled", "step_size": 0.01},
        {"steps": 3, "anneal": "geometric", "anneal_target": "step_size", "clamp": False},
        {"steps": 0},
    ],
)
def test_conforms(options: dict) -> None:
    check_sampler(LANGEVIN, **options)


def test_the_record_matches_the_class() -> None:
    check_option_round_trip(LANGEVIN)
    assert LANGEVIN.factory == "ebkit.builtins.samplers.langevin:LangevinSampler"
    options = {option.name: option for option in LANGEVIN.options}
    assert tuple(options) == LANGEVIN_OPTION_NAMES
    keywords = inspect.signature(LangevinSampler).parameters
    for name, option in options.items():
        assert keywords[name].default == option.default, name
    assert options["init"].choices == INITS
    assert options["noise"].choices == ("auto", *NOISE_CONVENTIONS)
    assert options["anneal"].choices == ANNEAL_SCHEDULES
    assert options["anneal_target"].choices == ANNEAL_TARGETS


def test_defaults_follow_the_tutorial_on_images() -> None:
    sampler = LangevinSampler(DataSpec((1, 4, 4)))
    assert isinstance(sampler, ContrastiveSampler) and not sampler.trainable
    assert sampler.noise == "independent"
    assert (sampler.steps, sampler.step_size, sampler.noise_scale) == (60, 10.0, 0.005)
    assert (sampler.grad_clip, sampler.clamp, sampler.mala) == (0.03, True, False)
    assert sampler.temperature == pytest.approx(0.005**2 / 20)
    assert LangevinSampler(TOY, noise="independent").step_size == 10.0


def test_defaults_on_vectors_are_exact_langevin_at_a_low_temperature() -> None:
    # s = 0.05: temperature 0.0025, so a bounded CD energy can hold modes as narrow as
    # the 8-Gaussian ring's (σ = 0.01); at temperature 1 the chains scatter over them.
    sampler = LangevinSampler(TOY)
    assert sampler.noise == "coupled"
    assert (sampler.step_size, sampler.noise_scale, sampler.grad_clip) == (0.005, 0.05, 0.0)
    assert sampler.temperature == pytest.approx(0.05**2)
    explicit = LangevinSampler(TOY, noise="coupled", step_size=0.1, grad_clip=0.5)
    assert (explicit.step_size, explicit.noise_scale, explicit.grad_clip) == (0.1, 0.05, 0.5)
    # Runs saved before coupled_noise_scale existed read it as 1: temperature 1, as then.
    assert LangevinSampler(TOY, coupled_noise_scale=1.0).temperature == pytest.approx(1.0)
    assert LangevinSampler(TOY, noise_scale=0.2, coupled_noise_scale=1.0).noise_scale == 0.2


# -- the formulas ----------------------------------------------------------------------------------


def test_langevin_step_by_hand() -> None:
    x = torch.tensor([[0.5, -0.2]])
    grad = torch.tensor([[0.1, -0.01]])
    noise = torch.tensor([[0.001, 0.002]])
    # clip(∇E, ±0.03) = (0.03, −0.01): x − 10·(0.03, −0.01) + noise = (0.201, −0.098)
    clipped = langevin_step(x, grad, noise, step_size=10.0, grad_clip=0.03)
    torch.testing.assert_close(clipped, torch.tensor([[0.201, -0.098]]))
    # without clipping: x − 10·(0.1, −0.01) + noise = (−0.499, −0.098)
    unclipped = langevin_step(x, grad, noise, step_size=10.0)
    torch.testing.assert_close(unclipped, torch.tensor([[-0.499, -0.098]]))
    # clamped to [−0.1, 0.1]: (0.1, −0.098)
    clamped = langevin_step(x, grad, noise, step_size=10.0, grad_clip=0.03, low=-0.1, high=0.1)
    torch.testing.assert_close(clamped, torch.tensor([[0.1, -0.098]]))
    # no noise: plain clipped gradient descent
    descent = langevin_step(x, grad, None, step_size=10.0, grad_clip=0.03)
    torch.testing.assert_close(descent, torch.tensor([[0.2, -0.1]]))
    assert torch.equal(x, torch.tensor([[0.5, -0.2]])), "the input was modified"


def test_langevin_step_gradients() -> None:
    generator = seeded(0)
    x, grad, noise = (torch.rand(3, 2, generator=generator, dtype=torch.float64) for _ in range(3))
    x.requires_grad_(True)
    grad.requires_grad_(True)
    noise.requires_grad_(True)

    # Away from the clip and clamp boundaries the step is smooth in all three inputs.
    def step(x, grad, noise):
        return langevin_step(x, grad, noise, step_size=0.3, grad_clip=5.0, low=-9.0, high=9.0)

    assert torch.autograd.gradcheck(step, (x, grad, noise))


def test_mala_log_acceptance_by_hand() -> None:
    # x = 0, y = 1, E(x) = 0, E(y) = 0.5, d(x) = 0, d(y) = 1, η = 0.5, σ = 1, so T = 1:
    # log α = −0.5 − ((0 − 1 + 0.5)² − (1 − 0 + 0)²)/2 = −0.5 + 0.375 = −0.125
    zero, one = torch.zeros(1, 1), torch.ones(1, 1)
    log_alpha = mala_log_acceptance(
        zero, one, torch.zeros(1), torch.full((1,), 0.5), zero, one, step_size=0.5, noise_std=1.0
    )
    torch.testing.assert_close(log_alpha, torch.tensor([-0.125]))


def test_mala_log_acceptance_is_the_metropolis_hastings_ratio() -> None:
    generator = seeded(1)
    x, y, drift_x, drift_y = (
        torch.randn(4, 3, generator=generator, dtype=torch.float64) for _ in range(4)
    )
    energy_x, energy_y = (
        torch.randn(4, generator=generator, dtype=torch.float64) for _ in range(2)
    )
    eta, sigma = 0.3, 0.7
    temperature = sigma**2 / (2 * eta)

    def log_q(to, start, drift):  # log N(to; start − η·drift, σ²I)
        normal = torch.distributions.Normal(start - eta * drift, sigma)
        return normal.log_prob(to).sum(1)

    expected = -(energy_y - energy_x) / temperature + log_q(x, y, drift_y) - log_q(y, x, drift_x)
    actual = mala_log_acceptance(
        x, y, energy_x, energy_y, drift_x, drift_y, step_size=eta, noise_std=sigma
    )
    torch.testing.assert_close(actual, expected)
    inputs = tuple(
        t.clone().requires_grad_(True) for t in (x, y, energy_x, energy_y, drift_x, drift_y)
    )
    assert torch.autograd.gradcheck(
        lambda *t: mala_log_acceptance(*t, step_size=eta, noise_std=sigma), inputs
    )


def test_anneal_factors() -> None:
    assert anneal_factors("none", 0.1, 3) == [1.0, 1.0, 1.0]
    assert anneal_factors("linear", 0.1, 3) == pytest.approx([1.0, 0.55, 0.1])
    assert anneal_factors("geometric", 0.01, 3) == pytest.approx([1.0, 0.1, 0.01])
    assert anneal_factors("linear", 0.1, 1) == [1.0]
    with pytest.raises(ValueError, match="anneal must be one of none, linear, geometric"):
        anneal_factors("cosine", 0.1, 3)


@pytest.mark.parametrize("target", ["noise", "step_size"])
def test_annealing_schedules_of_both_conventions(target: str) -> None:
    independent = LangevinSampler(
        TOY, steps=3, step_size=2.0, noise="independent", noise_scale=0.5, anneal="linear",
        anneal_target=target,
    )  # fmt: skip
    coupled = LangevinSampler(
        TOY, steps=3, step_size=2.0, noise="coupled", noise_scale=0.5, anneal="linear",
        anneal_target=target,
    )  # fmt: skip
    factors = [1.0, 0.55, 0.1]
    if target == "noise":
        assert independent.step_sizes == [2.0] * 3
        assert independent.noise_stds == pytest.approx([0.5 * f for f in factors])
        assert coupled.noise_stds == pytest.approx([0.5 * f * 2.0 for f in factors])  # s·√(2η)
        assert coupled.temperatures == pytest.approx([(0.5 * f) ** 2 for f in factors])
    else:
        assert independent.step_sizes == pytest.approx([2.0 * f for f in factors])
        assert independent.noise_stds == [0.5] * 3
        assert coupled.noise_stds == pytest.approx([0.5 * math.sqrt(4.0 * f) for f in factors])
        assert coupled.temperatures == pytest.approx([0.25] * 3)  # coupled: T = s² throughout
    for sampler in (independent, coupled):
        assert sampler.temperature == pytest.approx(
            sampler.noise_stds[-1] ** 2 / (2 * sampler.step_sizes[-1])
        )


# -- one step of the sampler, against the formula -------------------------------------------------


@pytest.mark.parametrize(
    ("noise", "noise_scale", "sigma"),
    [("independent", 0.3, 0.3), ("coupled", 0.5, 0.5 * math.sqrt(2 * 0.2))],
)
@pytest.mark.parametrize(("grad_clip", "clamp"), [(0.0, False), (0.25, True)])
def test_one_step_follows_the_formula(
    noise: str, noise_scale: float, sigma: float, grad_clip: float, clamp: bool
) -> None:
    spec = DataSpec((2,), -1.0, 1.0)
    energy = Quadratic(spec, centre=0.5, scale=3.0)
    sampler = LangevinSampler(
        spec, steps=1, step_size=0.2, noise=noise, noise_scale=noise_scale,
        grad_clip=grad_clip, clamp=clamp,
    )  # fmt: skip
    start = torch.tensor([[0.9, -0.8], [0.0, 0.2], [-1.0, 1.0]])
    moved = sampler.refine(start, energy, seeded(5))

    xi = torch.randn(start.shape, generator=seeded(5))
    grad = 3.0 * (start - 0.5)
    if grad_clip:
        grad = grad.clamp(-grad_clip, grad_clip)
    expected = start - 0.2 * grad + sigma * xi
    if clamp:
        expected = expected.clamp(-1.0, 1.0)
    torch.testing.assert_close(moved, expected)
    metrics = sampler.metrics()
    grad_norms = torch.linalg.vector_norm(3.0 * (start - 0.5), dim=1)
    torch.testing.assert_close(metrics["grad_norm"], grad_norms.mean())
    distances = torch.linalg.vector_norm(expected - start, dim=1)
    torch.testing.assert_close(metrics["step_distance"], distances.mean())
    assert metrics["temperature"] == pytest.approx(sigma**2 / 0.4)
    assert "acceptance_rate" not in metrics


def test_uniform_and_gaussian_starts() -> None:
    spec = DataSpec((3,), -2.0, 6.0)
    uniform = LangevinSampler(spec, steps=0).sample(20000, Quadratic(spec), seeded(0))
    assert spec.low <= uniform.min() and uniform.max() <= spec.high
    assert uniform.mean().item() == pytest.approx(2.0, abs=0.05)
    assert uniform.var().item() == pytest.approx(64 / 12, rel=0.03)
    torch.testing.assert_close(uniform, torch.rand(20000, 3, generator=seeded(0)) * 8 - 2)
    gaussian = LangevinSampler(spec, steps=0, init="gaussian", clamp=False)
    start = gaussian.sample(20000, Quadratic(spec), seeded(0))
    assert start.mean().item() == pytest.approx(2.0, abs=0.05)
    assert start.std().item() == pytest.approx(2.0, rel=0.03)  # (high − low)/4
    clamped = LangevinSampler(spec, steps=0, init="gaussian").sample(
        500, Quadratic(spec), seeded(0)
    )
    assert spec.low <= clamped.min() and clamped.max() <= spec.high


# -- options and metrics -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"init": "zeros"}, "init must be one of uniform, gaussian, not 'zeros'"),
        ({"noise": "white"}, "noise must be one of independent, coupled"),
        ({"anneal": "cosine"}, "anneal must be one of none, linear, geometric"),
        ({"anneal_target": "clip"}, "anneal_target must be one of noise, step_size"),
        ({"step_size": 0.0}, "step_size must be a finite number > 0"),
        ({"anneal_final": 0.0}, "anneal_final must be a finite number > 0"),
        ({"steps": -1}, "steps must be a whole number >= 0"),
        ({"noise_scale": -0.1}, "noise_scale must be a finite number >= 0"),
        ({"grad_clip": float("nan")}, "grad_clip must be a finite number >= 0"),
        ({"mala": True, "noise_scale": 0.0}, "mala needs noise"),
    ],
)
def test_invalid_options_are_errors(options: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        LangevinSampler(TOY, **options)


def test_the_command_line_reports_a_bad_option_in_one_line(ebkit_plugins, ebkit_cli, tmp_path):
    plugin = module_plugin(
        "langevin-test",
        ebkit_energies=lambda: [Component(name="quadratic", summary="½‖x‖²", factory=Quadratic)],
    )
    ebkit_plugins({"langevin-test": plugin})
    base = ["train", "--energy", "quadratic", "--sampler", "langevin", "--loss", "cd"]
    for override, expected in (
        ("sampler.step_size=0", "step_size must be a finite number > 0"),
        ("sampler.noise=pink", "sampler.noise"),
    ):
        result = ebkit_cli(*base, "--out", str(tmp_path / "run"), "-o", override)
        assert result.exit_code == 2, result.output
        assert expected in result.stderr and result.stderr.count("\n") == 1
        assert "Traceback" not in result.output


def test_metrics_of_a_call_without_steps() -> None:
    sampler = LangevinSampler(TOY, steps=0, noise="independent")
    assert sampler.metrics() == {"temperature": pytest.approx(0.005**2 / 20)}
    sampler.sample(3, Quadratic(), seeded(0))
    assert set(sampler.metrics()) == {"temperature"}


def test_metrics_are_detached_scalars() -> None:
    sampler = LangevinSampler(TOY, steps=3, mala=True)
    sampler.sample(4, Quadratic(), seeded(0))
    metrics = sampler.metrics()
    assert set(metrics) == {"temperature", "grad_norm", "step_distance", "acceptance_rate"}
    for value in metrics.values():
        assert isinstance(value, float) or (value.ndim == 0 and not value.requires_grad)
    assert sampler.start_energy is not None and sampler.start_energy.shape == (4,)


def test_option_help_mentions_both_conventions() -> None:
    options = {option.name: option for option in LANGEVIN.options}
    assert isinstance(options["noise_scale"], Option) and options["noise_scale"].default is None
    assert "0.005" in options["noise_scale"].help and "coupled" in options["noise_scale"].help


def test_diagnostics_observe_a_few_evenly_spread_steps() -> None:
    from ebkit.builtins.samplers.langevin import DIAGNOSTIC_STEPS, diagnostic_steps

    assert diagnostic_steps(3) == {0, 1, 2}
    assert diagnostic_steps(60) == {0, 15, 30, 44, 59}  # round(i · 59 / 4)
    assert len(diagnostic_steps(1000)) == DIAGNOSTIC_STEPS
    sampler = LangevinSampler(TOY, steps=60, noise_scale=0.0)
    start = torch.zeros(4, 2)
    sampler.refine(start, Quadratic(), seeded(0))
    assert len(sampler._diagnostics["grad_norm"]) == DIAGNOSTIC_STEPS
