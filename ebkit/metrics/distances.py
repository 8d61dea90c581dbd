"""Distances between two sets of points: sliced Wasserstein, MMD², Fréchet and KID.

Each formula is a plain tensor function over ``(N, D)`` point sets (2-D toy samples or
classifier features); nothing here knows about models or datasets. All work is done in
float64 on the inputs' device, and every function returns a 0-dim float64 tensor (or a
pair of them), so the results stay differentiable where the formula is.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

__all__ = [
    "DEFAULT_RBF_SCALES",
    "frechet_distance",
    "frechet_distance_of_features",
    "gaussian_fit",
    "kernel_inception_distance",
    "median_pairwise_distance",
    "mmd2_unbiased",
    "pairwise_squared_distances",
    "polynomial_kernel",
    "random_directions",
    "rbf_kernel",
    "rbf_mmd2",
    "sliced_wasserstein",
    "standardize_features",
    "trace_sqrt_product",
]

DEFAULT_RBF_SCALES: tuple[float, ...] = (0.05, 0.1, 0.2, 0.5, 1.0)
"""RBF bandwidths of :func:`rbf_mmd2`, as multiples of the median pairwise distance (the
median heuristic of Gretton et al. 2012, spread over a factor of 20)."""


def _points(name: str, points: Tensor, *, minimum: int = 1) -> Tensor:
    """``points`` as float64 ``(N, D)``, or a one-line ValueError naming ``name``."""
    if not isinstance(points, Tensor):
        raise ValueError(f"{name} must be a torch.Tensor of shape (N, D), not {type(points)}")
    if points.ndim != 2:
        raise ValueError(f"{name} must have shape (N, D), not {tuple(points.shape)}")
    if points.shape[0] < minimum:
        raise ValueError(f"{name} needs at least {minimum} points, got {points.shape[0]}")
    if not torch.isfinite(points).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return points.to(torch.float64)


def _pair(x: Tensor, y: Tensor, *, minimum: int = 1) -> tuple[Tensor, Tensor]:
    x, y = _points("x", x, minimum=minimum), _points("y", y, minimum=minimum)
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"x has {x.shape[1]} dimensions but y has {y.shape[1]}")
    return x, y.to(x.device)


# -- sliced Wasserstein -----------------------------------------------------------------


def random_directions(count: int, dim: int, generator: torch.Generator) -> Tensor:
    """``count`` directions drawn uniformly on the unit sphere of R^dim, ``(count, dim)``
    float64 (normalised Gaussian vectors), drawn from ``generator`` only."""
    if count < 1 or dim < 1:
        raise ValueError(f"need count >= 1 and dim >= 1, got count={count}, dim={dim}")
    gaussian = torch.randn(count, dim, generator=generator, dtype=torch.float64)
    return gaussian / gaussian.norm(dim=1, keepdim=True)


def _wasserstein2_squared_1d(a: Tensor, b: Tensor) -> Tensor:
    """W₂² between the empirical distributions of each column of ``a: (N, P)`` and
    ``b: (M, P)``, ``-> (P,)``.

    W₂² = ∫₀¹ (F_a⁻¹(t) − F_b⁻¹(t))² dt with the empirical quantile functions, which are
    step functions jumping at t = i/N and t = j/M. The integral is exact: between two
    consecutive jumps of either, both quantiles are constant. For N = M it reduces to
    the mean squared difference of the sorted values.
    """
    a, b = a.sort(dim=0).values, b.sort(dim=0).values
    n, m = a.shape[0], b.shape[0]
    if n == m:
        return (a - b).square().mean(dim=0)
    dtype, device = a.dtype, a.device
    jumps = (
        torch.cat(
            [
                torch.arange(1, n + 1, dtype=dtype, device=device) / n,
                torch.arange(1, m + 1, dtype=dtype, device=device) / m,
            ]
        )
        .sort()
        .values
    )
    widths = torch.diff(jumps, prepend=jumps.new_zeros(1))
    middles = jumps - widths / 2
    # Repeated jumps give zero-width pieces; their (clamped) index does not matter.
    index_a = (middles * n).floor().long().clamp(max=n - 1)
    index_b = (middles * m).floor().long().clamp(max=m - 1)
    return (widths[:, None] * (a[index_a] - b[index_b]).square()).sum(dim=0)


def sliced_wasserstein(
    x: Tensor,
    y: Tensor,
    *,
    num_directions: int = 256,
    generator: torch.Generator | None = None,
    directions: Tensor | None = None,
) -> Tensor:
    """Squared sliced Wasserstein-2 distance SW₂²(x, y) (lower is better, 0 for equal sets).

    SW₂² = mean over directions θ of W₂²(θᵀx, θᵀy), the exact 1-D squared Wasserstein-2
    distance between the projected empirical distributions. ``x: (N, D)``,
    ``y: (M, D) -> ()``. N and M may differ: the 1-D distance integrates the difference
    of the two empirical quantile functions exactly (for N = M it is the mean squared
    difference of the sorted projections). It is in squared data units: for a point
    cloud and its copy shifted by v, SW₂² = mean (θᵀv)², whose expectation over θ
    uniform on the sphere is ‖v‖²/D.

    The ``num_directions`` directions are uniform on the sphere, drawn from
    ``generator`` (default: a CPU generator seeded with 0, so equal inputs give equal
    results). ``directions: (P, D)`` unit vectors replace the random ones.
    """
    x, y = _pair(x, y)
    if directions is None:
        if num_directions < 1:
            raise ValueError(f"num_directions must be >= 1, got {num_directions}")
        generator = generator if generator is not None else torch.Generator().manual_seed(0)
        directions = random_directions(num_directions, x.shape[1], generator)
    elif directions.ndim != 2 or directions.shape[1] != x.shape[1]:
        raise ValueError(
            f"directions must have shape (P, {x.shape[1]}), not {tuple(directions.shape)}"
        )
    directions = directions.to(device=x.device, dtype=torch.float64)
    return _wasserstein2_squared_1d(x @ directions.T, y @ directions.T).mean()


# -- kernels and MMD ------------------------------------------------------------------


def pairwise_squared_distances(x: Tensor, y: Tensor) -> Tensor:
    """‖x_i − y_j‖² for ``x: (N, D)``, ``y: (M, D) -> (N, M)``, clamped at 0 against
    rounding."""
    return (x.square().sum(1)[:, None] + y.square().sum(1)[None, :] - 2 * x @ y.T).clamp_min(0)


def median_pairwise_distance(points: Tensor) -> Tensor:
    """Median of ‖p_i − p_j‖ over the pairs i < j of ``points: (N, D) -> ()``, N ≥ 2
    (the lower median when the number of pairs is even). Memory is O(N²/2)."""
    return torch.pdist(_points("points", points, minimum=2)).median()


def rbf_kernel(x: Tensor, y: Tensor, bandwidth: float | Tensor) -> Tensor:
    """Gaussian kernel k(x, y) = exp(−‖x − y‖² / (2h²)) with bandwidth h,
    ``x: (N, D)``, ``y: (M, D) -> (N, M)``."""
    return torch.exp(-pairwise_squared_distances(x, y) / (2 * bandwidth**2))


def polynomial_kernel(x: Tensor, y: Tensor) -> Tensor:
    """KID's cubic kernel k(x, y) = (xᵀy / D + 1)³, ``x: (N, D)``, ``y: (M, D) -> (N, M)``."""
    return (x @ y.T / x.shape[1] + 1) ** 3


