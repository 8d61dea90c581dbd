"""Tests for the reconstruction-error formula behind the auto-encoder energy."""

from __future__ import annotations

import pytest
import torch

from ebkit_autoencoder import DISTANCES
from ebkit_autoencoder.reconstruction import (
    reconstruction_energy,
    residual_energy,
    resolve_distance,
)

# Two samples of shape (2, 2); their differences r − x are [[3, 0], [0, −4]] and all zeros
# except a single −1.
X = torch.tensor([[[1.0, 2.0], [3.0, 4.0]], [[0.0, 0.0], [0.0, 1.0]]])
R = torch.tensor([[[4.0, 2.0], [3.0, 0.0]], [[0.0, 0.0], [0.0, 0.0]]])


def test_l2_is_the_per_sample_norm_not_squared_not_averaged() -> None:
    # ‖(3, 0, 0, −4)‖₂ = 5 and ‖(0, 0, 0, −1)‖₂ = 1.
    torch.testing.assert_close(reconstruction_energy(X, R, "l2"), torch.tensor([5.0, 1.0]))


def test_l2_is_the_default() -> None:
    torch.testing.assert_close(reconstruction_energy(X, R), torch.tensor([5.0, 1.0]))


def test_mse_is_the_per_sample_mean_of_squares() -> None:
    # (9 + 16) / 4 and 1 / 4.
    torch.testing.assert_close(reconstruction_energy(X, R, "mse"), torch.tensor([6.25, 0.25]))


def test_l1_is_the_per_sample_sum_of_absolute_values() -> None:
    torch.testing.assert_close(reconstruction_energy(X, R, "l1"), torch.tensor([7.0, 1.0]))


def test_mae_is_the_per_sample_mean_of_absolute_values() -> None:
    # (3 + 4) / 4 and 1 / 4: BEGAN's L(x) with η = 1.
    torch.testing.assert_close(reconstruction_energy(X, R, "mae"), torch.tensor([1.75, 0.25]))


def test_residual_energy_is_the_same_formula_on_the_difference() -> None:
    for distance in DISTANCES:
        torch.testing.assert_close(
            residual_energy(R - X, distance), reconstruction_energy(X, R, distance)
        )


def test_auto_distance_resolves_to_the_natural_one() -> None:
    assert resolve_distance("auto", "l2") == "l2"
    assert resolve_distance("auto", "mae") == "mae"
    assert resolve_distance("l1", "mae") == "l1"
    with pytest.raises(ValueError, match="distance must be auto or one of l2, mse, l1, mae"):
        resolve_distance("l3", "l2")


@pytest.mark.parametrize("distance", DISTANCES)
@pytest.mark.parametrize("event_shape", [(), (5,), (1, 8, 8), (3, 4, 4)])
def test_one_energy_per_sample_for_any_event_shape(
    distance: str, event_shape: tuple[int, ...]
) -> None:
    x = torch.randn(3, *event_shape)
    energy = reconstruction_energy(x, torch.zeros_like(x), distance)
    assert energy.shape == (3,)
    assert torch.all(energy >= 0)


def test_a_perfect_reconstruction_has_zero_energy() -> None:
    x = torch.randn(4, 1, 8, 8)
    for distance in DISTANCES:
        torch.testing.assert_close(reconstruction_energy(x, x.clone(), distance), torch.zeros(4))


def test_samples_do_not_interact() -> None:
    x, r = torch.randn(6, 10), torch.randn(6, 10)
    for distance in DISTANCES:
        batched = reconstruction_energy(x, r, distance)
        one_by_one = torch.cat(
            [reconstruction_energy(x[i : i + 1], r[i : i + 1], distance) for i in range(6)]
        )
        torch.testing.assert_close(batched, one_by_one)


def test_unknown_distance_is_an_error() -> None:
    with pytest.raises(ValueError, match="distance"):
        reconstruction_energy(X, R, "l3")


def test_mismatched_shapes_are_an_error() -> None:
    with pytest.raises(ValueError, match="shape"):
        reconstruction_energy(X, R[:, :1])


@pytest.mark.parametrize("distance", DISTANCES)
def test_gradcheck_through_input_and_reconstruction(distance: str) -> None:
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(3, 2, 3, dtype=torch.float64, generator=generator, requires_grad=True)
    # Keep every difference away from 0, where l1 has a kink.
    offset = 0.5 + torch.rand(3, 2, 3, dtype=torch.float64, generator=generator)
    r = (x.detach() + offset).requires_grad_()
    assert torch.autograd.gradcheck(lambda a, b: reconstruction_energy(a, b, distance), (x, r))
