"""Tests for EBGAN's pulling-away term: its facts, a hand-computed case, its gradient and
the wrong variants found in the wild."""

from __future__ import annotations

import itertools

import pytest
import torch

from ebkit import DataSpec, EnergyOutput, Regularizer
from ebkit_pt.pulling_away import PullingAwayTerm, pulling_away_term

# Three codes with pairwise cosines 1/√2 (rows 0, 1), 0 (rows 0, 2) and −1/√2 (rows 1, 2):
# 1/(3·2) · 2 · (1/2 + 0 + 1/2) = 1/3.
THREE_ROWS = torch.tensor([[1.0, 0.0], [1.0, 1.0], [0.0, -2.0]])


def naive_pulling_away_term(features: torch.Tensor) -> torch.Tensor:
    """Eq. 14 written as the double loop of the paper."""
    n = features.shape[0]
    total = features.new_zeros(())
    for i, j in itertools.product(range(n), repeat=2):
        if i != j:
            s_i, s_j = features[i], features[j]
            total = total + (s_i @ s_j / (s_i.norm() * s_j.norm())) ** 2
    return total / (n * (n - 1))


def test_orthogonal_rows_give_zero() -> None:
    torch.testing.assert_close(pulling_away_term(torch.eye(4)), torch.tensor(0.0))
    rotated = torch.linalg.qr(torch.randn(5, 5, generator=torch.Generator().manual_seed(0)))[0]
    torch.testing.assert_close(pulling_away_term(rotated), torch.tensor(0.0), atol=1e-6, rtol=0)


def test_identical_rows_give_one() -> None:
    row = torch.tensor([[0.3, -1.2, 2.0]])
    torch.testing.assert_close(pulling_away_term(row.repeat(6, 1)), torch.tensor(1.0))


def test_opposite_rows_also_give_one() -> None:
    # The cosine is squared, so anti-parallel codes are as penalised as parallel ones.
    torch.testing.assert_close(
        pulling_away_term(torch.tensor([[1.0, 2.0], [-1.0, -2.0]])), torch.tensor(1.0)
    )


def test_three_rows_by_hand() -> None:
    torch.testing.assert_close(pulling_away_term(THREE_ROWS), torch.tensor(1.0 / 3.0))


def test_rescaling_a_row_changes_nothing() -> None:
    features = torch.randn(6, 4, generator=torch.Generator().manual_seed(1))
    scales = torch.tensor([[1.0], [10.0], [0.01], [3.0], [1e3], [0.5]])
    torch.testing.assert_close(pulling_away_term(features * scales), pulling_away_term(features))


@pytest.mark.parametrize("n", [0, 1])
def test_fewer_than_two_rows_give_zero_with_a_graph(n: int) -> None:
    features = torch.randn(n, 3, dtype=torch.float64, requires_grad=True)
    value = pulling_away_term(features)
    assert value.shape == () and value.dtype == torch.float64
    assert value.item() == 0.0
    value.backward()  # a caller may always backpropagate through the penalty
    torch.testing.assert_close(features.grad, torch.zeros(n, 3, dtype=torch.float64))


def test_matches_the_naive_double_loop() -> None:
    generator = torch.Generator().manual_seed(2)
    for n, f in [(2, 3), (5, 4), (16, 8), (9, 1)]:
        features = torch.randn(n, f, dtype=torch.float64, generator=generator)
        torch.testing.assert_close(pulling_away_term(features), naive_pulling_away_term(features))


def test_a_zero_row_contributes_zero_not_nan() -> None:
    features = torch.tensor([[0.0, 0.0], [1.0, 0.0], [1.0, 0.0]], requires_grad=True)
    # Only the pair (1, 2), counted twice, has a cosine: 2 · 1 / (3 · 2).
    value = pulling_away_term(features)
    torch.testing.assert_close(value, torch.tensor(1.0 / 3.0))
    value.backward()
    assert torch.isfinite(features.grad).all()


