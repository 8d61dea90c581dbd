"""Tests for the mode-coverage metric of ebkit.metrics.toy on known answers."""

from __future__ import annotations

import math
import re

import pytest
import torch

from ebkit.builtins.datasets.toy import EightGaussians, TwentyFiveGaussians
from ebkit.metrics import (
    PERFECT_HIGH_QUALITY_SHARE,
    gaussian_mixture,
    mixture_mode_coverage,
    mode_coverage,
)

DATASETS = {"8gaussians": EightGaussians, "25gaussians": TwentyFiveGaussians}


def draw(name: str, n: int, seed: int = 0) -> torch.Tensor:
    """``n`` points of the mixture dataset ``name`` at its default noise."""
    return DATASETS[name]().sample(n, torch.Generator().manual_seed(seed)).x


def test_the_perfect_share_is_the_2d_chi_probability_not_the_1d_three_sigma_rule() -> None:
    # P(‖ξ‖ ≤ 3) for a 2-D standard normal: the radius² is chi-square(2) = Exp(1/2).
    share = PERFECT_HIGH_QUALITY_SHARE
    assert share == pytest.approx(1 - math.exp(-4.5))
    assert share == pytest.approx(0.98889, abs=1e-5)
    radius = torch.randn(200_000, 2, generator=torch.Generator().manual_seed(0)).norm(dim=1)
    assert float((radius <= 3).double().mean()) == pytest.approx(0.98889, abs=1e-3)


@pytest.mark.parametrize("name", ["8gaussians", "25gaussians"])
def test_a_perfect_sampler_covers_every_mode_with_the_chi_share(name: str) -> None:
    mixture = gaussian_mixture(name)
    n = 20_000
    result = mixture_mode_coverage(draw(name, n), name)
    assert result.modes_covered == result.num_modes == len(mixture.modes)
    # Binomial standard deviation of the share is about 0.00074; allow five of them.
    assert result.high_quality_share == pytest.approx(PERFECT_HIGH_QUALITY_SHARE, abs=0.004)
    assert result.reverse_kl is not None and 0 <= result.reverse_kl < 0.01
    assert result.num_samples == n
    assert sum(result.mode_counts) == round(result.high_quality_share * n)


def test_modes_and_sigma_are_the_datasets() -> None:
    ring, grid = gaussian_mixture("8gaussians"), gaussian_mixture("25gaussians")
    assert torch.equal(ring.modes, EightGaussians().modes)
    assert torch.equal(grid.modes, TwentyFiveGaussians().modes)
    assert ring.mode_std == EightGaussians().mode_std == 0.01
    assert grid.mode_std == TwentyFiveGaussians().mode_std == 0.05
    assert mixture_mode_coverage(ring.modes, "8gaussians").radius == pytest.approx(0.03)
    assert mixture_mode_coverage(grid.modes, "25gaussians").radius == pytest.approx(0.15)
    wider = gaussian_mixture("25gaussians", noise=0.2)
    assert mixture_mode_coverage(wider.modes, wider).radius == pytest.approx(0.6)


def test_samples_all_at_one_mode_cover_one_mode() -> None:
    mixture = gaussian_mixture("25gaussians")
    samples = mixture.modes[7].expand(300, 2) + 0.01 * torch.randn(
        300, 2, generator=torch.Generator().manual_seed(1)
    )
    result = mixture_mode_coverage(samples, mixture)
    assert result.modes_covered == 1
    assert result.high_quality_share == 1.0
    assert result.mode_counts[7] == 300
    assert result.reverse_kl == pytest.approx(math.log(25))


def test_points_far_from_every_mode_cover_nothing() -> None:
    samples = torch.full((50, 2), 1.0) + torch.tensor([0.5, 0.5])  # between grid modes
    result = mixture_mode_coverage(samples, "25gaussians")
    assert result.modes_covered == 0
    assert result.high_quality_share == 0.0
    assert result.reverse_kl is None
    assert result.mode_counts == (0,) * 25


def test_hand_computed_case() -> None:
    modes = torch.tensor([[0.0, 0.0], [10.0, 0.0]])
    samples = torch.tensor(
        [
            [0.0, 2.9],  # mode 0, within 3σ = 3
            [0.0, 3.1],  # mode 0, too far
            [10.0, 0.5],  # mode 1, within
            [10.0, -0.5],  # mode 1, within
            [5.2, 0.0],  # nearest is mode 1 at 4.8: too far
            [1.5, 0.0],  # mode 0 within
        ]
    )
    result = mode_coverage(samples, modes, 1.0)
    assert result.modes_covered == 2
    assert result.high_quality_share == pytest.approx(4 / 6)
    assert result.mode_counts == (2, 2)
    assert result.reverse_kl == pytest.approx(0.0)
    unbalanced = mode_coverage(samples[[0, 2, 3, 5, 2]], modes, 1.0)
    assert unbalanced.mode_counts == (2, 3)
    p = torch.tensor([0.4, 0.6], dtype=torch.float64)
    assert unbalanced.reverse_kl == pytest.approx(float((p * (2 * p).log()).sum()))


def test_a_mode_is_covered_only_as_the_nearest_mode() -> None:
    # σ = 1 makes both modes lie within 3σ of the sample; only the nearest one counts.
    modes = torch.tensor([[0.0, 0.0], [1.0, 0.0]])
    result = mode_coverage(torch.tensor([[0.9, 0.0]]), modes, 1.0)
    assert result.modes_covered == 1
    assert result.mode_counts == (0, 1)


def test_the_radius_is_inclusive_and_configurable() -> None:
    modes = torch.zeros(1, 2)
    at_radius = torch.tensor([[1.5, 0.0]])
    assert mode_coverage(at_radius, modes, 0.5).high_quality_share == 1.0
    assert mode_coverage(at_radius, modes, 0.5, radius_in_stds=2.0).high_quality_share == 0.0


def test_non_finite_samples_are_far_from_every_mode() -> None:
    samples = torch.tensor([[0.0, 0.0], [math.nan, 0.0], [math.inf, -math.inf], [0.0, 0.0]])
    samples = samples.repeat(10, 1)  # enough rows for cdist's matrix-product path
    result = mode_coverage(samples, torch.zeros(1, 2), 0.1)
    assert result.high_quality_share == pytest.approx(0.5)
    assert result.modes_covered == 1


def test_the_result_is_json_ready() -> None:
    import json

    result = mixture_mode_coverage(gaussian_mixture("8gaussians").modes, "8gaussians")
    payload = json.loads(json.dumps(result.as_dict()))
    assert payload["modes_covered"] == 8
    assert payload["high_quality_share"] == 1.0


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: mixture_mode_coverage(torch.zeros(3, 2), "moons"), "8gaussians, 25gaussians"),
        (lambda: mode_coverage(torch.zeros(3), torch.zeros(1, 2), 1.0), "shape (N, D)"),
        (lambda: mode_coverage(torch.zeros(3, 2), torch.zeros(1, 3), 1.0), "modes must"),
        (lambda: mode_coverage(torch.zeros(0, 2), torch.zeros(1, 2), 1.0), "empty"),
        (lambda: mode_coverage(torch.zeros(3, 2), torch.zeros(1, 2), 0.0), "mode_std"),
        (
            lambda: mode_coverage(torch.zeros(3, 2), torch.zeros(1, 2), 1.0, radius_in_stds=-1),
            "radius_in_stds",
        ),
    ],
)
def test_bad_input_is_a_one_line_value_error(call, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)) as error:
        call()
    assert "\n" not in str(error.value)
