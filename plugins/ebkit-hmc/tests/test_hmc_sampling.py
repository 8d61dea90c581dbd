"""The hmc sampler samples what it should: it leaves a 2-D Gaussian invariant (and at
temperature T its T-scaled version), visits both modes of a bimodal target, adapts its
step size towards the target acceptance in training mode only, and passes ebkit's
conformance checks."""

from __future__ import annotations

import math
import subprocess
import sys

import pytest
import torch

import ebkit_hmc
from ebkit import DataSpec, EnergyFunction, EnergyOutput
from ebkit.testing import check_conditional_sampler, check_option_round_trip, check_sampler
from ebkit_hmc.dynamics import leapfrog
from ebkit_hmc.sampler import VECTOR_TEMPERATURE, HMCSampler

MEAN = torch.tensor([0.5, -0.3], dtype=torch.float64)
COVARIANCE = torch.tensor([[1.0, 0.6], [0.6, 0.5]], dtype=torch.float64)
PRECISION = torch.linalg.inv(COVARIANCE)
WIDE = DataSpec((2,), -10.0, 10.0)
CHAINS = 4000


@pytest.fixture(autouse=True)
def one_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def component():
    (record,) = ebkit_hmc.ebkit_samplers()
    return record


class Gaussian(EnergyFunction):
    """E(x) = ½(x − μ)ᵀ Σ⁻¹ (x − μ), in float64 (one parameter, unused, fixes the dtype)."""

    def __init__(self, spec: DataSpec = WIDE) -> None:
        super().__init__(spec)
        self.unused = torch.nn.Parameter(torch.zeros((), dtype=torch.float64))

    def forward(self, x: torch.Tensor) -> EnergyOutput:
        centred = x - MEAN
        return EnergyOutput(0.5 * ((centred @ PRECISION) * centred).sum(1))


class TwoWells(EnergyFunction):
    """E(x) = −log Σ_k exp(−‖x − c_k‖²/(2s²)): two equal Gaussian wells at (±1.2, 0)
    with s = 0.45, separated by a barrier of about 2.9 (at T = 1)."""

    centres = torch.tensor([[-1.2, 0.0], [1.2, 0.0]])

    def forward(self, x: torch.Tensor) -> EnergyOutput:
        squared = (x[:, None, :] - self.centres).square().sum(-1)
        return EnergyOutput(-torch.logsumexp(-squared / (2 * 0.45**2), dim=1))


def exact_samples(n: int, generator: torch.Generator) -> torch.Tensor:
    noise = torch.randn(n, 2, generator=generator, dtype=torch.float64)
    return MEAN + noise @ torch.linalg.cholesky(COVARIANCE).T


def largest_z_scores(x: torch.Tensor, covariance: torch.Tensor) -> tuple[float, float]:
    """max |z| of the sample mean and of the sample covariance against (μ, C): standard
    errors √(C_ii/n) and √((C_ii·C_jj + C_ij²)/n) (the variance of a Gaussian sample
    covariance)."""
    n = x.shape[0]
    variances = covariance.diag()
    mean_error = (variances / n).sqrt()
    covariance_error = ((variances[:, None] * variances[None, :] + covariance**2) / n).sqrt()
    mean_z = ((x.mean(0) - MEAN) / mean_error).abs().max().item()
    covariance_z = ((torch.cov(x.T) - covariance) / covariance_error).abs().max().item()
    return mean_z, covariance_z


@pytest.mark.parametrize("temperature", [1.0, 0.5])
def test_hmc_leaves_a_gaussian_invariant(temperature: float) -> None:
    """Chains started from exact samples of exp(−E/T) (covariance T·Σ) are still exact
    samples after 10 transitions at a step size where the uncorrected dynamics is not
    (the next test): mean and covariance within 4 standard errors over 4000 chains."""
    generator = torch.Generator().manual_seed(0)
    target = temperature * COVARIANCE
    start = MEAN + (exact_samples(CHAINS, generator) - MEAN) * math.sqrt(temperature)
    sampler = HMCSampler(
        WIDE, steps=10, leapfrog_steps=5, step_size=0.5 * math.sqrt(temperature),
        temperature=temperature, adapt=False,
    )  # fmt: skip
    end = sampler.refine(start, Gaussian(), generator)
    metrics = sampler.metrics()
    acceptance = float(metrics["acceptance_rate"])
    print(f"T = {temperature}: acceptance rate {acceptance:.3f}")  # reported with -s
    assert 0.5 < acceptance < 1.0  # the correction is at work, and the chains move
    assert float(metrics["step_distance"]) > 0.5 * math.sqrt(temperature)
    assert largest_z_scores(end, target) < (4.0, 4.0)


