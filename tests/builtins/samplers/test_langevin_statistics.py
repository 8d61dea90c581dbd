"""Statistical test of the langevin sampler on a 2-D Gaussian energy.

For E(x) = ½(x − μ)ᵀA(x − μ) the unadjusted chain x' = x − ηA(x − μ) + σξ is a linear
Gaussian (AR(1)) process. Its stationary law is N(μ, Σ) where Σ solves the discrete
Lyapunov equation Σ = BΣBᵀ + σ²I, B = I − ηA (solved exactly here by vectorisation:
(I − B⊗B)·vec Σ = σ²·vec I). The continuous Langevin target exp(−E/T), T = σ²/(2η), has
covariance T·A⁻¹ instead; the two differ by O(η). Many independent chains run to
stationarity must match the discretised values within Monte-Carlo error, for both noise
conventions; at a large step they must be far from the continuous target, unless the
Metropolis correction (MALA) is on, which makes the continuous target exact.

Monte-Carlo errors: the chains are independent, so the sample mean of coordinate i has
standard error √(Σᵢᵢ/N) and the sample covariance Σ̂ᵢⱼ of a Gaussian has standard error
√((ΣᵢᵢΣⱼⱼ + Σᵢⱼ²)/N). Tolerances are 5 standard errors (a false alarm about once in
1.7 million per entry); "far" means more than 25.
"""

from __future__ import annotations

import pytest
import torch

from ebkit import EnergyFunction, EnergyOutput
from ebkit.builtins.samplers.langevin import LangevinSampler
from ebkit.core.interfaces import DataSpec

SPEC = DataSpec((2,), -4.0, 4.0)
MEAN = torch.tensor([0.5, -1.0], dtype=torch.float64)
PRECISION = torch.tensor([[2.0, 0.6], [0.6, 1.0]], dtype=torch.float64)  # A, eigenvalues 2.28, 0.72
CHAINS = 20000
TOLERANCE = 5.0
FAR = 25.0


class GaussianEnergy(EnergyFunction):
    """E(x) = ½(x − μ)ᵀA(x − μ), ``(B, 2) -> (B,)``, in float64."""

    def __init__(self) -> None:
        super().__init__(SPEC)
        self.register_buffer("mean", MEAN.clone())
        self.register_buffer("precision", PRECISION.clone())

    def forward(self, x: torch.Tensor) -> EnergyOutput:
        centred = x - self.mean
        return EnergyOutput(0.5 * ((centred @ self.precision) * centred).sum(1))


def discretised_covariance(step_size: float, noise_std: float) -> torch.Tensor:
    """Σ solving Σ = BΣBᵀ + σ²I with B = I − ηA, via (I − B⊗B)·vec Σ = σ²·vec I."""
    identity = torch.eye(2, dtype=torch.float64)
    transition = identity - step_size * PRECISION
    system = torch.eye(4, dtype=torch.float64) - torch.kron(transition, transition)
    solution = torch.linalg.solve(system, noise_std**2 * identity.reshape(4))
    return solution.reshape(2, 2)


def continuous_covariance(step_size: float, noise_std: float) -> torch.Tensor:
    """T·A⁻¹ with T = σ²/(2η): the covariance of exp(−E/T)."""
    return noise_std**2 / (2 * step_size) * torch.linalg.inv(PRECISION)


def run_chains(steps: int, seed: int = 0, **options) -> tuple[torch.Tensor, LangevinSampler]:
    sampler = LangevinSampler(SPEC, steps=steps, grad_clip=0.0, clamp=False, **options)
    samples = sampler.sample(CHAINS, GaussianEnergy(), torch.Generator().manual_seed(seed))
    assert samples.dtype == torch.float64
    return samples, sampler


