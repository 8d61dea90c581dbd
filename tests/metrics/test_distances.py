"""Tests for ebkit.metrics.distances: SW₂², MMD², KID and the Fréchet distance on cases
with known answers, and their gradients."""

from __future__ import annotations

import math
import re

import pytest
import torch

from ebkit.metrics import (
    frechet_distance,
    frechet_distance_of_features,
    gaussian_fit,
    kernel_inception_distance,
    median_pairwise_distance,
    mmd2_unbiased,
    polynomial_kernel,
    random_directions,
    rbf_kernel,
    rbf_mmd2,
    sliced_wasserstein,
    standardize_features,
    trace_sqrt_product,
)

F64 = torch.float64


def gaussian(n: int, dim: int = 2, seed: int = 0) -> torch.Tensor:
    return torch.randn(n, dim, generator=torch.Generator().manual_seed(seed), dtype=F64)


def column(*values: float) -> torch.Tensor:
    return torch.tensor(values, dtype=F64)[:, None]


# -- sliced Wasserstein ---------------------------------------------------------------


def test_random_directions_are_unit_vectors_and_seeded() -> None:
    directions = random_directions(64, 3, torch.Generator().manual_seed(5))
    assert directions.shape == (64, 3) and directions.dtype == F64
    assert torch.allclose(directions.norm(dim=1), torch.ones(64, dtype=F64))
    assert torch.equal(directions, random_directions(64, 3, torch.Generator().manual_seed(5)))


def test_identical_sets_are_at_distance_zero() -> None:
    x = gaussian(300)
    assert sliced_wasserstein(x, x) == 0
    assert sliced_wasserstein(x, x[torch.randperm(300)]) == pytest.approx(0, abs=1e-12)


def test_1d_hand_computed_equal_counts() -> None:
    # Directions in 1-D are ±1, so SW₂² = W₂² = mean of squared sorted differences.
    x, y = column(2, 0, 1), column(5, 1, 3)
    assert sliced_wasserstein(x, y) == pytest.approx((1 + 4 + 9) / 3)


def test_1d_hand_computed_unequal_counts_integrates_the_quantile_functions() -> None:
    # F⁻¹: 0 on (0, ½], 1 on (½, 1]; G⁻¹: 0, ½, 1 on thirds. They differ by ½ on
    # (⅓, ½) and on (½, ⅔): W₂² = 2 · (1/6) · ¼ = 1/12.
    assert sliced_wasserstein(column(0, 1), column(0, 0.5, 1)) == pytest.approx(1 / 12)
    assert sliced_wasserstein(column(0, 0.5, 1), column(0, 1)) == pytest.approx(1 / 12)


def test_repeating_every_point_does_not_change_the_distance() -> None:
    x, y = gaussian(40, seed=1), gaussian(70, seed=2) + 1
    directions = random_directions(32, 2, torch.Generator().manual_seed(0))
    once = sliced_wasserstein(x, y, directions=directions)
    assert sliced_wasserstein(x.repeat(3, 1), y, directions=directions) == pytest.approx(once)
    assert sliced_wasserstein(x, y.repeat(2, 1), directions=directions) == pytest.approx(once)


def test_a_shift_gives_the_mean_squared_projection_of_the_shift() -> None:
    x, shift = gaussian(500), torch.tensor([3.0, 4.0], dtype=F64)
    directions = random_directions(50, 2, torch.Generator().manual_seed(3))
    exact = (directions @ shift).square().mean()
    assert sliced_wasserstein(x, x + shift, directions=directions) == pytest.approx(float(exact))
    # E[(θᵀv)²] = ‖v‖²/2 for θ uniform on the circle; 4096 directions: sd ≈ 0.5 %.
    many = sliced_wasserstein(x, x + shift, num_directions=4096)
    assert many == pytest.approx(12.5, rel=0.03)
    # The default 256 directions: sd of the estimate ≈ 4.4 %.
    assert sliced_wasserstein(x, x + shift) == pytest.approx(12.5, rel=0.2)


