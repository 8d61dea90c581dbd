"""The LeCun et al. (2006) formulas against values computed by hand, and their gradients
against finite differences."""

from __future__ import annotations

import math

import pytest
import torch

from ebkit_lecun.formulas import (
    data_term_sampler_loss,
    energy_sampler_loss,
    hinge_loss,
    log_loss,
    mce_loss,
    pairwise_differences,
    square_exponential_loss,
    square_square_loss,
)

REAL = torch.tensor([0.5, -1.0])
FAKE = torch.tensor([2.0, 0.0, 1.0])


def close(actual: torch.Tensor, expected: float) -> None:
    torch.testing.assert_close(actual, torch.tensor(expected))


def test_square_square_by_hand() -> None:
    # data: mean(0.25, 1) = 0.625; fakes with m = 1.5: [−0.5]⁺², 1.5², 0.5² -> mean(0, 2.25, 0.25)
    close(square_square_loss(REAL, FAKE, 1.5), 0.625 + 2.5 / 3)
    # m = 0: no fake is below the margin, only the data term is left
    close(square_square_loss(REAL, FAKE, 0.0), 0.625)


def test_square_exponential_by_hand() -> None:
    pushed = (math.exp(-2.0) + 1.0 + math.exp(-1.0)) / 3
    close(square_exponential_loss(REAL, FAKE, 2.0), 0.625 + 2.0 * pushed)


def test_pairwise_differences_all_and_hardest() -> None:
    expected_all = torch.tensor([[-1.5, 0.5, -0.5], [-3.0, -1.0, -2.0]])
    torch.testing.assert_close(pairwise_differences(REAL, FAKE, "all"), expected_all)
    # the most offending contrastive sample is the one of lowest energy, 0.0
    torch.testing.assert_close(pairwise_differences(REAL, FAKE, "hardest"), REAL)
    with pytest.raises(ValueError, match="pairing must be one of all, hardest"):
        pairwise_differences(REAL, FAKE, "nearest")


def test_hinge_by_hand() -> None:
    # all pairs, m = 1: [1 + d]⁺ of the six differences above = −0.5→0, 1.5, 0.5, 0, 0, 0
    close(hinge_loss(REAL, FAKE, 1.0, "all"), 2.0 / 6)
    # hardest, m = 1: [1 + 0.5]⁺ = 1.5, [1 − 1]⁺ = 0
    close(hinge_loss(REAL, FAKE, 1.0, "hardest"), 0.75)


def test_log_loss_by_hand() -> None:
    differences = [-1.5, 0.5, -0.5, -3.0, -1.0, -2.0]
    expected = sum(math.log1p(math.exp(d)) for d in differences) / 6
    close(log_loss(REAL, FAKE, "all"), expected)
    close(
        log_loss(REAL, FAKE, "hardest"), (math.log1p(math.exp(0.5)) + math.log1p(math.exp(-1))) / 2
    )
    # equal energies: log 2 whatever the level
    close(log_loss(torch.tensor([7.0]), torch.tensor([7.0])), math.log(2.0))


def test_mce_by_hand() -> None:
    def sigmoid(t: float) -> float:
        return 1 / (1 + math.exp(-t))

    differences = [-1.5, 0.5, -0.5, -3.0, -1.0, -2.0]
    close(mce_loss(REAL, FAKE, "all"), sum(map(sigmoid, differences)) / 6)
    close(mce_loss(REAL, FAKE, "hardest"), (sigmoid(0.5) + sigmoid(-1.0)) / 2)


def test_sampler_losses_by_hand() -> None:
    close(data_term_sampler_loss(FAKE), 5.0 / 3)  # mean(4, 0, 1)
    close(energy_sampler_loss(FAKE), 1.0)


def test_batches_of_different_sizes() -> None:
    real, fake = torch.tensor([1.0]), torch.tensor([0.0, 2.0, 4.0, 6.0])
    close(square_square_loss(real, fake, 3.0), 1.0 + (9.0 + 1.0) / 4)
    close(hinge_loss(real, fake, 0.0, "all"), 0.25)  # only E⁻ = 0 is below E⁺ = 1


FORMULAS = {
    "square-square": lambda r, f: square_square_loss(r, f, 1.3),
    "square-exponential": lambda r, f: square_exponential_loss(r, f, 0.7),
    "hinge-all": lambda r, f: hinge_loss(r, f, 1.3, "all"),
    "hinge-hardest": lambda r, f: hinge_loss(r, f, 1.3, "hardest"),
    "log-all": lambda r, f: log_loss(r, f, "all"),
    "log-hardest": lambda r, f: log_loss(r, f, "hardest"),
    "mce-all": lambda r, f: mce_loss(r, f, "all"),
    "mce-hardest": lambda r, f: mce_loss(r, f, "hardest"),
}


@pytest.mark.parametrize("name", sorted(FORMULAS))
def test_gradients_match_finite_differences(name: str) -> None:
    # Energies spread so that no hinge sits at its kink and the minimum is unique.
    real = torch.tensor([0.31, -0.83, 1.17, 0.05], dtype=torch.float64, requires_grad=True)
    fake = torch.tensor([2.41, 0.62, -0.47], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(FORMULAS[name], (real, fake))


@pytest.mark.parametrize("formula", [data_term_sampler_loss, energy_sampler_loss])
def test_sampler_loss_gradients(formula) -> None:
    fake = torch.tensor([2.41, 0.62, -0.47], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(formula, (fake,))


def test_hardest_pairing_moves_only_the_lowest_contrastive_energy() -> None:
    fake = FAKE.clone().requires_grad_(True)
    log_loss(REAL, fake, "hardest").backward()
    assert fake.grad is not None
    assert fake.grad[1] < 0 and fake.grad[0] == 0 and fake.grad[2] == 0
