"""Batch normalisation without affine map and the running statistics of the Ladder."""

from __future__ import annotations

import math

import pytest
import torch

from ebkit_ladder.normalization import (
    BN_EPS,
    BN_MOMENTUM,
    RunningStatistics,
    batch_normalize,
    batch_statistics,
)


def test_batch_statistics_are_the_mean_and_biased_variance() -> None:
    z = torch.tensor([[1.0, 2.0], [3.0, -2.0]])
    mean, var = batch_statistics(z)
    assert torch.equal(mean, torch.tensor([2.0, 0.0]))
    assert torch.equal(var, torch.tensor([1.0, 4.0]))  # ((3 − 1)/2)², ((2 + 2)/2)²


def test_batch_normalize_matches_the_hand_computation() -> None:
    z = torch.tensor([[1.0, 2.0], [3.0, -2.0]], dtype=torch.float64)
    normalised = batch_normalize(z, torch.tensor([2.0, 0.0]), torch.tensor([1.0, 4.0]))
    first, second = 1 / math.sqrt(1 + BN_EPS), 2 / math.sqrt(4 + BN_EPS)
    expected = torch.tensor([[-first, second], [first, -second]], dtype=torch.float64)
    torch.testing.assert_close(normalised, expected)


def test_statistics_in_training_update_the_running_ones_only_when_asked() -> None:
    statistics = RunningStatistics(2)
    z = torch.tensor([[1.0, 2.0], [3.0, -2.0]])
    mean, var = statistics.statistics(z, use_batch=True, update=False)
    assert torch.equal(mean, torch.tensor([2.0, 0.0]))
    assert torch.equal(var, torch.tensor([1.0, 4.0]))
    assert torch.equal(statistics.running_mean, torch.zeros(2))
    assert torch.equal(statistics.running_var, torch.ones(2))

    statistics.statistics(z, use_batch=True, update=True)
    # The running variance takes the unbiased estimate: B/(B − 1) · biased = 2, 8.
    expected_mean = BN_MOMENTUM * torch.tensor([2.0, 0.0])
    expected_var = (1 - BN_MOMENTUM) * torch.ones(2) + BN_MOMENTUM * torch.tensor([2.0, 8.0])
    torch.testing.assert_close(statistics.running_mean, expected_mean)
    torch.testing.assert_close(statistics.running_var, expected_var)


def test_evaluation_uses_the_running_statistics() -> None:
    statistics = RunningStatistics(2)
    statistics.running_mean.copy_(torch.tensor([0.5, -1.0]))
    statistics.running_var.copy_(torch.tensor([2.0, 3.0]))
    mean, var = statistics.statistics(torch.randn(1, 2), use_batch=False, update=True)
    assert torch.equal(mean, torch.tensor([0.5, -1.0]))
    assert torch.equal(var, torch.tensor([2.0, 3.0]))


def test_running_statistics_are_buffers_not_parameters() -> None:
    statistics = RunningStatistics(3)
    assert list(statistics.parameters()) == []
    assert set(statistics.state_dict()) == {"running_mean", "running_var"}


def test_a_batch_of_one_is_refused_in_training() -> None:
    with pytest.raises(ValueError, match="at least 2 samples per batch, got 1"):
        RunningStatistics(2).statistics(torch.ones(1, 2), use_batch=True, update=False)