def test_seeded_and_symmetric() -> None:
    x, y = gaussian(100, seed=1), gaussian(120, seed=2) * 2
    assert sliced_wasserstein(x, y) == sliced_wasserstein(x, y)
    first = sliced_wasserstein(x, y, generator=torch.Generator().manual_seed(9))
    again = sliced_wasserstein(x, y, generator=torch.Generator().manual_seed(9))
    assert first == again
    assert sliced_wasserstein(y, x) == pytest.approx(float(sliced_wasserstein(x, y)))


def test_sliced_wasserstein_gradients() -> None:
    x = gaussian(7, seed=1).requires_grad_()
    y = gaussian(5, seed=2).requires_grad_()
    directions = random_directions(4, 2, torch.Generator().manual_seed(0))
    assert torch.autograd.gradcheck(
        lambda a, b: sliced_wasserstein(a, b, directions=directions), (x, y)
    )


# -- kernels and MMD² -----------------------------------------------------------------


def test_kernels_on_hand_computed_values() -> None:
    x, y = column(0, 1), column(0, 2)
    assert torch.allclose(
        rbf_kernel(x, y, 2.0),
        torch.tensor([[1, math.exp(-4 / 8)], [math.exp(-1 / 8), math.exp(-1 / 8)]], dtype=F64),
    )
    a = torch.tensor([[1.0, 2.0]], dtype=F64)
    b = torch.tensor([[3.0, -1.0], [0.0, 0.0]], dtype=F64)
    # (aᵀb / 2 + 1)³: aᵀb = 1 and 0.
    assert torch.allclose(polynomial_kernel(a, b), torch.tensor([[1.5**3, 1.0]], dtype=F64))


def test_unbiased_mmd2_hand_computed() -> None:
    # x = {0, 1}, y = {0, 2}, h = 1: k = exp(−d²/2).
    x, y = column(0, 1), column(0, 2)
    e = math.exp
    expected = e(-1 / 2) + e(-4 / 2) - 2 * (1 + e(-4 / 2) + e(-1 / 2) + e(-1 / 2)) / 4
    kernels = (rbf_kernel(x, x, 1.0), rbf_kernel(y, y, 1.0), rbf_kernel(x, y, 1.0))
    assert mmd2_unbiased(*kernels) == pytest.approx(expected)
    assert rbf_mmd2(x, y, bandwidths=[1.0]) == pytest.approx(expected)


def test_median_pairwise_distance_hand_computed() -> None:
    assert median_pairwise_distance(column(0, 1, 3)) == pytest.approx(2.0)  # 1, 2, 3
    # 1, 2, 3, 4, 6, 7: the lower median.
    assert median_pairwise_distance(column(0, 1, 3, 7)) == pytest.approx(3.0)


def test_multi_bandwidth_mmd2_is_the_mean_over_scales_of_the_pooled_median() -> None:
    x, y = gaussian(30, seed=1), gaussian(40, seed=2) + 0.5
    median = float(median_pairwise_distance(torch.cat([x, y])))
    scales = (0.05, 0.1, 0.2, 0.5, 1.0)
    singles = [float(rbf_mmd2(x, y, bandwidths=[s * median])) for s in scales]
    assert rbf_mmd2(x, y) == pytest.approx(sum(singles) / len(singles))
    assert rbf_mmd2(x, y, scales=(0.5,)) == pytest.approx(singles[3])


def test_mmd2_is_near_zero_for_one_distribution_and_large_for_a_shift() -> None:
    x, other = gaussian(400, seed=1), gaussian(400, seed=2)
    # Identical sets: 2(S − N²)/(N²(N − 1)) with S the kernel sum, in [−2/(N − 1), 0].
    assert -2 / 399 <= rbf_mmd2(x, x) <= 0
    assert abs(rbf_mmd2(x, other)) < 0.005
    assert rbf_mmd2(x, other + 2) > 0.2


def test_mmd2_gradients_with_fixed_bandwidths() -> None:
    x = gaussian(5, seed=1).requires_grad_()
    y = gaussian(6, seed=2).requires_grad_()
    assert torch.autograd.gradcheck(lambda a, b: rbf_mmd2(a, b, bandwidths=[0.5, 2.0]), (x, y))