def standard_errors(covariance: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Standard errors of the sample mean and sample covariance of N independent draws."""
    variances = torch.diagonal(covariance)
    mean_error = (variances / CHAINS).sqrt()
    covariance_error = ((torch.outer(variances, variances) + covariance**2) / CHAINS).sqrt()
    return mean_error, covariance_error


def deviations(samples: torch.Tensor, covariance: torch.Tensor) -> tuple[float, float]:
    """The largest |sample − exact| / standard error over the mean's and the covariance's
    entries, with N(μ, covariance) as the exact law."""
    mean_error, covariance_error = standard_errors(covariance)
    sample_mean = samples.mean(0)
    sample_covariance = torch.cov(samples.T)
    mean_z = ((sample_mean - MEAN).abs() / mean_error).max().item()
    covariance_z = ((sample_covariance - covariance).abs() / covariance_error).max().item()
    return mean_z, covariance_z


def test_the_lyapunov_solution_is_a_fixed_point_and_tends_to_the_continuous_target() -> None:
    covariance = discretised_covariance(0.3, 0.5)
    transition = torch.eye(2, dtype=torch.float64) - 0.3 * PRECISION
    fixed = transition @ covariance @ transition.T + 0.25 * torch.eye(2, dtype=torch.float64)
    torch.testing.assert_close(fixed, covariance)
    # η → 0 at a fixed temperature: the discretisation bias vanishes.
    small = 1e-4
    torch.testing.assert_close(
        discretised_covariance(small, (2 * small) ** 0.5),
        continuous_covariance(small, (2 * small) ** 0.5),
        rtol=1e-3,
        atol=0,
    )


# Enough steps to mix: the slowest mode of B = I − ηA contracts by |1 − η·0.72| per step
# (0.928 at η = 0.1, 0.64 at η = 0.5), so the start's mean is forgotten to 3e-5 and its
# covariance to 1e-9 or better within these step counts.
CASES = [
    # noise convention, η, noise_scale, σ, steps
    pytest.param("independent", 0.1, 0.3, 0.3, 140, id="independent-small-step"),
    pytest.param("coupled", 0.1, 1.0, (2 * 0.1) ** 0.5, 140, id="coupled-small-step"),
    pytest.param("independent", 0.5, 0.4, 0.4, 60, id="independent-large-step"),
    pytest.param("coupled", 0.5, 1.0, 1.0, 60, id="coupled-large-step"),
]


@pytest.mark.parametrize(("noise", "step_size", "noise_scale", "sigma", "steps"), CASES)
def test_the_chain_matches_the_discretised_gaussian(
    noise: str, step_size: float, noise_scale: float, sigma: float, steps: int
) -> None:
    samples, sampler = run_chains(steps, step_size=step_size, noise=noise, noise_scale=noise_scale)
    assert sampler.noise_stds[0] == pytest.approx(sigma)
    assert sampler.temperature == pytest.approx(sigma**2 / (2 * step_size))
    mean_z, covariance_z = deviations(samples, discretised_covariance(step_size, sigma))
    assert mean_z < TOLERANCE, f"sample mean is {mean_z:.1f} standard errors off"
    assert covariance_z < TOLERANCE, f"sample covariance is {covariance_z:.1f} SE off"


@pytest.mark.parametrize("noise", ["independent", "coupled"])
def test_a_large_step_misses_the_continuous_target(noise: str) -> None:
    # η = 0.5: η·λ_max = 1.14, so the discretised variances are up to 1/(1 − ηλ/2) = 2.3
    # times the continuous ones, and the chain must follow the discretised ones.
    sigma = 0.4 if noise == "independent" else 1.0
    samples, _ = run_chains(60, step_size=0.5, noise=noise, noise_scale=sigma)
    _, off_target = deviations(samples, continuous_covariance(0.5, sigma))
    assert off_target > FAR, f"only {off_target:.1f} SE from the continuous target"


@pytest.mark.parametrize("grad_clip", [0.0, 0.5])
def test_mala_samples_the_continuous_target_at_a_large_step(grad_clip: float) -> None:
    # Coupled, s = 1: the target is exp(−E), covariance A⁻¹. A clipped drift changes the
    # proposal but, used both ways in the acceptance ratio, keeps the target exact.
    sampler = LangevinSampler(
        SPEC, steps=100, step_size=0.5, noise="coupled", noise_scale=1.0, grad_clip=grad_clip,
        clamp=False, mala=True,
    )  # fmt: skip
    samples = sampler.sample(CHAINS, GaussianEnergy(), torch.Generator().manual_seed(1))
    rate = float(sampler.metrics()["acceptance_rate"])
    assert 0.0 < rate < 1.0
    target = continuous_covariance(0.5, 1.0)
    mean_z, covariance_z = deviations(samples, target)
    assert mean_z < TOLERANCE and covariance_z < TOLERANCE, (mean_z, covariance_z)
    _, off_discretised = deviations(samples, discretised_covariance(0.5, 1.0))
    assert off_discretised > FAR
