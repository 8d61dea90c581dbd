"""Tests for the embedded 8×8 digits dataset in ebkit.builtins.datasets.digits."""

from __future__ import annotations

from importlib import resources

import numpy as np
import pytest
import torch

from ebkit.builtins.datasets.digits import Digits
from ebkit.core.data import TensorDataset
from ebkit.core.errors import UsageError


@pytest.fixture(scope="module")
def digits() -> Digits:
    return Digits()


def test_embedded_file_has_the_documented_layout() -> None:
    with (
        resources.files("ebkit.builtins.datasets").joinpath("data/digits.npz").open("rb") as handle,
        np.load(handle, allow_pickle=False) as arrays,
    ):
        assert sorted(arrays.files) == ["images", "labels"]
        assert arrays["images"].dtype == np.uint8 and arrays["images"].shape == (1797, 8, 8)
        assert arrays["labels"].dtype == np.uint8 and arrays["labels"].shape == (1797,)
        assert arrays["images"].max() == 16


def test_shape_count_and_spec(digits: Digits) -> None:
    assert isinstance(digits, TensorDataset)
    assert len(digits) == 1797
    assert digits.x.shape == (1797, 1, 8, 8) and digits.x.dtype == torch.float32
    assert digits.spec.event_shape == (1, 8, 8)
    assert (digits.spec.low, digits.spec.high) == (-1.0, 1.0)
    assert digits.spec.num_classes == 10


def test_values_are_scaled_from_0_16_to_minus_one_one(digits: Digits) -> None:
    assert digits.x.min() == -1.0 and digits.x.max() == 1.0
    # x = v/8 − 1 for integer v in 0..16, so (x + 1)·8 must be integers.
    levels = (digits.x + 1) * 8
    assert torch.equal(levels, levels.round())
    assert len(levels.unique()) == 17


def test_labels_are_int64_digits_with_about_180_each(digits: Digits) -> None:
    assert digits.y is not None and digits.y.dtype == torch.int64
    counts = torch.bincount(digits.y, minlength=10)
    assert len(counts) == 10
    assert counts.min() >= 170 and counts.max() <= 190


def test_a_zero_looks_like_a_zero(digits: Digits) -> None:
    # A 0 has ink around its border and a hole in the middle.
    assert digits.y is not None
    zeros = digits.x[digits.y == 0].mean(dim=0)[0]
    assert zeros[3:5, 3:5].mean() < zeros[1:7, 1:7].mean()


def test_batches_are_labelled_and_seeded(digits: Digits) -> None:
    first = Digits().sample(64, torch.Generator().manual_seed(5))
    again = Digits().sample(64, torch.Generator().manual_seed(5))
    other = Digits().sample(64, torch.Generator().manual_seed(6))
    assert first.x.shape == (64, 1, 8, 8) and first.y is not None and first.y.shape == (64,)
    assert torch.equal(first.x, again.x) and torch.equal(first.y, again.y)
    assert not torch.equal(first.x, other.x)


def test_a_data_path_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match=r"'digits' is embedded .* takes no --data-path"):
        Digits("digits.npz")