def test_works_in_half_precision() -> None:
    features = torch.tensor([[0.0, 0.0], [1.0, 1.0], [1.0, 1.0]], dtype=torch.float16)
    value = pulling_away_term(features)
    assert value.dtype == torch.float16
    assert float(value) == pytest.approx(1.0 / 3.0, rel=1e-2)


def test_gradcheck() -> None:
    features = torch.randn(
        4, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(3), requires_grad=True
    )
    assert torch.autograd.gradcheck(pulling_away_term, (features,))


def test_gradient_equals_autograd_through_the_plain_formula() -> None:
    def plain(features: torch.Tensor) -> torch.Tensor:
        n = features.shape[0]
        unit = features / features.norm(dim=1, keepdim=True)
        gram = unit @ unit.T
        return (gram.square().sum() - gram.diagonal().square().sum()) / (n * (n - 1))

    base = torch.randn(6, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    ours, theirs = base.clone().requires_grad_(True), base.clone().requires_grad_(True)
    (3.0 * pulling_away_term(ours)).backward()
    (3.0 * plain(theirs)).backward()
    torch.testing.assert_close(ours.grad, theirs.grad)


def test_a_zero_row_gets_a_zero_gradient() -> None:
    features = torch.tensor([[0.0, 0.0], [1.0, 0.5], [1.0, -1.0]], requires_grad=True)
    pulling_away_term(features).backward()
    assert torch.equal(features.grad[0], torch.zeros(2))
    assert features.grad[1:].abs().sum() > 0


def test_features_must_be_two_dimensional() -> None:
    with pytest.raises(ValueError, match="2-D"):
        pulling_away_term(torch.randn(4, 2, 2))


def test_differs_from_the_known_wrong_variants() -> None:
    features = THREE_ROWS
    n = features.shape[0]
    right = pulling_away_term(features)

    # Normalising each feature over the batch axis instead of each row.
    by_column = features / features.norm(dim=0, keepdim=True)
    gram = by_column @ by_column.T
    over_batch = (gram.square().sum() - gram.diagonal().square().sum()) / (n * (n - 1))

    unit = features / features.norm(dim=1, keepdim=True)
    cosines = unit @ unit.T
    keeping_diagonal = cosines.square().sum() / (n * (n - 1))
    not_squaring = (cosines.sum() - cosines.diagonal().sum()) / (n * (n - 1))

    for wrong in (over_batch, keeping_diagonal, not_squaring):
        assert not torch.isclose(right, wrong), float(wrong)


def test_regularizer_targets_the_sampler_and_requires_features() -> None:
    term = PullingAwayTerm(DataSpec((2,)))
    assert isinstance(term, Regularizer)
    assert term.weight == 0.02  # on vectors; the paper's 0.1 on images
    assert PullingAwayTerm(DataSpec((3, 8, 8))).weight == 0.1
    assert term.target == "sampler"
    assert term.requires == frozenset({"features"})
    assert PullingAwayTerm(DataSpec((2,)), weight=0.5).weight == 0.5


def test_penalty_reads_the_fake_features_and_flattens_them() -> None:
    term = PullingAwayTerm(DataSpec((1, 8, 8)))
    codes = THREE_ROWS.reshape(3, 1, 2)
    fake = EnergyOutput(energy=torch.zeros(3), features=codes)
    real = EnergyOutput(energy=torch.zeros(3), features=torch.eye(3))
    torch.testing.assert_close(term.penalty(real, fake), torch.tensor(1.0 / 3.0))
    torch.testing.assert_close(term.penalty(None, fake), torch.tensor(1.0 / 3.0))


def test_penalty_without_features_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="features"):
        PullingAwayTerm(DataSpec((2,))).penalty(None, EnergyOutput(energy=torch.zeros(3)))


def test_a_negative_weight_is_an_error() -> None:
    with pytest.raises(ValueError, match="weight"):
        PullingAwayTerm(DataSpec((2,)), weight=-0.1)
