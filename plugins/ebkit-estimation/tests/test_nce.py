"""The NCE formula against hand-computed values and gradcheck, its noise distributions,
and the ``nce`` loss against ebkit's conformance kit."""

from __future__ import annotations

import math

import pytest
import torch

from ebkit import DataSpec
from ebkit.testing import check_loss
from ebkit_estimation import ebkit_losses
from ebkit_estimation.nce import (
    STD_FLOOR,
    NoiseContrastiveEstimation,
    gaussian_log_density,
    nce_loss,
    nce_sampler_loss,
    uniform_log_density,
)

NCE = next(component for component in ebkit_losses() if component.name == "nce")
SPEC = DataSpec((2,), -4.0, 4.0)


def softplus(t: float) -> float:
    return math.log1p(math.exp(t))


def test_nce_by_hand() -> None:
    # ν = 2, c = 0.5. Data x: E = 1, log q = −2 -> G = −1 − 0.5 + 2 − log 2 = 0.5 − log 2.
    # Noise y₁: E = 3, log q = −1 -> G = −3 − 0.5 + 1 − log 2 = −2.5 − log 2;
    # noise y₂: E = 0, log q = −4 -> G = 0 − 0.5 + 4 − log 2 = 3.5 − log 2.
    # L = softplus(−G(x)) + 2·mean(softplus(G(y₁)), softplus(G(y₂))).
    log2 = math.log(2)
    expected = softplus(-(0.5 - log2)) + 2 * 0.5 * (softplus(-2.5 - log2) + softplus(3.5 - log2))
    loss = nce_loss(
        torch.tensor([1.0]),
        torch.tensor([3.0, 0.0]),
        torch.tensor(0.5),
        torch.tensor([-2.0]),
        torch.tensor([-1.0, -4.0]),
        noise_ratio=2,
    )
    assert math.isclose(loss.item(), expected, rel_tol=1e-6)


def test_nce_is_minimal_when_the_model_is_the_data_density() -> None:
    # With one point class each, the optimum of the logistic loss in the logit offset is
    # where −E − c equals log p_data: shifting c either way raises the population loss.
    # Data ~ N(0, 1) and noise q = N(0, 2²) in 1-D; E(u) = u²/2, so c* = log √(2π).
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(20000, 1, generator=generator)
    y = 2 * torch.randn(20000, 1, generator=generator)
    mean, std = torch.zeros(1), torch.full((1,), 2.0)

    def population(c: float) -> float:
        return nce_loss(
            0.5 * x.square().sum(1),
            0.5 * y.square().sum(1),
            torch.tensor(c),
            gaussian_log_density(x, mean, std),
            gaussian_log_density(y, mean, std),
        ).item()

    best = 0.5 * math.log(2 * math.pi)
    assert population(best) < population(best - 0.3)
    assert population(best) < population(best + 0.3)


def test_gaussian_and_uniform_log_densities() -> None:
    x = torch.tensor([[1.0, -1.0]])
    # N(1, 1) at 1 and N(0, 2²) at −1: −½log 2π + (−½·¼ − log 2 − ½log 2π).
    expected = -math.log(2 * math.pi) - 0.125 - math.log(2)
    value = gaussian_log_density(x, torch.tensor([1.0, 0.0]), torch.tensor([1.0, 2.0]))
    assert math.isclose(value.item(), expected, rel_tol=1e-6)
    assert math.isclose(uniform_log_density(SPEC), -2 * math.log(8.0))


def test_gradcheck_of_nce() -> None:
    generator = torch.Generator().manual_seed(2)
    real = torch.randn(4, generator=generator, dtype=torch.float64, requires_grad=True)
    noise = torch.randn(8, generator=generator, dtype=torch.float64, requires_grad=True)
    c = torch.tensor(0.3, dtype=torch.float64, requires_grad=True)
    real_q = torch.randn(4, generator=generator, dtype=torch.float64)
    noise_q = torch.randn(8, generator=generator, dtype=torch.float64)
    assert torch.autograd.gradcheck(
        lambda r, n, c: nce_loss(r, n, c, real_q, noise_q, noise_ratio=2), (real, noise, c)
    )
    assert torch.autograd.gradcheck(lambda n, c: nce_sampler_loss(n, c), (noise, c))


@pytest.mark.parametrize(
    "options",
    [{}, {"noise": "uniform", "noise_ratio": 3}, {"noise": "sampler", "log_partition": 1.0}],
    ids=["gaussian", "uniform", "sampler"],
)
def test_nce_passes_the_conformance_kit(options) -> None:
    check_loss(NCE, SPEC, **options)
    check_loss(NCE, **options)


def test_the_gaussian_noise_is_fitted_once_to_the_first_batch() -> None:
    loss = NoiseContrastiveEstimation(SPEC)
    first = torch.tensor([[0.0, 1.0], [2.0, 1.0], [4.0, 1.0]])
    loss.fit_noise(first)
    assert torch.allclose(loss.noise_mean, torch.tensor([2.0, 1.0]))
    assert torch.allclose(loss.noise_std, torch.tensor([2.0, STD_FLOOR]))  # constant: floored
    loss.fit_noise(torch.zeros(3, 2))  # later batches change nothing
    assert torch.allclose(loss.noise_mean, torch.tensor([2.0, 1.0]))
    clone = NoiseContrastiveEstimation(SPEC)
    clone.load_state_dict(loss.state_dict())  # checkpoints keep q
    assert torch.equal(clone.noise_std, loss.noise_std) and bool(clone.noise_fitted)
    noise = loss.draw_noise(4000, torch.Generator().manual_seed(0))
    assert torch.allclose(noise.mean(0), torch.tensor([2.0, 1.0]), atol=0.1)


def test_uniform_noise_covers_the_data_range() -> None:
    loss = NoiseContrastiveEstimation(SPEC, noise="uniform")
    noise = loss.draw_noise(4000, torch.Generator().manual_seed(0))
    assert noise.min() >= -4.0 and noise.max() <= 4.0
    assert noise.min() < -3.9 and noise.max() > 3.9


def test_only_noise_sampler_takes_contrastive_samples() -> None:
    assert not NoiseContrastiveEstimation(SPEC).needs_contrastive
    assert NoiseContrastiveEstimation(SPEC, noise="sampler").needs_contrastive
    with pytest.raises(NotImplementedError):
        NoiseContrastiveEstimation(SPEC).sampler_loss(None)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"noise": "laplace"}, "noise must be one of"),
        ({"noise_ratio": 0}, "noise_ratio"),
        ({"noise": "sampler", "noise_ratio": 2}, "noise_ratio 2 needs noise drawn by the loss"),
        ({"log_partition": math.inf}, "log_partition"),
    ],
)
def test_invalid_options_are_refused(options, message) -> None:
    with pytest.raises(ValueError, match=message):
        NoiseContrastiveEstimation(SPEC, **options)
