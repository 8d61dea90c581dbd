"""Streaming datasets: the epoch order derived from (seed, epoch) and sharded by rank,
batches that do not depend on the worker count, exact resume from four integers, uint8
until the device, and memory-mapped npz images."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from ebkit.builtins.datasets.npz import NpzArrays, npz_dataset
from ebkit.builtins.datasets.npz_mapped import MappedNpzImages
from ebkit.core.errors import UsageError
from ebkit.core.streaming import EpochOrder, StreamingDataset, epoch_seed

# -- the epoch order --------------------------------------------------------------------


@pytest.mark.parametrize("world_size", [1, 2, 3, 4])
def test_the_ranks_take_disjoint_equal_shares_of_every_epoch(world_size: int) -> None:
    size = 103
    for epoch in range(3):
        shares = [
            EpochOrder(size, 7, rank=rank, world_size=world_size).indices(epoch)
            for rank in range(world_size)
        ]
        together = torch.cat(shares)
        assert all(len(share) == size // world_size for share in shares)
        assert len(set(together.tolist())) == len(together)  # disjoint
        assert together.min() >= 0 and together.max() < size
    # One rank sees the whole permutation.
    assert sorted(EpochOrder(size, 7).indices(0).tolist()) == list(range(size))


def test_the_order_is_a_function_of_seed_and_epoch() -> None:
    order = EpochOrder(50, 3)
    assert torch.equal(order.indices(2), EpochOrder(50, 3).indices(2))
    assert not torch.equal(order.indices(0), order.indices(1))
    assert not torch.equal(order.indices(0), EpochOrder(50, 4).indices(0))
    # A fixed hash, not Python's salted hash(): the same on every machine and in every
    # release, or saved streaming runs would resume onto other batches.
    assert epoch_seed(0, 0) == 7120306904099482837


def test_batches_never_straddle_epochs_and_continue_from_a_position() -> None:
    order = EpochOrder(10, 1)
    batches = order.batches(4, 0, 0)
    first = [next(batches) for _ in range(4)]
    assert first[0] + first[1] == order.indices(0)[:8].tolist()  # 2 of 4 left over: dropped
    assert first[2] == order.indices(1)[:4].tolist()
    assert next(order.batches(4, 1, 4)) == first[3]


def test_bad_shares_are_refused() -> None:
    with pytest.raises(ValueError, match="rank 2 of world size 2"):
        EpochOrder(10, 0, rank=2, world_size=2)
    with pytest.raises(ValueError, match="3 samples cannot be shared among 4"):
        EpochOrder(3, 0, world_size=4)


# -- a streaming dataset: memory-mapped npz images --------------------------------------


@pytest.fixture
def images(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (37, 5, 6, 3), np.uint8)  # channels last
    labels = rng.integers(0, 4, 37)
    np.savez(tmp_path / "images.npz", x=pixels, y=labels)
    return tmp_path / "images.npz"


def draw(dataset: StreamingDataset, count: int, generator: torch.Generator) -> list[torch.Tensor]:
    return [dataset.sample(8, generator).x for _ in range(count)]


def test_uncompressed_uint8_images_are_mapped_with_the_in_memory_values(images: Path) -> None:
    mapped = npz_dataset(images)
    assert isinstance(mapped, MappedNpzImages)
    in_memory = NpzArrays(images)
    assert mapped.spec == in_memory.spec and mapped.spec.event_shape == (3, 5, 6)
    whole = mapped.in_memory(100)
    assert torch.equal(whole.x, in_memory.x) and torch.equal(whole.y, in_memory.y)
    batch = mapped.sample(8, torch.Generator().manual_seed(0))
    assert batch.x.dtype == torch.float32 and batch.y is not None
    # The batch is rows of the data: values and labels match.
    row = int((in_memory.x == batch.x[0]).flatten(1).all(1).nonzero()[0])
    assert batch.y[0] == in_memory.y[row]


def test_compressed_or_float_arrays_stay_in_memory(tmp_path: Path) -> None:
    pixels = np.zeros((4, 2, 2), np.uint8)
    np.savez_compressed(tmp_path / "packed.npz", x=pixels)
    np.savez(tmp_path / "floats.npz", x=pixels.astype(np.float32))
    np.savez(tmp_path / "vectors.npz", x=np.zeros((4, 2), np.uint8))
    for name in ("packed", "floats", "vectors"):
        assert isinstance(npz_dataset(tmp_path / f"{name}.npz"), NpzArrays), name
    assert isinstance(npz_dataset(tmp_path / "floats.npz", scale="none"), NpzArrays)


def test_batches_do_not_depend_on_the_worker_count(images: Path) -> None:
    batches = {}
    for workers in (0, 2):
        dataset = npz_dataset(images)
        dataset.configure(workers=workers)
        batches[workers] = draw(dataset, 9, torch.Generator().manual_seed(5))  # two epochs
    assert all(torch.equal(a, b) for a, b in zip(batches[0], batches[2], strict=True))


def test_resume_from_the_saved_integers_gives_the_same_batches(images: Path) -> None:
    generator = torch.Generator().manual_seed(5)
    uninterrupted = draw(npz_dataset(images), 10, generator)

    generator = torch.Generator().manual_seed(5)
    first = npz_dataset(images)
    first.configure(workers=1)
    before = draw(first, 3, generator)
    state = first.state_dict()
    assert set(state) == {"seed", "epoch", "position", "size"}
    json.dumps(state)  # plain integers, no order tensor
    resumed = npz_dataset(images)
    resumed.load_state_dict(state)
    after = draw(resumed, 7, torch.Generator().manual_seed(123))  # the generator is not used
    assert all(torch.equal(a, b) for a, b in zip(before + after, uninterrupted, strict=True))


def test_a_checkpoint_of_other_data_is_refused(images: Path) -> None:
    dataset = npz_dataset(images)
    dataset.sample(8, torch.Generator())
    state = {**dataset.state_dict(), "size": 99}
    with pytest.raises(ValueError, match="saved with 99 samples, the data now holds 37"):
        npz_dataset(images).load_state_dict(state)
    with pytest.raises(ValueError, match="does not match this dataset's size"):
        npz_dataset(images).load_state_dict({"order": torch.arange(36), "position": 0})


def test_a_checkpoint_with_a_whole_epoch_order_finishes_that_epoch(images: Path) -> None:
    # Checkpoints of folder runs from before it streamed hold the epoch's order.
    order = torch.randperm(37, generator=torch.Generator().manual_seed(1))
    dataset = npz_dataset(images)
    dataset.load_state_dict({"order": order, "position": 16})
    whole = dataset.in_memory(100).x
    generator = torch.Generator().manual_seed(2)
    assert torch.equal(dataset.sample(8, generator).x, whole[order[16:24]])
    saved = dataset.state_dict()
    assert torch.equal(saved["order"], order) and saved["position"] == 24
    assert torch.equal(dataset.sample(8, generator).x, whole[order[24:32]])
    # 5 of 37 left: the next epoch follows the (seed, epoch) order, seeded by the generator.
    dataset.sample(8, generator)
    assert dataset.state_dict()["epoch"] == 1 and "order" not in dataset.state_dict()


def test_shards_of_one_seed_are_disjoint_batches(images: Path) -> None:
    seen = []
    for rank in range(2):
        dataset = npz_dataset(images)
        dataset.configure(rank=rank, world_size=2, seed=11)
        assert len(dataset) == 18
        batch = dataset.sample(9, torch.Generator().manual_seed(rank))  # seed=11 wins
        seen.append({tuple(row.flatten().tolist()) for row in batch.x})
    assert not seen[0] & seen[1]


def test_bad_settings_are_one_line(images: Path) -> None:
    dataset = npz_dataset(images)
    for bad in (-1, True, 1.5):
        with pytest.raises(UsageError, match=r"--workers .*: must be an integer >= 0"):
            dataset.configure(workers=bad)
    with pytest.raises(UsageError, match="rank 3 of world size 2"):
        dataset.configure(rank=3, world_size=2)


def test_images_travel_as_uint8_until_the_device(images: Path, monkeypatch) -> None:
    moved: list[torch.dtype] = []
    original = torch.Tensor.to

    def spy(self, *args, **kwargs):
        moved.append(self.dtype)
        return original(self, *args, **kwargs)

    dataset = npz_dataset(images)
    dataset.configure(device="cpu")
    monkeypatch.setattr(torch.Tensor, "to", spy)
    dataset.sample(8, torch.Generator())
    assert moved[0] == torch.uint8  # the move to the device, before any conversion


def test_a_damaged_mapped_member_falls_back_to_the_one_line_error(tmp_path: Path) -> None:
    file = tmp_path / "cut.npz"
    np.savez(file, x=np.zeros((50, 8, 8), np.uint8))
    file.write_bytes(file.read_bytes()[:1000])
    with pytest.raises(UsageError) as error:
        npz_dataset(file)
    assert "\n" not in str(error.value) and str(file) in str(error.value)
