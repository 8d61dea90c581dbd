"""The ``shards`` dataset: images in WebDataset-style tar shards, streamed.

Large image collections are distributed as tar archives of a few thousand samples each,
the files of one sample sharing a name up to the first dot (``000123.jpg``,
``000123.cls``), the layout of the WebDataset format (Aizman et al. 2019, "High
Performance I/O For Large Scale Deep Learning"). Shards are read sequentially by
:mod:`ebkit.builtins.datasets.tar_samples`, which groups members as the ``webdataset``
package does at an eighth of :mod:`tarfile`'s cost per member.

Order and resume. Epoch ``e`` visits the shards in a permutation derived from
``(seed, e)``; process ``rank`` of ``world_size`` takes every ``world_size``-th of them,
and its ``workers`` processes take turns shard by shard. Each shard is decoded whole
and its samples are shuffled by a permutation derived from ``(seed, e, shard)``. The
batches cut from that sequence depend neither on the number of workers nor on
timing, and a checkpoint records where the next sample lies: ``(seed, epoch, shard,
offset)``. Resuming re-reads that one shard and skips its first ``offset`` samples, so
a resumed run sees exactly the batches of an uninterrupted one.
"""

from __future__ import annotations

import lzma
import os
import zlib
from collections.abc import Iterator
from itertools import count
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import Tensor

from ebkit.builtins.datasets.files import one_line
from ebkit.builtins.datasets.image_folder import IMAGE_SUFFIXES, decode_pixels, pixel_batch
from ebkit.builtins.datasets.tar_samples import (
    TarFormatError,
    open_shard,
    tar_files,
    tar_samples,
)
from ebkit.core.data import TensorDataset
from ebkit.core.errors import UsageError
from ebkit.core.interfaces import DataBatch, DataSpec
from ebkit.core.streaming import Streamed, epoch_seed

__all__ = ["SHARD_SUFFIXES", "ImageShards", "read_shard"]

SHARD_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz")
"""The names of the shards read from a ``--data-path`` directory."""
_UNREADABLE = (TarFormatError, OSError, EOFError, ValueError, zlib.error, lzma.LZMAError)


def read_shard(path: str, size: int, mode: str, classes: int) -> tuple[Tensor, Tensor | None]:
    """Every sample of one shard, in stored order: images ``(S, C, size, size)`` uint8
    and, with ``classes`` > 0, their labels from the ``.cls`` members."""
    images, labels = [], []
    try:
        with open_shard(path) as stream:
            for key, sample in tar_samples(stream):
                suffix = next((s for s in IMAGE_SUFFIXES if s[1:] in sample), None)
                if suffix is None:
                    raise UsageError(
                        f"shard {path}: sample {key!r} has no image member "
                        f"({', '.join(IMAGE_SUFFIXES)})"
                    )
                name = f"{path}/{key}{suffix}"  # for errors; a Path would cost 4 µs an image
                images.append(decode_pixels(name, size, mode, sample[suffix[1:]]))
                if classes:
                    labels.append(_label(key, sample, path, classes))
    except _UNREADABLE as error:
        first = error.args[0] if error.args else error
        raise UsageError(f"cannot read shard {path}: {one_line(first)}") from None
    return pixel_batch(images, size, mode), torch.tensor(
        labels, dtype=torch.int64
    ) if classes else None


def _check_first_member(path: str) -> None:
    """Read ``path`` up to its first file with the reader training uses, so that a file
    that is not a tar archive is refused when the dataset is built."""
    try:
        with open_shard(path) as stream:
            next(tar_files(stream), None)
    except _UNREADABLE as error:
        first = error.args[0] if error.args else error
        raise UsageError(f"cannot read shard {path}: {one_line(first)}") from None


