"""Tests for the generated 2-D toy datasets in ebkit.builtins.datasets.toy."""

from __future__ import annotations

import math

import pytest
import torch

from ebkit.builtins.datasets.toy import (
    Checkerboard,
    EightGaussians,
    Moons,
    Pinwheel,
    Rings,
    SwissRoll,
    TwentyFiveGaussians,
    TwoSpirals,
)
from ebkit.core.errors import UsageError
from ebkit.core.interfaces import Dataset

ALL_TOYS = [
    EightGaussians,
    TwentyFiveGaussians,
    Moons,
    SwissRoll,
    Rings,
    Checkerboard,
    Pinwheel,
    TwoSpirals,
]
DEFAULT_NOISE = {
    EightGaussians: 0.01,
    TwentyFiveGaussians: 0.05,
    Moons: 0.05,
    SwissRoll: 0.05,
    Rings: 0.02,
    Checkerboard: 0.0,
    Pinwheel: 0.0,
    TwoSpirals: 0.03,
}


def draw(dataset: Dataset, n: int, seed: int = 0) -> torch.Tensor:
    return dataset.sample(n, torch.Generator().manual_seed(seed)).x


@pytest.mark.parametrize("toy", ALL_TOYS)
def test_batch_contract(toy: type[Dataset]) -> None:
    dataset = toy()
    batch = dataset.sample(257, torch.Generator().manual_seed(1))
    assert batch.x.shape == (257, 2)
    assert batch.x.dtype == torch.float32
    assert batch.y is None
    spec = dataset.spec
    assert spec.event_shape == (2,)
    assert spec.low == -spec.high
    assert spec.num_classes is None
    assert spec.low <= batch.x.min() and batch.x.max() <= spec.high


@pytest.mark.parametrize("toy", ALL_TOYS)
def test_default_noise_matches_the_component_record(toy: type[Dataset]) -> None:
    assert toy().noise == DEFAULT_NOISE[toy]


@pytest.mark.parametrize("toy", ALL_TOYS)
def test_same_seed_same_batch_and_different_seed_different_batch(toy: type[Dataset]) -> None:
    dataset = toy()
    assert torch.equal(draw(dataset, 64, seed=3), draw(dataset, 64, seed=3))
    assert not torch.allclose(draw(dataset, 64, seed=3), draw(dataset, 64, seed=4))


@pytest.mark.parametrize("toy", ALL_TOYS)
def test_sampling_leaves_the_global_rng_alone(toy: type[Dataset]) -> None:
    before = torch.random.get_rng_state()
    draw(toy(), 100)
    assert torch.equal(torch.random.get_rng_state(), before)


@pytest.mark.parametrize("toy", ALL_TOYS)
def test_a_data_path_is_a_usage_error(toy: type[Dataset]) -> None:
    with pytest.raises(UsageError, match=f"'{toy.name}' is generated and takes no --data-path"):
        toy("some/file.npz")


@pytest.mark.parametrize("toy", ALL_TOYS)
@pytest.mark.parametrize("noise", [-0.1, math.nan, math.inf])
def test_bad_noise_is_a_usage_error(toy: type[Dataset], noise: float) -> None:
    with pytest.raises(UsageError, match=r"data\.noise"):
        toy(noise=noise)


@pytest.mark.parametrize("toy", ALL_TOYS)
def test_bounds_grow_with_noise_and_still_hold_the_data(toy: type[Dataset]) -> None:
    wide = toy(noise=0.3)
    assert wide.spec.high > toy().spec.high
    x = draw(wide, 4000)
    assert wide.spec.low <= x.min() and x.max() <= wide.spec.high


def test_points_beyond_the_bounds_are_clamped() -> None:
    dataset = EightGaussians(noise=0.0)
    dataset.noise = 1.0  # far more noise than the bounds were computed for
    x = draw(dataset, 1000)
    assert x.min() == dataset.spec.low and x.max() == dataset.spec.high


@pytest.mark.parametrize(("toy", "noise"), [(EightGaussians, 0.01), (TwentyFiveGaussians, 0.05)])
def test_gaussian_samples_sit_near_a_mode_and_every_mode_is_hit(
    toy: type[EightGaussians | TwentyFiveGaussians], noise: float
) -> None:
    dataset = toy()
    assert dataset.mode_std == noise
    x = draw(dataset, 10_000)
    distance, nearest = torch.cdist(x, dataset.modes).min(dim=1)
    # In 2-D, P(r > 3σ) = exp(-4.5) ≈ 1.1 %, P(r > 6σ) = exp(-18) ≈ 1.5e-8.
    assert (distance < 3 * noise).float().mean() > 0.97
    assert distance.max() < 6 * noise
    counts = torch.bincount(nearest, minlength=len(dataset.modes))
    expected = len(x) / len(dataset.modes)
    assert counts.min() > 0.8 * expected and counts.max() < 1.2 * expected


def test_residual_spread_equals_the_noise_option() -> None:
    dataset = TwentyFiveGaussians(noise=0.1)
    x = draw(dataset, 20_000)
    nearest = torch.cdist(x, dataset.modes).argmin(dim=1)
    residual = x - dataset.modes[nearest]
    assert residual.std(dim=0) == pytest.approx([0.1, 0.1], rel=0.05)


