"""``mnist`` and ``cifar10`` with ``data.stream=true``: the same values as in memory, read
batch by batch from memory-mapped record files (or a uint8 array for gzipped IDX)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from idx_files import write_idx_set

from ebkit.builtins.datasets.byte_records import StreamedByteImages
from ebkit.builtins.datasets.mnist import MNIST, mnist_dataset
from ebkit.core.errors import UsageError


def all_samples(data: StreamedByteImages) -> tuple[torch.Tensor, torch.Tensor]:
    x, y = data.source.read(list(range(len(data.source))))
    return x.float() / 127.5 - 1, y


@pytest.mark.parametrize(("gz", "pad"), [(False, False), (False, True), (True, True)])
def test_streamed_mnist_holds_the_in_memory_values(tmp_path: Path, gz: bool, pad: bool) -> None:
    write_idx_set(tmp_path, n=7, gz=gz)
    streamed = mnist_dataset(tmp_path, pad=pad, stream=True)
    memory = MNIST(tmp_path, pad=pad)
    assert isinstance(streamed, StreamedByteImages) and streamed.spec == memory.spec
    x, y = all_samples(streamed)
    assert torch.equal(x, memory.x) and torch.equal(y, memory.y)
    # A raw file is mapped, not copied; a gzipped one is held once as uint8.
    assert (streamed.source.array is None) == (not gz)


def test_streamed_mnist_reads_any_order_of_indices(tmp_path: Path) -> None:
    images, labels = write_idx_set(tmp_path, n=9)
    streamed = mnist_dataset(tmp_path, stream=True)
    order = [8, 0, 5, 5, 2]
    x, y = streamed.source.read(order)
    assert torch.equal(x[:, 0], torch.from_numpy(images[order]))
    assert y.tolist() == labels[order].tolist()


def test_streamed_mnist_is_checked_like_the_in_memory_one(tmp_path: Path) -> None:
    write_idx_set(tmp_path, n=5, cut_images=10)
    with pytest.raises(UsageError, match="promises 3920 bytes of data but the file holds 3910"):
        mnist_dataset(tmp_path, stream=True)


def test_streamed_mnist_batches_are_float_in_unit_range_and_follow_epochs(tmp_path: Path) -> None:
    write_idx_set(tmp_path, n=8)
    streamed = mnist_dataset(tmp_path, stream=True)
    memory = MNIST(tmp_path)
    generator = torch.Generator().manual_seed(0)
    seen = [streamed.sample(4, generator) for _ in range(2)]
    for batch in seen:
        assert batch.x.dtype == torch.float32 and batch.x.shape == (4, 1, 28, 28)
    # One epoch of 8 in two batches: every image once, with its own label.
    both = torch.cat([batch.x for batch in seen])
    labels = torch.cat([batch.y for batch in seen])
    order = [int(torch.nonzero((memory.x == row).flatten(1).all(1))[0]) for row in both]
    assert sorted(order) == list(range(8)) and labels.tolist() == memory.y[order].tolist()


def test_streamed_records_arrive_through_a_worker_process(tmp_path: Path) -> None:
    images, _ = write_idx_set(tmp_path, n=6)
    alone = mnist_dataset(tmp_path, stream=True)
    with_worker = mnist_dataset(tmp_path, stream=True)
    with_worker.configure(workers=1)
    delivered = []
    for _ in range(4):  # two epochs of two batches
        expected = alone.sample(3, torch.Generator().manual_seed(1))
        got = with_worker.sample(3, torch.Generator().manual_seed(1))
        assert torch.equal(got.x, expected.x) and torch.equal(got.y, expected.y)
        delivered.append(got.x)
    with_worker.configure(workers=0)
    # Each epoch delivers every image once: the file's images, in some order.
    as_bytes = torch.round((torch.cat(delivered)[:, 0] + 1) * 127.5).to(torch.uint8)
    for epoch in (as_bytes[:6], as_bytes[6:]):
        rows = sorted(tuple(image.flatten().tolist()) for image in epoch)
        assert rows == sorted(tuple(image.flatten().tolist()) for image in images)