def _label(key: str, sample: dict[str, bytes], path: str, classes: int) -> int:
    try:
        label = int(sample["cls"])  # int() reads ASCII digits from bytes too
    except (KeyError, ValueError):
        raise UsageError(
            f"shard {path}: sample {key!r} has no integer .cls member "
            f"(data.classes={classes} asks for labels)"
        ) from None
    if not 0 <= label < classes:
        raise UsageError(
            f"shard {path}: sample {key!r} has class {label}, outside "
            f"0..{classes - 1} (data.classes={classes})"
        )
    return label


class _ShardStream(torch.utils.data.IterableDataset):
    """Decoded shards in the order of the epochs, from item ``start`` on; worker ``w`` of
    ``W`` takes items ``start + w``, ``start + w + W``... and the DataLoader, which asks
    its workers in turn, delivers them in item order."""

    def __init__(self, owner: ImageShards, start: int) -> None:
        self.shards, self.seed = owner.shards, owner.seed
        self.rank, self.world_size = owner.rank, owner.world_size
        self.size, self.mode, self.classes = owner.size, owner.mode, owner.classes
        self.start = start

    def __iter__(self) -> Iterator[Any]:
        info = torch.utils.data.get_worker_info()
        worker, workers = (0, 1) if info is None else (info.id, info.num_workers)
        per_rank = len(self.shards) // self.world_size
        for item in count(self.start + worker, workers):
            epoch, index = divmod(item, per_rank)
            shard = shard_order(len(self.shards), self.seed, epoch, self.rank, self.world_size)
            chosen = shard[index]
            try:
                x, y = read_shard(self.shards[chosen], self.size, self.mode, self.classes)
            except UsageError as error:
                yield str(error)  # one line in the training process, not a traceback
                return
            generator = torch.Generator().manual_seed(epoch_seed(self.seed, epoch, chosen))
            shuffled = torch.randperm(len(x), generator=generator)
            yield item, x[shuffled], None if y is None else y[shuffled]