def test_eight_gaussians_modes_are_on_the_unit_circle_without_the_endpoint() -> None:
    modes = EightGaussians().modes
    assert modes.shape == (8, 2)
    assert modes.norm(dim=1) == pytest.approx([1.0] * 8, abs=1e-6)
    angles = torch.atan2(modes[:, 1], modes[:, 0]) % (2 * math.pi)
    expected = [2 * math.pi * k / 8 for k in range(8)]
    assert angles.sort().values.tolist() == pytest.approx(expected, abs=1e-5)


def test_twenty_five_gaussians_modes_are_the_grid() -> None:
    modes = TwentyFiveGaussians().modes
    expected = {(float(a), float(b)) for a in (-4, -2, 0, 2, 4) for b in (-4, -2, 0, 2, 4)}
    assert modes.shape == (25, 2)
    assert {tuple(row) for row in modes.tolist()} == expected


def test_noise_free_moons_lie_on_the_two_half_circles() -> None:
    x = draw(Moons(noise=0.0), 2000)
    # Undo the centring and scaling to get make_moons' coordinates back.
    original = x * 1.5 + torch.tensor([0.5, 0.25])
    outer = (original.norm(dim=1) - 1).abs() < 1e-5
    inner = ((original - torch.tensor([1.0, 0.5])).norm(dim=1) - 1).abs() < 1e-5
    assert bool((outer | inner).all())
    assert bool((original[outer, 1] >= -1e-6).all())
    assert bool((original[inner, 1] <= 0.5 + 1e-6).all())
    assert 0.45 < outer.float().mean() < 0.55
    assert x[:, 0].min() > -1.001 and x[:, 0].max() < 1.001


def test_noise_free_swiss_roll_follows_the_spiral() -> None:
    x = draw(SwissRoll(noise=0.0), 2000)
    radius = x.norm(dim=1)
    t = radius * 4.5 * math.pi
    assert t.min() >= 1.5 * math.pi - 1e-4 and t.max() <= 4.5 * math.pi + 1e-4
    on_spiral = radius[:, None] * torch.stack([t.cos(), t.sin()], dim=1)
    assert torch.allclose(x, on_spiral, atol=1e-4)


def test_noise_free_rings_hit_each_radius_equally() -> None:
    x = draw(Rings(noise=0.0), 6000)
    radii = torch.tensor(Rings.radii)
    distance, ring = (x.norm(dim=1)[:, None] - radii).abs().min(dim=1)
    assert distance.max() < 1e-5
    counts = torch.bincount(ring, minlength=3)
    assert counts.min() > 0.9 * 2000 and counts.max() < 1.1 * 2000


def test_the_checkerboard_fills_its_eight_dark_squares_uniformly() -> None:
    x = draw(Checkerboard(), 80000)
    column, row = ((x + 1) / 0.5).floor().long().unbind(dim=1)
    assert column.min() >= 0 and column.max() <= 3 and row.min() >= 0 and row.max() <= 3
    assert ((column + row) % 2 == 0).all()  # FFJORD's squares: (0, 0) is one
    counts = torch.bincount(4 * row + column, minlength=16)
    dark = counts[counts > 0]
    assert len(dark) == 8
    assert (dark - 10000).abs().max() < 4 * math.sqrt(10000 * 7 / 8)  # 4 s.e. of 1/8
    within = (x + 1) % 0.5  # uniform in each square: mean 0.25, variance 0.5²/12
    assert torch.allclose(within.mean(0), torch.tensor([0.25, 0.25]), atol=0.003)
    assert torch.allclose(within.var(0), torch.full((2,), 0.25 / 12), rtol=0.02)


def test_the_pinwheel_has_its_exact_radius_moment_and_five_fold_symmetry() -> None:
    x = draw(Pinwheel(), 200000).double()
    # ‖x‖ = ‖f‖ / 2 with f = (1 + 0.3a, 0.1b): E‖x‖² = (1 + 0.09 + 0.01) / 4.
    squared = x.square().sum(dim=1)
    assert abs(squared.mean() - 1.1 / 4) < 4 * squared.std() / math.sqrt(len(x))
    sector = (torch.atan2(x[:, 1], x[:, 0]) % (2 * math.pi) / (2 * math.pi / 5)).long()
    counts = torch.bincount(sector, minlength=5)
    assert (counts - 40000).abs().max() < 4 * math.sqrt(40000 * 4 / 5)


def test_the_two_spirals_are_point_symmetric_with_their_exact_radius_moment() -> None:
    x = draw(TwoSpirals(noise=0.0), 200000).double()
    assert x.mean(0).abs().max() < 0.01
    # E‖(−n cos n + v₁/2, n sin n + v₂/2)‖² for n = 3π√u, by quadrature over u.
    u = torch.linspace(0, 1, 200001, dtype=torch.float64)
    n = 3 * math.pi * u.sqrt()
    cross = torch.trapezoid(n * n.sin() - n * n.cos(), u) / 2  # E[v] = 1/2
    expected = ((3 * math.pi) ** 2 / 2 + 2 / 12 + cross) / TwoSpirals.scale**2
    squared = x.square().sum(dim=1)
    assert abs(squared.mean() - expected) < 4 * squared.std() / math.sqrt(len(x))