def mmd2_unbiased(k_xx: Tensor, k_yy: Tensor, k_xy: Tensor) -> Tensor:
    """Unbiased estimate of the squared maximum mean discrepancy from kernel matrices.

    MMD²_u = 1/(N(N−1)) Σ_{i≠j} k(x_i, x_j) + 1/(M(M−1)) Σ_{i≠j} k(y_i, y_j)
             − 2/(NM) Σ_{i,j} k(x_i, y_j)

    ``k_xx: (N, N)``, ``k_yy: (M, M)``, ``k_xy: (N, M) -> ()``, N, M ≥ 2. Its
    expectation is 0 when x and y come from the same distribution, so an estimate can be
    slightly negative.
    """
    n, m = k_xx.shape[0], k_yy.shape[0]
    if n < 2 or m < 2:
        raise ValueError(f"the unbiased MMD² needs at least 2 points per set, got {n} and {m}")
    within_x = (k_xx.sum() - k_xx.diagonal().sum()) / (n * (n - 1))
    within_y = (k_yy.sum() - k_yy.diagonal().sum()) / (m * (m - 1))
    return within_x + within_y - 2 * k_xy.mean()


def rbf_mmd2(
    x: Tensor,
    y: Tensor,
    *,
    scales: Sequence[float] = DEFAULT_RBF_SCALES,
    bandwidths: Sequence[float] | None = None,
) -> Tensor:
    """Multi-bandwidth unbiased MMD² with Gaussian kernels (lower is better, ≈ 0 for
    samples of the same distribution; may be slightly negative).

    The **mean** over bandwidths h of :func:`mmd2_unbiased` with
    k(a, b) = exp(−‖a − b‖² / (2h²)), so its scale does not grow with the number of
    bandwidths. The bandwidths are ``scales`` × the median pairwise distance of the
    **pooled** set x ∪ y ({0.05, 0.1, 0.2, 0.5, 1} × median), computed without
    gradient; ``bandwidths`` gives them explicitly instead. ``x: (N, D)``,
    ``y: (M, D) -> ()``, N, M ≥ 2; memory O((N + M)²).
    """
    x, y = _pair(x, y, minimum=2)
    if bandwidths is None:
        if not scales or any(not scale > 0 for scale in scales):
            raise ValueError(f"scales must be positive numbers, got {list(scales)}")
        with torch.no_grad():
            median = median_pairwise_distance(torch.cat([x, y]))
        if median == 0:
            raise ValueError("all points coincide: the median distance is 0, give bandwidths")
        bandwidths = [scale * median for scale in scales]
    elif not bandwidths or any(not bandwidth > 0 for bandwidth in bandwidths):
        raise ValueError(f"bandwidths must be positive numbers, got {list(bandwidths)}")
    d_xx = pairwise_squared_distances(x, x)
    d_yy = pairwise_squared_distances(y, y)
    d_xy = pairwise_squared_distances(x, y)
    estimates = [
        mmd2_unbiased(*(torch.exp(-d / (2 * h**2)) for d in (d_xx, d_yy, d_xy))) for h in bandwidths
    ]
    return torch.stack(estimates).mean()


