"""The score matching formulas against hand-computed values and gradcheck, and the
``dsm`` and ``ssm`` losses against ebkit's conformance kit."""

from __future__ import annotations

import math

import pytest
import torch

from ebkit import DataSpec
from ebkit.testing import check_loss
from ebkit_estimation import ebkit_losses
from ebkit_estimation.score_matching import (
    DenoisingScoreMatching,
    SlicedScoreMatching,
    dsm_loss,
    score,
    ssm_loss,
)

RECORDS = {component.name: component for component in ebkit_losses()}


def quadratic(a: float | torch.Tensor):
    """E(x) = ½·a·‖x‖², whose score is s(x) = −a·x and Hessian of E is a·I."""
    return lambda x: 0.5 * a * x.flatten(1).square().sum(dim=1)


def test_the_score_is_minus_the_energy_gradient() -> None:
    x = torch.tensor([[1.0, -2.0], [0.5, 0.0]], requires_grad=True)
    assert torch.allclose(score(quadratic(3.0), x), -3.0 * x.detach())


def test_dsm_on_a_quadratic_energy_by_hand() -> None:
    # x̃ = x + σε; σ·s(x̃) + ε = −σ·a·x̃ + ε.
    # Sample 1: x = (1, 0), ε = (0.5, −1), σ = 0.2: x̃ = (1.1, −0.2),
    #   −0.2·2·(1.1, −0.2) + (0.5, −1) = (−0.44 + 0.5, 0.08 − 1) = (0.06, −0.92),
    #   ½·(0.0036 + 0.8464) = 0.425.
    # Sample 2: x = (0, 2), ε = (1, 0), σ = 0.5: x̃ = (0.5, 2),
    #   −0.5·2·(0.5, 2) + (1, 0) = (0.5, −2), ½·(0.25 + 4) = 2.125.
    x = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    noise = torch.tensor([[0.5, -1.0], [1.0, 0.0]])
    sigma = torch.tensor([0.2, 0.5])
    loss = dsm_loss(quadratic(2.0), x, sigma, noise)
    assert torch.isclose(loss, torch.tensor((0.425 + 2.125) / 2))


def test_dsm_is_zero_for_the_score_of_the_smoothed_data() -> None:
    # Data at one point 0 smoothed by N(0, σ²I) has score −x̃/σ², the quadratic with
    # a = 1/σ²: then σ·s(x̃) + ε = −(σε)/σ + ε = 0 for every ε.
    sigma = 0.3
    noise = torch.randn(5, 3, generator=torch.Generator().manual_seed(0))
    loss = dsm_loss(quadratic(1 / sigma**2), torch.zeros(5, 3), torch.full((5,), sigma), noise)
    assert loss.abs() < 1e-10


def test_ssm_on_a_quadratic_energy_by_hand() -> None:
    # s = −a·x, vᵀ∇ₓs v = −a‖v‖². a = 2, x = (1, 2), v = (1, −1):
    #   trace term −2·2 = −4; vᵀs = −2·(1 − 2) = 2, ½(vᵀs)² = 2; ½‖s‖² = ½·4·5 = 10.
    x = torch.tensor([[1.0, 2.0]])
    v = torch.tensor([[[1.0, -1.0]]])
    assert torch.isclose(ssm_loss(quadratic(2.0), x, v, variance_reduced=False), torch.tensor(-2.0))
    assert torch.isclose(ssm_loss(quadratic(2.0), x, v, variance_reduced=True), torch.tensor(6.0))


def test_ssm_averages_projections_and_samples() -> None:
    # Two projections of one sample: v₁ = (1, 0) gives −2 + ½·(−2)² = 0; v₂ = (0, 2) gives
    # −2·4 + ½·(−2·2·2)² = −8 + 32 = 24 (x = (1, 2), a = 2, s = (−2, −4)); mean 12.
    x = torch.tensor([[1.0, 2.0]])
    v = torch.tensor([[[1.0, 0.0]], [[0.0, 2.0]]])
    assert torch.isclose(ssm_loss(quadratic(2.0), x, v, variance_reduced=False), torch.tensor(12.0))


