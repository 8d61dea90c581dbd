"""uint8 images stored as fixed-size records in files (MNIST's IDX, CIFAR-10's binary
batches), streamed: memory-mapped and read batch by batch, or held as one uint8 array
where the file is compressed. ``mnist`` and ``cifar10`` use it with ``data.stream=true``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ebkit.builtins.datasets.files import one_line
from ebkit.core.errors import UsageError
from ebkit.core.interfaces import DataSpec
from ebkit.core.streaming import SampleSource, StreamingDataset

__all__ = ["ByteRecordSource", "RecordFile", "StreamedByteImages", "record_labels"]


@dataclass(frozen=True)
class RecordFile:
    """``count`` records of ``record`` bytes each, from byte ``offset`` of ``path`` on; an
    image's pixels start ``skip`` bytes into its record (CIFAR-10: after the label byte)."""

    path: str
    offset: int
    count: int
    record: int
    skip: int = 0


class ByteRecordSource(SampleSource):
    """Images ``(C, H, W)`` uint8 from :class:`RecordFile` parts (memory-mapped on first
    use in each process: a mapping is not pickled into worker processes) or from
    ``array``, ``(N, C·H·W)`` uint8 held in memory. ``pad_to`` centres each image on a
    zero (background) square of that side."""

    def __init__(
        self,
        shape: tuple[int, int, int],
        y: Tensor,
        *,
        parts: Sequence[RecordFile] = (),
        array: np.ndarray | None = None,
        pad_to: int | None = None,
    ) -> None:
        if (array is None) == (not parts):
            raise ValueError("give either record files or an in-memory array")
        self.shape, self.y, self.parts, self.array, self.pad_to = shape, y, parts, array, pad_to
        self._starts = np.cumsum([0, *(part.count for part in parts)])
        self._maps: list[np.memmap[Any, Any]] | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_maps": None}

    def __len__(self) -> int:
        return len(self.y)

    def read(self, indices: Sequence[int]) -> tuple[Tensor, Tensor | None]:
        wanted = np.asarray(indices, dtype=np.int64)
        pixels = self._pixels(wanted).reshape(len(wanted), *self.shape)
        x = torch.from_numpy(pixels)
        if self.pad_to is not None:
            channels, height, width = self.shape
            padded = torch.zeros(len(wanted), channels, self.pad_to, self.pad_to, dtype=torch.uint8)
            top, left = (self.pad_to - height) // 2, (self.pad_to - width) // 2
            padded[:, :, top : top + height, left : left + width] = x
            x = padded
        return x, self.y[torch.from_numpy(wanted)]

    def _pixels(self, wanted: np.ndarray) -> np.ndarray:
        size = int(np.prod(self.shape))
        if self.array is not None:
            return self.array[wanted]
        if self._maps is None:
            self._maps = [_map(part) for part in self.parts]
        out = np.empty((len(wanted), size), dtype=np.uint8)
        which = np.searchsorted(self._starts, wanted, side="right") - 1
        for number, (part, mapped) in enumerate(zip(self.parts, self._maps, strict=True)):
            rows = np.flatnonzero(which == number)
            if not len(rows):
                continue
            local = wanted[rows] - self._starts[number]
            order = np.argsort(local)  # ascending reads: the pages in file order
            try:
                taken = mapped[local[order], part.skip : part.skip + size]
            except OSError as error:
                raise UsageError(f"cannot read {part.path}: {one_line(error)}") from error
            out[rows[order]] = taken
        return out


def _map(part: RecordFile) -> np.memmap[Any, Any]:
    try:
        return np.memmap(
            part.path, np.uint8, "r", offset=part.offset, shape=(part.count, part.record)
        )
    except (OSError, ValueError) as error:
        raise UsageError(f"cannot read {part.path}: {one_line(error)}") from error


def record_labels(part: RecordFile) -> np.ndarray:
    """The byte just before each record's pixels (CIFAR-10's label), as uint8."""
    return np.array(_map(part)[:, part.skip - 1])


class StreamedByteImages(StreamingDataset):
    """A :class:`ByteRecordSource` streamed: batches follow the epoch orders of
    :class:`~ebkit.core.streaming.StreamingDataset`, in ``train.workers`` processes, and
    stay uint8 until they are on the device. ``files`` names the files read."""

    def __init__(self, source: ByteRecordSource, spec: DataSpec, files: Sequence[Path]) -> None:
        super().__init__(source, spec)
        self.files = tuple(files)