def kernel_inception_distance(
    real: Tensor,
    fake: Tensor,
    *,
    num_subsets: int = 100,
    subset_size: int = 1000,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor]:
    """KID: unbiased MMD² with the cubic kernel (xᵀy/D + 1)³, averaged over random
    subsets (Bińkowski et al. 2018), ``-> (mean, std)`` over the subsets. Lower is
    better; ≈ 0 (possibly slightly negative) for features of the same distribution.

    ``real: (N, D)``, ``fake: (M, D)`` are features (ebkit uses its own small classifier,
    not Inception: :mod:`ebkit.metrics.images`). Each of the ``num_subsets`` subsets
    draws min(``subset_size``, N, M) points of each set without replacement from
    ``generator`` (default: a CPU generator seeded with 0). The std is over subsets
    (0 for a single subset).
    """
    real, fake = _pair(real, fake, minimum=2)
    if num_subsets < 1 or subset_size < 2:
        raise ValueError(
            f"need num_subsets >= 1 and subset_size >= 2, got {num_subsets} and {subset_size}"
        )
    generator = generator if generator is not None else torch.Generator().manual_seed(0)
    size = min(subset_size, len(real), len(fake))
    estimates = []
    for _ in range(num_subsets):
        x = real[torch.randperm(len(real), generator=generator)[:size].to(real.device)]
        y = fake[torch.randperm(len(fake), generator=generator)[:size].to(fake.device)]
        estimates.append(
            mmd2_unbiased(polynomial_kernel(x, x), polynomial_kernel(y, y), polynomial_kernel(x, y))
        )
    stacked = torch.stack(estimates)
    spread = stacked.std() if num_subsets > 1 else stacked.new_zeros(())
    return stacked.mean(), spread


# -- Fréchet distance -----------------------------------------------------------------


