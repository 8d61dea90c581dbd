"""Tests for the seeded semi-supervised splits."""

from __future__ import annotations

import pytest
import torch

from ebkit.core.data import TensorDataset
from ebkit.core.interfaces import DataSpec
from ebkit.runs.splits import (
    balanced_labelled_subset,
    semi_supervised,
    semi_supervised_split,
    stratified_holdout,
)


def labelled_dataset(per_class: tuple[int, ...]) -> TensorDataset:
    y = torch.cat([torch.full((n,), c) for c, n in enumerate(per_class)])
    # Each sample's value is its index, so the parts can be traced back.
    x = torch.arange(len(y), dtype=torch.float32).reshape(-1, 1)
    return TensorDataset(x, y, DataSpec((1,), low=0.0, high=float(len(y)), num_classes=3))


def test_holdout_keeps_each_class_proportion() -> None:
    labels = torch.tensor([0] * 50 + [1] * 30 + [2] * 20)
    held = stratified_holdout(labels, 0.2, torch.Generator().manual_seed(0))
    assert torch.bincount(labels[held]).tolist() == [10, 6, 4]
    assert len(torch.unique(held)) == len(held)


def test_holdout_of_zero_is_empty_and_bad_fractions_are_refused() -> None:
    labels = torch.tensor([0, 1, 1])
    assert len(stratified_holdout(labels, 0.0, torch.Generator())) == 0
    for fraction in (-0.1, 1.0):
        with pytest.raises(ValueError, match=r"test fraction must be in \[0, 1\)"):
            stratified_holdout(labels, fraction, torch.Generator())


def test_labelled_subset_is_balanced_with_the_remainder_spread() -> None:
    labels = torch.tensor([0] * 20 + [1] * 20 + [2] * 20)
    chosen = balanced_labelled_subset(labels, 8, 3, torch.Generator().manual_seed(1))
    counts = sorted(torch.bincount(labels[chosen], minlength=3).tolist())
    assert counts == [2, 3, 3]


def test_labelled_subset_needs_one_per_class_and_enough_members() -> None:
    labels = torch.tensor([0] * 5 + [1] * 1)
    with pytest.raises(ValueError, match="at least one labelled example per class"):
        balanced_labelled_subset(labels, 1, 2, torch.Generator())
    with pytest.raises(ValueError, match="class 1 has only 1 training examples, 2 are needed"):
        balanced_labelled_subset(labels, 4, 2, torch.Generator())


def test_split_parts_are_disjoint_and_cover_the_dataset() -> None:
    dataset = labelled_dataset((40, 40, 40))
    split = semi_supervised_split(dataset, labels=9, test_fraction=0.25, seed=3)
    unlabelled = set(split.unlabelled.x.flatten().int().tolist())
    labelled = set(split.labelled.x.flatten().int().tolist())
    test = set(split.test_x.flatten().int().tolist())
    assert len(test) == 30 and len(labelled) == 9 and len(unlabelled) == 81
    assert not (unlabelled & labelled or unlabelled & test or labelled & test)
    assert unlabelled | labelled | test == set(range(120))
    assert split.unlabelled.y is None  # the labels of the unlabelled part are dropped
    assert torch.bincount(split.labelled.y).tolist() == [3, 3, 3]
    assert torch.equal(split.test_y, dataset.y[split.test_x.flatten().long()])


def test_split_depends_only_on_the_seed() -> None:
    dataset = labelled_dataset((30, 30, 30))
    first = semi_supervised_split(dataset, labels=6, test_fraction=0.2, seed=5)
    again = semi_supervised_split(dataset, labels=6, test_fraction=0.2, seed=5)
    other = semi_supervised_split(dataset, labels=6, test_fraction=0.2, seed=6)
    assert torch.equal(first.labelled.x, again.labelled.x)
    assert torch.equal(first.test_x, again.test_x)
    assert not torch.equal(first.labelled.x, other.labelled.x)


def test_split_needs_labels_held_in_memory() -> None:
    spec = DataSpec((1,))
    unlabelled = TensorDataset(torch.zeros(10, 1), None, spec)
    with pytest.raises(ValueError, match="--labels needs a dataset with labels"):
        semi_supervised_split(unlabelled, labels=2, test_fraction=0.2, seed=0)


def test_split_refuses_to_leave_nothing_unlabelled() -> None:
    dataset = labelled_dataset((2, 2, 2))
    with pytest.raises(ValueError, match="no unlabelled training examples are left"):
        semi_supervised_split(dataset, labels=6, test_fraction=0.0, seed=0)


def test_the_train_options_make_the_semi_supervised_extension_from_the_split() -> None:
    from ebkit.runs.settings import SemiSupervisedSettings

    dataset = labelled_dataset((40, 40, 40))
    assert semi_supervised(dataset, SemiSupervisedSettings(labels=0), seed=3) == (dataset, None)
    options = SemiSupervisedSettings(
        labels=9, test_fraction=0.25, supervised_weight=0.5, eval_every=7
    )
    unlabelled, extension = semi_supervised(dataset, options, seed=3)
    split = semi_supervised_split(dataset, labels=9, test_fraction=0.25, seed=3)
    assert torch.equal(unlabelled.x, split.unlabelled.x)
    assert torch.equal(extension.labelled.x, split.labelled.x)
    assert torch.equal(extension.test_y, split.test_y)
    assert (extension.weight, extension.eval_every) == (0.5, 7)
    assert extension.stateful() == {"labelled": extension.labelled}  # the checkpoint prefix
