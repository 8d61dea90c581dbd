"""uint8 images in an uncompressed ``.npz`` member, memory-mapped and streamed.

``np.load`` cannot memory-map a member of an ``.npz`` archive, but ``np.savez`` stores
members uncompressed (``ZIP_STORED``): the ``.npy`` bytes lie in the file as they are,
after the zip entry's local header, so :class:`numpy.memmap` can map them directly.
"""

from __future__ import annotations

import struct
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ebkit.builtins.datasets.files import one_line
from ebkit.core.errors import UsageError
from ebkit.core.interfaces import DataSpec
from ebkit.core.streaming import SampleSource, StreamingDataset

__all__ = ["MappedLayout", "MappedNpzImages", "mappable_images", "npy_labels", "read_npy_header"]

_LOCAL_HEADER = struct.Struct("<4s22xHH")
"""A zip local file header: signature, 22 bytes we skip, name and extra field lengths."""


class MappedLayout:
    """Where a member's array lies in the file: byte ``offset``, ``shape``, and whether
    its channels come last ``(N, H, W, C)``."""

    def __init__(self, offset: int, shape: tuple[int, ...], channels_last: bool) -> None:
        self.offset, self.shape, self.channels_last = offset, shape, channels_last

    @property
    def event_shape(self) -> tuple[int, int, int]:
        if len(self.shape) == 3:
            return (1, self.shape[1], self.shape[2])
        _, a, b, c = self.shape
        return (c, a, b) if self.channels_last else (a, b, c)


def read_npy_header(member: Any) -> tuple[tuple[int, ...], bool, np.dtype]:
    """An open ``.npy`` stream's header: ``(shape, fortran_order, dtype)``, the stream left
    at the first data byte (nothing of the array is read)."""
    version = np.lib.format.read_magic(member)
    read_header = (
        np.lib.format.read_array_header_1_0
        if version == (1, 0)
        else np.lib.format.read_array_header_2_0
    )
    return read_header(member)


def mappable_images(file: Path, key: str) -> MappedLayout | None:
    """The layout of member ``key`` if it can be streamed: uint8 images ``(N, H, W)``,
    ``(N, C, H, W)`` or ``(N, H, W, C)`` (C = 1 or 3) in C order, stored uncompressed;
    else ``None`` (the dataset is then read into memory)."""
    try:
        with zipfile.ZipFile(file) as archive:
            info = archive.getinfo(f"{key}.npy")
            if info.compress_type != zipfile.ZIP_STORED:
                return None
            with archive.open(info) as member:
                shape, fortran, dtype = read_npy_header(member)
                header_size = member.tell()
        with open(file, "rb") as handle:
            handle.seek(info.header_offset)
            signature, name_size, extra_size = _LOCAL_HEADER.unpack(handle.read(30))
    except (KeyError, OSError, ValueError, EOFError, zipfile.BadZipFile, struct.error):
        return None  # the in-memory reader reports what is wrong, in one line
    if signature != b"PK\x03\x04" or dtype != np.uint8 or fortran or len(shape) not in (3, 4):
        return None
    channels_last = len(shape) == 4 and shape[1] not in (1, 3) and shape[3] in (1, 3)
    if len(shape) == 4 and shape[1] not in (1, 3) and not channels_last:
        return None
    offset = info.header_offset + 30 + name_size + extra_size + header_size
    if offset + int(np.prod(shape)) > file.stat().st_size or shape[0] == 0:
        return None
    return MappedLayout(offset, tuple(int(size) for size in shape), channels_last)


class _MappedSource(SampleSource):
    """Reads batches from the memory-mapped array (mapped on first use, in each worker
    process: a mapping is not pickled)."""

    def __init__(self, file: Path, layout: MappedLayout, y: Tensor | None) -> None:
        self.file, self.layout, self.y = str(file), layout, y
        self._array: np.memmap[Any, Any] | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_array": None}

    def __len__(self) -> int:
        return self.layout.shape[0]

    def read(self, indices: Sequence[int]) -> tuple[Tensor, Tensor | None]:
        if self._array is None:
            self._array = np.memmap(
                self.file, np.uint8, "r", offset=self.layout.offset, shape=self.layout.shape
            )
        rows = np.sort(np.asarray(indices))  # ascending reads; reordered below
        try:
            taken = torch.from_numpy(np.ascontiguousarray(self._array[rows]))
        except OSError as error:
            raise UsageError(f"cannot read {self.file}: {one_line(error)}") from error
        inverse = torch.from_numpy(np.argsort(np.argsort(np.asarray(indices))))
        x = taken[inverse]
        if x.ndim == 3:
            x = x.unsqueeze(1)
        elif self.layout.channels_last:
            x = x.permute(0, 3, 1, 2).contiguous()
        return x, None if self.y is None else self.y[list(indices)]


class MappedNpzImages(StreamingDataset):
    """uint8 images of an ``.npz`` file, memory-mapped: pages are read as batches need
    them, so the file may be larger than memory. Built by the ``npz`` dataset when
    :func:`mappable_images` allows it; labels (``label_key``) are read into memory."""

    def __init__(self, file: Path, layout: MappedLayout, y: Tensor | None) -> None:
        num_classes = None if y is None else int(y.max()) + 1
        spec = DataSpec(layout.event_shape, low=-1.0, high=1.0, num_classes=num_classes)
        super().__init__(_MappedSource(file, layout, y), spec)
        self.path = file
        self.scale = "auto"


def npy_labels(file: Path, key: str) -> np.ndarray | None:
    """The labels array ``key`` of the archive, or ``None`` if it has none."""
    try:
        with np.load(file, allow_pickle=False) as arrays:
            return arrays[key] if key in arrays.files else None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        raise UsageError(f"cannot read {file}: {one_line(error)}") from error
