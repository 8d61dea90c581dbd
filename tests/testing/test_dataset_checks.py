"""Tests for the testing kit's dataset check (ebkit.testing.check_dataset): it passes the
built-in datasets and healthy ones, and catches deliberately broken ones."""

from __future__ import annotations

import pytest
import torch

from ebkit import (
    Component,
    DataBatch,
    Dataset,
    DataSpec,
    Option,
)
from ebkit.builtins.datasets.hooks import ebkit_datasets
from ebkit.testing import (
    check_dataset,
)

VECTORS = DataSpec((2,), -4.0, 4.0)


def record(records, name: str) -> Component:
    (found,) = [item for item in records if item.name == name]
    return found


# -- datasets --------------------------------------------------------------------------------------


class HealthyDataset(Dataset):
    """Uniform points in [0, 1]² with labels 0..2, drawn from the generator only."""

    def __init__(self, path=None, *, scale: float = 1.0) -> None:
        self.scale = scale
        self.spec = DataSpec((2,), 0.0, scale, num_classes=3)

    def sample(self, batch_size, generator):
        x = self.scale * torch.rand(batch_size, 2, generator=generator)
        y = torch.randint(3, (batch_size,), generator=generator)
        return DataBatch(x, y)


class EpochsDataset(HealthyDataset):
    """A finite dataset served in shuffled epochs: its position is state."""

    def __init__(self, path=None, **options) -> None:
        super().__init__(path, **options)
        self.data = torch.linspace(0, 1, 22).reshape(11, 2)
        self.order = torch.arange(11)
        self.position = 11

    def sample(self, batch_size, generator):
        rows = []
        while len(rows) < batch_size:
            if self.position == len(self.order):
                self.order, self.position = torch.randperm(11, generator=generator), 0
            rows.append(int(self.order[self.position]))
            self.position += 1
        return DataBatch(self.data[rows], None)

    def state_dict(self):
        return {"order": self.order.clone(), "position": self.position}

    def load_state_dict(self, state):
        self.order, self.position = state["order"], state["position"]


class ForgetsPositionDataset(EpochsDataset):
    def state_dict(self):
        return {"order": self.order.clone()}

    def load_state_dict(self, state):
        self.order = state["order"]


class UnserialisableStateDataset(EpochsDataset):
    def state_dict(self):
        return {"order": self.order.clone(), "position": self.position, "extra": object()}


class OutOfRangeDataset(HealthyDataset):
    def sample(self, batch_size, generator):
        batch = super().sample(batch_size, generator)
        return DataBatch(batch.x + 2.0, batch.y)


class WrongShapeDataset(HealthyDataset):
    def sample(self, batch_size, generator):
        return DataBatch(torch.rand(batch_size, 3, generator=generator))


class GlobalRandomnessDataset(HealthyDataset):
    def sample(self, batch_size, generator):
        return DataBatch(torch.rand(batch_size, 2))


class LabelsWithoutClassesDataset(HealthyDataset):
    def __init__(self, path=None, **options) -> None:
        super().__init__(path, **options)
        self.spec = DataSpec((2,), 0.0, self.scale)


class FloatLabelsDataset(HealthyDataset):
    def sample(self, batch_size, generator):
        batch = super().sample(batch_size, generator)
        return DataBatch(batch.x, batch.y.float())


class NoSpecDataset(HealthyDataset):
    def __init__(self, path=None, **options) -> None:
        super().__init__(path, **options)
        self.spec = (2,)


def test_check_dataset_passes_healthy_datasets() -> None:
    check_dataset(HealthyDataset, scale=2.0)
    check_dataset(EpochsDataset, batch=4)  # batches that cross an epoch boundary
    check_dataset(
        Component("healthy", "uniform", HealthyDataset, (Option("scale", float, 1.0, "x"),))
    )


@pytest.mark.parametrize(
    "name", ["8gaussians", "25gaussians", "moons", "swissroll", "rings", "digits"]
)
def test_check_dataset_passes_the_builtin_datasets(name) -> None:
    check_dataset(record(ebkit_datasets(), name))


@pytest.mark.parametrize(
    ("broken", "message"),
    [
        (ForgetsPositionDataset, "a build restored from state_dict: different samples"),
        (UnserialisableStateDataset, "state 'extra' is neither a tensor nor JSON"),
        (OutOfRangeDataset, "outside the spec's"),
        (WrongShapeDataset, r"x shape \(7, 3\), expected \(7, \*\(2,\)\)"),
        (GlobalRandomnessDataset, "same generator seed: different samples"),
        (LabelsWithoutClassesDataset, "labels need spec.num_classes"),
        (FloatLabelsDataset, r"y must be \(B,\) int64"),
        (NoSpecDataset, "spec must be an ebkit.DataSpec"),
    ],
)
def test_check_dataset_catches_broken_datasets(broken, message) -> None:
    with pytest.raises(AssertionError, match=message):
        check_dataset(broken)


def test_check_dataset_passes_the_path_to_the_factory(tmp_path) -> None:
    seen = []

    def factory(path, **options):
        seen.append(path)
        return HealthyDataset(path, **options)

    check_dataset(factory, str(tmp_path))
    assert seen and set(seen) == {str(tmp_path)}