def test_without_the_metropolis_correction_the_same_dynamics_is_biased() -> None:
    """The control that gives the invariance test its power: the same leapfrog
    trajectories, always accepted, put the covariance more than 4 standard errors off."""
    generator = torch.Generator().manual_seed(0)
    x = exact_samples(CHAINS, generator)
    energy = Gaussian()

    def potential_and_grad(point: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        centred = point - MEAN
        return energy(point).energy, centred @ PRECISION

    for _ in range(10):
        momentum = torch.randn(x.shape, generator=generator, dtype=x.dtype)
        x, _, _, _ = leapfrog(
            x, momentum, potential_and_grad(x)[1], potential_and_grad,
            step_size=0.5, steps=5, mass=1.0,
        )  # fmt: skip
    assert largest_z_scores(x, COVARIANCE)[1] > 4.0


def test_hmc_visits_both_modes_of_a_bimodal_target() -> None:
    """All chains start in the left well; after 80 transitions about half are in the
    right one (the target's share is one half), centred on its mode."""
    spec = DataSpec((2,), -4.0, 4.0)
    generator = torch.Generator().manual_seed(1)
    start = TwoWells.centres[0] + 0.45 * torch.randn(500, 2, generator=generator)
    sampler = HMCSampler(
        spec, steps=80, leapfrog_steps=4, step_size=0.35, temperature=1.0, adapt=False
    )
    end = sampler.refine(start, TwoWells(spec), generator)
    right = end[:, 0] > 0
    print(f"right-well share {right.float().mean():.3f}, acceptance rate "
          f"{float(sampler.metrics()['acceptance_rate']):.3f}")  # fmt: skip
    assert 0.3 < right.float().mean() < 0.7
    assert abs(end[right, 0].mean() - 1.2) < 0.1 and abs(end[~right, 0].mean() + 1.2) < 0.1


def test_the_step_size_adapts_towards_the_target_acceptance_in_training_only() -> None:
    generator = torch.Generator().manual_seed(2)
    sampler = HMCSampler(WIDE, steps=10, leapfrog_steps=3, step_size=0.01, temperature=1.0)
    chains = exact_samples(400, generator)
    for _ in range(6):
        chains = sampler.refine(chains, Gaussian(), generator)
    assert int(sampler.adapt_iteration) == 60
    assert sampler.step_size > 0.2  # from 0.01: nearly every proposal was accepted
    assert 0.5 < float(sampler.metrics()["acceptance_rate"]) < 0.85  # δ = 0.65
    adapted = sampler.log_step_size.clone()
    sampler.eval()
    sampler.refine(chains, Gaussian(), generator)
    assert torch.equal(sampler.log_step_size, adapted)  # eval mode samples, never adapts
    fixed = HMCSampler(WIDE, steps=10, step_size=0.01, temperature=1.0, adapt=False)
    fixed.refine(chains, Gaussian(), generator)
    assert fixed.step_size == pytest.approx(0.01)
    clone = HMCSampler(WIDE, steps=10, leapfrog_steps=3, step_size=0.01, temperature=1.0)
    clone.load_state_dict(sampler.state_dict())  # a resumed run continues with ε
    assert clone.step_size == sampler.step_size


def test_defaults_and_diagnostics() -> None:
    sampler = HMCSampler(DataSpec((2,), -4.0, 4.0))
    assert (sampler.steps, sampler.leapfrog_steps) == (15, 4)
    assert sampler.step_size == pytest.approx(0.005)
    assert sampler.temperature == VECTOR_TEMPERATURE == 0.0025
    assert HMCSampler(DataSpec((1, 4, 4))).temperature == pytest.approx(1.25e-6)
    energy = TwoWells(DataSpec((2,), -4.0, 4.0))
    samples = sampler.sample(8, energy, torch.Generator().manual_seed(0))
    assert samples.shape == (8, 2) and samples.abs().max() <= 4.0
    assert set(sampler.metrics()) == {
        "acceptance_rate", "step_size", "step_distance", "energy_error", "temperature"
    }  # fmt: skip
    assert sampler.start_energy.shape == (8,)
    unmoved = HMCSampler(DataSpec((2,), -4.0, 4.0), steps=0)
    start = torch.zeros(3, 2)
    assert torch.equal(unmoved.refine(start, energy, torch.Generator()), start)


def test_conforms() -> None:
    check_option_round_trip(component())
    check_sampler(component(), steps=2, leapfrog_steps=2)  # 2-D toy and 8×8 images
    check_sampler(component(), DataSpec((2,)), steps=3, adapt=False, init="gaussian")
    # at T = 1: at the image default T ≈ 10⁻⁶ a first step of 0.005 overshoots the box and
    # every proposal is rejected until the adaptation shortens it
    check_conditional_sampler(component(), steps=2, leapfrog_steps=2, temperature=1.0)


def test_the_record_matches_the_class() -> None:
    import inspect

    declared = {option.name: option.default for option in component().options}
    keywords = inspect.signature(HMCSampler).parameters
    assert declared == {name: keywords[name].default for name in list(keywords)[1:]}


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"leapfrog_steps": 0}, "leapfrog_steps"),
        ({"step_size": 0.0}, "step_size"),
        ({"mass": -1.0}, "mass"),
        ({"temperature": math.inf}, "temperature"),
        ({"target_acceptance": 1.0}, "target_acceptance"),
        ({"init": "zeros"}, "init"),
    ],
)
def test_invalid_options_are_errors(options: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        HMCSampler(WIDE, **options)


def test_listing_the_plugin_does_not_import_torch() -> None:
    code = "import sys, ebkit_hmc; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_the_adaptation_uses_the_acceptance_of_every_rank(monkeypatch) -> None:
    """In a data-parallel run each rank adapts ε with the ranks' mean acceptance
    (ebkit.all_reduce_mean), so all keep the same ε: here the other ranks accept nothing."""
    import ebkit_hmc.sampler as module

    seen = []

    def everyone_rejects(local: torch.Tensor) -> torch.Tensor:
        seen.append(float(local))
        return torch.zeros_like(local)

    monkeypatch.setattr(module, "all_reduce_mean", everyone_rejects)
    sampler = HMCSampler(WIDE, steps=3, leapfrog_steps=2, step_size=0.1, temperature=1.0)
    sampler.refine(
        exact_samples(50, torch.Generator().manual_seed(3)), Gaussian(), torch.Generator()
    )
    assert len(seen) == 3 and min(seen) > 0.5  # this rank accepted most proposals...
    assert sampler.step_size < 0.1  # ...but ε shrank, as the ranks' mean acceptance is 0
