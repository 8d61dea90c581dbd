"""Tests for ebkit.metrics.anomaly: average ranks and the energy AUROC with ties ½."""

from __future__ import annotations

import itertools
import math
import re

import pytest
import torch

from ebkit.metrics import average_ranks, energy_auroc


def brute_force_auroc(inside: list[float], outside: list[float]) -> float:
    pairs = list(itertools.product(inside, outside))
    wins = sum(1.0 if out > inn else 0.5 if out == inn else 0.0 for inn, out in pairs)
    return wins / len(pairs)


def test_average_ranks_share_ties() -> None:
    ranks = average_ranks(torch.tensor([10.0, 20.0, 20.0, 30.0]))
    assert ranks.tolist() == [1.0, 2.5, 2.5, 4.0]
    ranks = average_ranks(torch.tensor([3, 1, 3, 3, 2]))
    assert ranks.tolist() == [4.0, 1.0, 4.0, 4.0, 2.0]


def test_perfect_reversed_and_tied_energies() -> None:
    inside, outside = torch.tensor([0.1, 0.2, 0.3]), torch.tensor([1.0, 2.0])
    assert energy_auroc(inside, outside) == 1.0
    assert energy_auroc(outside, inside) == 0.0
    assert energy_auroc(torch.ones(4), torch.ones(3)) == 0.5


def test_hand_computed_case_with_ties() -> None:
    # Outlier 2 beats 1, ties 2 (½), loses to 3; outlier 4 beats all three: 4.5 / 6.
    inside, outside = torch.tensor([1.0, 2.0, 3.0]), torch.tensor([2.0, 4.0])
    assert energy_auroc(inside, outside) == pytest.approx(0.75)


def test_matches_the_pairwise_definition_on_many_ties() -> None:
    generator = torch.Generator().manual_seed(0)
    inside = torch.randint(0, 6, (40,), generator=generator).double()
    outside = torch.randint(2, 8, (25,), generator=generator).double()
    expected = brute_force_auroc(inside.tolist(), outside.tolist())
    assert energy_auroc(inside, outside) == pytest.approx(expected)


def test_infinite_energies_rank_and_shapes_flatten() -> None:
    inside = torch.tensor([[0.0], [1.0]])
    outside = torch.tensor([math.inf, 0.5])
    assert energy_auroc(inside, outside) == pytest.approx(
        brute_force_auroc([0, 1], [math.inf, 0.5])
    )


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: energy_auroc(torch.tensor([]), torch.ones(2)), "in_distribution is empty"),
        (lambda: energy_auroc(torch.ones(2), torch.tensor([math.nan])), "outliers contains NaN"),
        (lambda: energy_auroc([1.0], torch.ones(2)), "must be a torch.Tensor"),
        (lambda: average_ranks(torch.ones(2, 2)), "shape (N,)"),
    ],
)
def test_bad_input_is_a_one_line_value_error(call, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)) as error:
        call()
    assert "\n" not in str(error.value)