def test_kid_over_whole_sets_is_the_cubic_kernel_mmd2_with_zero_spread() -> None:
    # Equal set sizes below the subset size make every subset the whole set, permuted.
    x, y = gaussian(15, dim=3, seed=1), gaussian(15, dim=3, seed=2) + 1
    mean, spread = kernel_inception_distance(x, y, num_subsets=5, subset_size=100)
    kernels = (polynomial_kernel(x, x), polynomial_kernel(y, y), polynomial_kernel(x, y))
    assert mean == pytest.approx(float(mmd2_unbiased(*kernels)))
    assert spread == pytest.approx(0, abs=1e-12)


def test_kid_near_zero_for_one_distribution_and_large_for_a_shift() -> None:
    x, other = gaussian(600, dim=8, seed=1), gaussian(600, dim=8, seed=2)
    mean, spread = kernel_inception_distance(x, other, num_subsets=20, subset_size=200)
    assert abs(mean) < 0.05 and spread > 0
    shifted, _ = kernel_inception_distance(x, other + 1, num_subsets=20, subset_size=200)
    assert shifted > 1.0
    same = kernel_inception_distance(x, other, num_subsets=20, subset_size=200)
    assert same[0] == mean  # seeded by default


# -- Fréchet distance -----------------------------------------------------------------


def test_frechet_distance_of_diagonal_gaussians() -> None:
    # ‖μ_a − μ_b‖² + tr Σ_a + tr Σ_b − 2 Σ √(a_k b_k) = 2 + 5 + 13 − 2 (2 + 6) = 4.
    distance = frechet_distance(
        torch.zeros(2),
        torch.diag(torch.tensor([1.0, 4.0])),
        torch.ones(2),
        torch.diag(torch.tensor([4.0, 9.0])),
    )
    assert distance == pytest.approx(4.0)


def test_frechet_distance_of_commuting_covariances() -> None:
    angle = 0.3
    rotation = torch.tensor(
        [[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]], dtype=F64
    )
    cov_a = rotation @ torch.diag(torch.tensor([1.0, 4.0], dtype=F64)) @ rotation.T
    cov_b = rotation @ torch.diag(torch.tensor([9.0, 1.0], dtype=F64)) @ rotation.T
    mean_a, mean_b = torch.tensor([1.0, 2.0], dtype=F64), torch.tensor([-1.0, 2.5], dtype=F64)
    # tr √(Σ_a Σ_b) = √9 + √4 = 5: FD = 4.25 + 5 + 10 − 10.
    assert trace_sqrt_product(cov_a, cov_b) == pytest.approx(5.0)
    assert frechet_distance(mean_a, cov_a, mean_b, cov_b) == pytest.approx(9.25)


def test_trace_sqrt_of_non_commuting_2x2_matrices() -> None:
    # For 2×2 M with eigenvalues λ₁, λ₂ ≥ 0: (√λ₁ + √λ₂)² = tr M + 2 √det M.
    cov_a = torch.tensor([[2.0, 1.0], [1.0, 2.0]], dtype=F64)
    cov_b = torch.tensor([[3.0, 0.0], [0.0, 1.0]], dtype=F64)
    product = cov_a @ cov_b
    expected = math.sqrt(float(product.trace()) + 2 * math.sqrt(float(torch.det(product))))
    assert trace_sqrt_product(cov_a, cov_b) == pytest.approx(expected)
    assert trace_sqrt_product(cov_b, cov_a) == pytest.approx(expected)


def test_trace_sqrt_matches_the_eigenvalues_of_the_product_in_higher_dimensions() -> None:
    a, b = gaussian(6, dim=6, seed=1), gaussian(6, dim=6, seed=2)
    cov_a, cov_b = a @ a.T + torch.eye(6, dtype=F64), b @ b.T
    eigenvalues = torch.linalg.eigvals(cov_a @ cov_b).real.clamp_min(0)
    assert trace_sqrt_product(cov_a, cov_b) == pytest.approx(float(eigenvalues.sqrt().sum()))