def test_ssm_in_expectation_is_hyvarinen_score_matching() -> None:
    # For E = ½xᵀAx: tr ∇ₓs = −tr A, ½‖s‖² = ½‖Ax‖². Rademacher v average out exactly
    # over all 2^d sign patterns.
    a = torch.tensor([[2.0, 0.5], [0.5, 1.0]])
    energy = lambda x: 0.5 * torch.einsum("bi,ij,bj->b", x, a, x)  # noqa: E731
    x = torch.tensor([[1.0, -1.0]])
    signs = torch.tensor([[[1.0, 1.0]], [[1.0, -1.0]], [[-1.0, 1.0]], [[-1.0, -1.0]]])
    expected = -a.trace() + 0.5 * (x @ a).square().sum()
    assert torch.isclose(ssm_loss(energy, x, signs, variance_reduced=False), expected)
    assert torch.isclose(ssm_loss(energy, x, signs, variance_reduced=True), expected)


def test_gradcheck_of_dsm_and_ssm() -> None:
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(3, 2, generator=generator, dtype=torch.float64)
    noise = torch.randn(3, 2, generator=generator, dtype=torch.float64)
    v = torch.randn(2, 3, 2, generator=generator, dtype=torch.float64)
    sigma = torch.tensor([0.1, 0.5, 1.0], dtype=torch.float64)
    w = torch.randn(2, 4, generator=generator, dtype=torch.float64, requires_grad=True)

    def energy_of(weights):  # a smooth non-quadratic energy: Σ softplus(x W)
        return lambda points: torch.nn.functional.softplus(points @ weights).sum(dim=1)

    assert torch.autograd.gradcheck(lambda w: dsm_loss(energy_of(w), x, sigma, noise), (w,))
    for reduced in (False, True):
        assert torch.autograd.gradcheck(
            lambda w, r=reduced: ssm_loss(energy_of(w), x, v, variance_reduced=r), (w,)
        )


@pytest.mark.parametrize("options", [{}, {"sigmas": [0.05, 0.5]}], ids=["one-level", "two-levels"])
def test_dsm_passes_the_conformance_kit(options) -> None:
    check_loss(RECORDS["dsm"], **options)
    check_loss(RECORDS["dsm"], DataSpec((2,), -4.0, 4.0), **options)


@pytest.mark.parametrize(
    "options",
    [{}, {"projections": 2, "projection": "rademacher", "variance_reduced": False}],
    ids=["default", "rademacher"],
)
def test_ssm_passes_the_conformance_kit(options) -> None:
    check_loss(RECORDS["ssm"], DataSpec((2,), -4.0, 4.0), **options)
    check_loss(RECORDS["ssm"], **options)


def test_noise_levels_are_drawn_per_sample() -> None:
    loss = DenoisingScoreMatching(DataSpec((2,)), sigmas=[0.1, 1.0])
    generator = torch.Generator().manual_seed(0)
    x = torch.zeros(400, 2)
    # With a = 1, σ·s(x̃) + ε = (1 − σ²)ε, so the loss is ½·mean (1 − σ²)²‖ε‖²:
    # level 1.0 contributes 0, level 0.1 ½·0.99²·2, so about half of 0.98 on average.
    value, metrics = loss.objective(quadratic(1.0), x, generator)
    assert math.isclose(value.item(), 0.5 * 0.99**2 * 2 / 2, rel_tol=0.15)
    assert "score_norm" in metrics


def test_rademacher_projections_are_signs() -> None:
    loss = SlicedScoreMatching(DataSpec((3,)), projections=4, projection="rademacher")
    v = loss.draw_projections(torch.zeros(5, 3), torch.Generator().manual_seed(0))
    assert v.shape == (4, 5, 3)
    assert set(v.unique().tolist()) == {-1.0, 1.0}


@pytest.mark.parametrize(
    ("factory", "options", "message"),
    [
        (DenoisingScoreMatching, {"sigmas": []}, "sigmas"),
        (DenoisingScoreMatching, {"sigmas": [0.1, 0.0]}, "sigmas"),
        (SlicedScoreMatching, {"projections": 0}, "projections"),
        (SlicedScoreMatching, {"projection": "sphere"}, "projection"),
    ],
)
def test_invalid_options_are_refused(factory, options, message) -> None:
    with pytest.raises(ValueError, match=message):
        factory(DataSpec((2,)), **options)