def standardize_features(real: Tensor, fake: Tensor) -> tuple[Tensor, Tensor]:
    """Both feature sets standardised with the **real** set's per-feature mean and std,
    ``(N, F)``, ``(M, F) -> (N, F), (M, F)`` float64.

    Standardising puts every feature on the same scale, so no single high-variance unit
    dominates the Fréchet distance or KID, and the numbers are comparable across
    classifiers. Features that are constant on the real set (dead ReLU units) are only
    centred (std taken as 1), so they still count when the fake set moves them.
    """
    real, fake = _pair(real, fake, minimum=2)
    mean, std = real.mean(dim=0), real.std(dim=0)
    std = torch.where(std > 1e-8, std, torch.ones_like(std))
    return (real - mean) / std, (fake - mean) / std


def gaussian_fit(features: Tensor) -> tuple[Tensor, Tensor]:
    """Mean ``(F,)`` and unbiased covariance ``(F, F)`` (divisor N − 1) of
    ``features: (N, F)``, N ≥ 2, in float64."""
    features = _points("features", features, minimum=2)
    centred = features - features.mean(dim=0)
    return features.mean(dim=0), centred.T @ centred / (len(features) - 1)


def _symmetric_sqrt(matrix: Tensor) -> Tensor:
    """Principal square root of a symmetric PSD matrix by eigendecomposition, with
    eigenvalues that rounding made slightly negative set to 0."""
    eigenvalues, eigenvectors = torch.linalg.eigh(matrix)
    return (eigenvectors * eigenvalues.clamp_min(0).sqrt()) @ eigenvectors.T


def trace_sqrt_product(cov_a: Tensor, cov_b: Tensor) -> Tensor:
    """tr √(Σ_a Σ_b) for symmetric PSD ``(F, F)`` matrices, ``-> ()``, computed stably.

    Σ_a Σ_b is not symmetric, but it is similar to √Σ_a Σ_b √Σ_a, which is symmetric
    PSD, so the trace of its square root is Σ_k √λ_k over the eigenvalues λ_k of
    √Σ_a Σ_b √Σ_a (from ``torch.linalg.eigh`` in float64, negatives from rounding
    clamped to 0).
    """
    cov_a, cov_b = cov_a.to(torch.float64), cov_b.to(torch.float64)
    root_a = _symmetric_sqrt((cov_a + cov_a.T) / 2)
    product = root_a @ cov_b @ root_a
    return torch.linalg.eigvalsh((product + product.T) / 2).clamp_min(0).sqrt().sum()


def frechet_distance(mean_a: Tensor, cov_a: Tensor, mean_b: Tensor, cov_b: Tensor) -> Tensor:
    """Fréchet (2-Wasserstein) distance between N(μ_a, Σ_a) and N(μ_b, Σ_b), squared
    as in FID (lower is better, 0 for equal Gaussians):

    FD = ‖μ_a − μ_b‖² + tr Σ_a + tr Σ_b − 2 tr √(Σ_a Σ_b)

    ``mean_*: (F,)``, ``cov_*: (F, F)`` symmetric PSD ``-> ()``; the trace term comes
    from :func:`trace_sqrt_product`. Clamped at 0 against rounding.
    """
    if mean_a.shape != mean_b.shape or mean_a.ndim != 1:
        raise ValueError(
            f"means must be (F,) of equal size, got {tuple(mean_a.shape)}, {tuple(mean_b.shape)}"
        )
    size = mean_a.shape[0]
    if cov_a.shape != (size, size) or cov_b.shape != (size, size):
        raise ValueError(
            f"covariances must be ({size}, {size}), got {tuple(cov_a.shape)}, {tuple(cov_b.shape)}"
        )
    mean_a, mean_b = mean_a.to(torch.float64), mean_b.to(torch.float64)
    cov_a, cov_b = cov_a.to(torch.float64), cov_b.to(torch.float64)
    distance = (
        (mean_a - mean_b).square().sum()
        + cov_a.trace()
        + cov_b.trace()
        - 2 * trace_sqrt_product(cov_a, cov_b)
    )
    return distance.clamp_min(0)


def frechet_distance_of_features(real: Tensor, fake: Tensor) -> Tensor:
    """:func:`frechet_distance` between the Gaussian fits (:func:`gaussian_fit`) of two
    feature sets, ``real: (N, F)``, ``fake: (M, F) -> ()``. Standardise the features
    first (:func:`standardize_features`) to compare features on one scale."""
    real, fake = _pair(real, fake, minimum=2)
    return frechet_distance(*gaussian_fit(real), *gaussian_fit(fake))