def test_frechet_distance_of_the_same_features_is_zero_and_grows_with_a_shift() -> None:
    features = gaussian(300, dim=16, seed=1)
    assert frechet_distance_of_features(features, features) == pytest.approx(0, abs=1e-8)
    shifted = frechet_distance_of_features(features, features + 0.5)
    assert shifted == pytest.approx(16 * 0.25, rel=1e-6)  # ‖(½, …, ½)‖² = 4


def test_gaussian_fit_matches_the_unbiased_covariance() -> None:
    features = gaussian(50, dim=4, seed=3)
    mean, cov = gaussian_fit(features)
    assert torch.allclose(mean, features.mean(0))
    assert torch.allclose(cov, torch.cov(features.T))


def test_frechet_distance_gradients() -> None:
    a = (gaussian(3, dim=3, seed=1) + 2 * torch.eye(3, dtype=F64)).requires_grad_()
    b = (gaussian(3, dim=3, seed=2) + torch.eye(3, dtype=F64)).requires_grad_()
    mean_a = gaussian(1, dim=3, seed=3)[0].requires_grad_()
    mean_b = gaussian(1, dim=3, seed=4)[0].requires_grad_()
    assert torch.autograd.gradcheck(
        lambda ma, sa, mb, sb: frechet_distance(ma, sa @ sa.T, mb, sb @ sb.T),
        (mean_a, a, mean_b, b),
    )


def test_standardize_features_uses_the_real_statistics() -> None:
    real = gaussian(200, dim=3, seed=1) * torch.tensor([1.0, 10.0, 0.0], dtype=F64) + 5
    fake = real + 1
    standard_real, standard_fake = standardize_features(real, fake)
    assert torch.allclose(standard_real.mean(0), torch.zeros(3, dtype=F64), atol=1e-9)
    assert torch.allclose(standard_real[:, :2].std(0), torch.ones(2, dtype=F64))
    # The constant feature is only centred, so the fake set's shift still shows.
    assert torch.allclose(standard_fake[:, 2], torch.ones(200, dtype=F64))
    assert torch.allclose(standard_fake[:, 1] - standard_real[:, 1], 1 / real[:, 1].std())


# -- bad input ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: sliced_wasserstein(torch.zeros(3, 2), torch.zeros(3, 3)), "x has 2 dimensions"),
        (lambda: sliced_wasserstein(torch.zeros(3), torch.zeros(3, 1)), "x must have shape (N, D)"),
        (lambda: sliced_wasserstein(torch.zeros(0, 2), torch.zeros(3, 2)), "at least 1 points"),
        (
            lambda: sliced_wasserstein(torch.tensor([[math.nan]]), torch.zeros(3, 1)),
            "NaN or infinite",
        ),
        (
            lambda: sliced_wasserstein(torch.zeros(3, 2), torch.zeros(3, 2), num_directions=0),
            "num_directions",
        ),
        (lambda: rbf_mmd2(torch.zeros(1, 2), torch.zeros(3, 2)), "at least 2 points"),
        (lambda: rbf_mmd2(torch.zeros(4, 2), torch.zeros(3, 2)), "median distance is 0"),
        (lambda: rbf_mmd2(torch.rand(4, 2), torch.rand(3, 2), scales=(0.0,)), "scales"),
        (
            lambda: kernel_inception_distance(torch.rand(4, 2), torch.rand(3, 2), num_subsets=0),
            "num_subsets",
        ),
        (
            lambda: frechet_distance(torch.zeros(2), torch.eye(2), torch.zeros(3), torch.eye(3)),
            "means must be (F,)",
        ),
        (
            lambda: frechet_distance(torch.zeros(2), torch.eye(3), torch.zeros(2), torch.eye(2)),
            "covariances must be (2, 2)",
        ),
    ],
)
def test_bad_input_is_a_one_line_value_error(call, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)) as error:
        call()
    assert "\n" not in str(error.value)