def shard_order(count: int, seed: int, epoch: int, rank: int, world_size: int) -> list[int]:
    """The shards process ``rank`` of ``world_size`` reads in epoch ``epoch``."""
    generator = torch.Generator().manual_seed(epoch_seed(seed, epoch))
    permutation = torch.randperm(count, generator=generator)
    return permutation[rank::world_size][: count // world_size].tolist()


class ImageShards(Streamed):
    """Images in WebDataset-style tar shards (see the module docstring for the order
    and how exactly a run resumes).

    ``path`` is a directory (its files named in :data:`SHARD_SUFFIXES`, sorted) or one
    shard. Images
    are centre-cropped and resized like ``folder``'s; with ``classes`` > 0 each sample's
    ``.cls`` member is its class. Every shard must be a readable tar archive (checked
    when the dataset is built, with the first sample decoded); damage inside a shard met
    later stops the run with one line naming it.
    """

    name: ClassVar[str] = "shards"

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        size: int = 32,
        channels: int = 3,
        classes: int = 0,
    ) -> None:
        if path is None:
            raise UsageError("dataset 'shards' needs --data-path DIR (a folder of .tar shards)")
        if channels not in (1, 3):
            raise UsageError(f"data.channels: {channels!r} must be 1 (grayscale) or 3 (RGB)")
        root = Path(path)
        if root.is_dir():
            shards = sorted(
                str(file)
                for file in root.iterdir()
                if file.is_file() and file.name.endswith(SHARD_SUFFIXES)
            )
        elif root.is_file():
            shards = [str(root)]
        else:
            raise UsageError(f"dataset 'shards': --data-path {root} does not exist")
        if not shards:
            raise UsageError(f"no shards ({', '.join(SHARD_SUFFIXES)}) found in {root}")
        for shard in shards[1:]:  # the first is read whole below
            _check_first_member(shard)
        self.shards, self.size, self.classes = shards, size, classes
        self.mode = "L" if channels == 1 else "RGB"
        first, _ = read_shard(shards[0], size, self.mode, classes)
        if not len(first):
            raise UsageError(f"shard {shards[0]} holds no samples")
        spec = DataSpec((channels, size, size), low=-1.0, high=1.0, num_classes=classes or None)
        super().__init__(spec)
        self.item = 0
        """The shard being read: item ``epoch × shards per rank + index``."""
        self.offset = 0
        """Samples of that shard already delivered."""
        self._current: tuple[int, Tensor, Tensor | None] | None = None

    def check_share(self, rank: int, world_size: int) -> None:
        if world_size < 1 or not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} of world size {world_size}: need 0 <= rank < size")
        if len(self.shards) < world_size:
            raise ValueError(
                f"{len(self.shards)} shards cannot be shared among {world_size} processes"
            )

    @property
    def per_rank(self) -> int:
        return len(self.shards) // self.world_size

    def sample(self, batch_size: int, generator: torch.Generator) -> DataBatch:
        if self.seed is None:
            self.seed = int(torch.randint(0, 2**62, (1,), generator=generator))
        parts: list[tuple[Tensor, Tensor | None]] = []
        taken, epoch, new_epochs = 0, self.item // self.per_rank, 0
        while taken < batch_size:
            item, x, y = self._shard()
            if item // self.per_rank != epoch:
                # Batches never straddle epochs: the end of the last one is dropped.
                if new_epochs:  # a whole epoch did not fill one batch
                    raise UsageError(
                        f"--batch-size {batch_size} exceeds the samples of an epoch of shards"
                    )
                parts, taken, epoch, new_epochs = [], 0, item // self.per_rank, 1
            chunk = slice(self.offset, self.offset + batch_size - taken)
            parts.append((x[chunk], None if y is None else y[chunk]))
            taken += len(x[chunk])
            self.offset += len(x[chunk])
            if self.offset >= len(x):
                self._current, self.item, self.offset = None, item + 1, 0
        xs = torch.cat([part[0] for part in parts])
        ys = None if parts[0][1] is None else torch.cat([part[1] for part in parts])
        return self.deliver(xs, ys)

    def _shard(self) -> tuple[int, Tensor, Tensor | None]:
        """The shard being read, read from the stream when it is the next one."""
        if self._current is not None and self._current[0] == self.item:
            return self._current
        if self._batches is None:
            self._batches = self.loader(_ShardStream(self, self.item), prefetch=2)
        delivered = next(self._batches)
        if isinstance(delivered, str):
            self._batches = None
            raise UsageError(delivered)
        self._current = delivered
        return delivered

    def in_memory(self, limit: int, generator: torch.Generator | None = None) -> TensorDataset:
        """The samples of the first shards (in sorted order), up to ``limit``."""
        xs, ys, held = [], [], 0
        for shard in self.shards:
            x, y = read_shard(shard, self.size, self.mode, self.classes)
            xs.append(x[: limit - held])
            ys.append(None if y is None else y[: limit - held])
            held += len(xs[-1])
            if held >= limit:
                break
        x = torch.cat(xs).to(torch.float32).div_(127.5).sub_(1.0)
        return TensorDataset(x, None if self.classes == 0 else torch.cat(ys), self.spec)

    def state_dict(self) -> dict[str, Tensor | int | float | str]:
        if self.seed is None:
            return {}
        epoch, shard = divmod(self.item, self.per_rank)
        return {
            "seed": self.seed,
            "epoch": epoch,
            "shard": shard,
            "offset": self.offset,
            "shards": len(self.shards),
        }

    def load_state_dict(self, state: dict[str, Tensor | int | float | str]) -> None:
        self._batches, self._current = None, None
        if not state:
            self.seed, self.item, self.offset = None, 0, 0
            return
        if int(state["shards"]) != len(self.shards):
            raise ValueError(
                f"the checkpoint was saved with {int(state['shards'])} shards, the data now "
                f"has {len(self.shards)}"
            )
        self.seed = int(state["seed"])
        self.item = int(state["epoch"]) * self.per_rank + int(state["shard"])
        self.offset = int(state["offset"])
