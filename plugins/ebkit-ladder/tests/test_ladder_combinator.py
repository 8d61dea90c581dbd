"""The vanilla combinator g(z̃, u) against hand-computed values, its initialisation and
its gradients."""

from __future__ import annotations

import math

import pytest
import torch

from ebkit_ladder.combinator import (
    COMBINATOR_INIT,
    VanillaCombinator,
    combinator_mean_and_weight,
    vanilla_combinator,
)


def sigmoid(value: float) -> float:
    return 1.0 / (1.0 + math.exp(-value))


# Three units, each with its own a₁..a₁₀ (columns), chosen to exercise every term.
UNIT_PARAMETERS = [
    (1.0, 1.0, 0.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0),  # only the sigmoids
    (0.0, 0.0, 0.0, 2.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.25),  # only the linear parts
    (2.0, 1.0, 2.0, 0.0, 0.0, 1.0, -1.0, 0.0, 0.5, 0.0),  # both, with shifts
]
U = [0.0, 1.0, -2.0]
Z_CORRUPTED = [1.0, -1.0, 0.5]

# By hand: unit 0: μ = σ(0) = 0.5, v = σ(0) = 0.5, ẑ = (1 − 0.5)·0.5 + 0.5 = 0.75.
# unit 1: μ = 2·1 + 1 = 3, v = 0.25, ẑ = (−1 − 3)·0.25 + 3 = 2.
# unit 2: μ = 2·σ(−2 + 2) = 1, v = σ(2) + 0.5·(−2) = σ(2) − 1, ẑ = (0.5 − 1)·v + 1.
EXPECTED_MEAN = [0.5, 3.0, 1.0]
EXPECTED_WEIGHT = [0.5, 0.25, sigmoid(2.0) - 1.0]
EXPECTED_ESTIMATE = [0.75, 2.0, 1.0 - 0.5 * (sigmoid(2.0) - 1.0)]


def hand_case() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    a = torch.tensor(UNIT_PARAMETERS, dtype=torch.float64).T  # (10, 3)
    u = torch.tensor([U], dtype=torch.float64)
    z = torch.tensor([Z_CORRUPTED], dtype=torch.float64)
    return z, u, a


def test_mean_and_weight_match_the_hand_computation() -> None:
    _, u, a = hand_case()
    mean, weight = combinator_mean_and_weight(u, a)
    torch.testing.assert_close(mean, torch.tensor([EXPECTED_MEAN], dtype=torch.float64))
    torch.testing.assert_close(weight, torch.tensor([EXPECTED_WEIGHT], dtype=torch.float64))


def test_estimate_matches_the_hand_computation() -> None:
    z, u, a = hand_case()
    estimate = vanilla_combinator(z, u, a)
    torch.testing.assert_close(estimate, torch.tensor([EXPECTED_ESTIMATE], dtype=torch.float64))


def test_each_row_of_the_batch_is_combined_on_its_own() -> None:
    z, u, a = hand_case()
    batch_z, batch_u = torch.cat([z, z.flip(1)]), torch.cat([u, u.flip(1)])
    estimate = vanilla_combinator(batch_z, batch_u, a)
    torch.testing.assert_close(estimate[:1], vanilla_combinator(z, u, a))
    torch.testing.assert_close(estimate[1:], vanilla_combinator(z.flip(1), u.flip(1), a))


def test_v_one_and_mu_zero_keep_the_corrupted_code_and_v_zero_gives_mu() -> None:
    z = torch.tensor([[0.3, -1.2]])
    u = torch.tensor([[2.0, -0.5]])
    keep = torch.zeros(10, 2)
    keep[9] = 1.0  # a₁₀ = 1: v ≡ 1, μ ≡ 0
    torch.testing.assert_close(vanilla_combinator(z, u, keep), z)
    follow = torch.zeros(10, 2)
    follow[3] = 1.0  # a₄ = 1: μ = u, v ≡ 0
    torch.testing.assert_close(vanilla_combinator(z, u, follow), u)


def test_initial_parameters_are_a2_a7_one_and_the_rest_zero() -> None:
    assert COMBINATOR_INIT == (0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0)
    combinator = VanillaCombinator(4)
    assert combinator.a.shape == (10, 4)
    expected = torch.zeros(10, 4)
    expected[1] = 1.0  # a₂
    expected[6] = 1.0  # a₇
    assert torch.equal(combinator.a.detach(), expected)


def test_at_initialisation_the_estimate_is_zero_whatever_the_inputs() -> None:
    combinator = VanillaCombinator(5)
    generator = torch.Generator().manual_seed(0)
    z = torch.randn(7, 5, generator=generator).requires_grad_(True)
    u = torch.randn(7, 5, generator=generator).requires_grad_(True)
    estimate = combinator(z, u)
    assert torch.equal(estimate, torch.zeros(7, 5))
    estimate.sum().backward()
    # μ = v = 0 and both are flat in u at a₁ = a₄ = a₆ = a₉ = 0: nothing flows back yet,
    # but the a's get a gradient (∂ẑ/∂a₅ = 1 − v = 1), so training can leave the origin.
    assert torch.equal(z.grad, torch.zeros(7, 5))
    assert torch.equal(u.grad, torch.zeros(7, 5))
    assert torch.equal(combinator.a.grad[4], torch.full((5,), 7.0))


def test_gradcheck_in_float64() -> None:
    generator = torch.Generator().manual_seed(1)
    z = torch.randn(3, 4, generator=generator, dtype=torch.float64, requires_grad=True)
    u = torch.randn(3, 4, generator=generator, dtype=torch.float64, requires_grad=True)
    a = torch.randn(10, 4, generator=generator, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(vanilla_combinator, (z, u, a))


def test_parameters_of_the_wrong_shape_are_refused() -> None:
    with pytest.raises(ValueError, match=r"combinator parameters must be \(10, 3\)"):
        vanilla_combinator(torch.zeros(2, 3), torch.zeros(2, 3), torch.zeros(9, 3))
    with pytest.raises(ValueError, match="at least one unit"):
        VanillaCombinator(0)
