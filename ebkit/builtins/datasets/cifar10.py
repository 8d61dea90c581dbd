"""The ``cifar10`` dataset: CIFAR-10 from its binary distribution.

Reads ``data_batch_1.bin`` … ``data_batch_5.bin`` (train) or ``test_batch.bin`` (test)
from the "CIFAR-10 binary version" archive, never the pickled Python version. Each
record is one label byte (0–9) followed by 3072 pixel bytes: the 1024 red, then green,
then blue values of a 32×32 image in row-major order, which is already the (C, H, W)
layout. Records are copied in chunks straight into the float tensor, so loading never
holds a second full-size copy.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch

from ebkit.builtins.datasets.byte_records import (
    ByteRecordSource,
    RecordFile,
    StreamedByteImages,
    record_labels,
)
from ebkit.builtins.datasets.files import one_line, to_unit_range_
from ebkit.core.data import TensorDataset
from ebkit.core.errors import UsageError
from ebkit.core.interfaces import DataSpec

__all__ = ["CIFAR10", "CLASS_NAMES", "cifar10_dataset"]

CLASS_NAMES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)
_SIDE = 32
_PIXELS = 3 * _SIDE * _SIDE
_RECORD = 1 + _PIXELS
_RECORDS_PER_CHUNK = 1024
_TRAIN_FILES = tuple(f"data_batch_{index}.bin" for index in range(1, 6))
_TEST_FILES = ("test_batch.bin",)
_LOOKED_FOR = "data_batch_1.bin … data_batch_5.bin and/or test_batch.bin"


class CIFAR10(TensorDataset):
    """CIFAR-10 (binary version) from a directory, e.g. ``cifar-10-batches-bin/``.

    ``split`` picks ``train`` (the five data batches), ``test`` (``test_batch.bin``) or
    ``auto``: train when ``data_batch_1.bin`` is there, else test. A train split with some
    of its five batches missing is an error unless ``partial=True`` (handy for quick
    runs on one batch).

    ``x: (N, 3, 32, 32)`` float32, pixel/127.5 − 1; ``y: (N,)`` int64 in 0..9
    (``CLASS_NAMES``). Every file is checked: its size must be a whole number of
    3073-byte records and every label byte must be below 10.
    """

    name: ClassVar[str] = "cifar10"

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        split: str = "auto",
        partial: bool = False,
    ) -> None:
        files = _checked_files(path, split, partial)
        counts = [_record_count(file) for file in files]
        x = torch.empty(sum(counts), 3, _SIDE, _SIDE, dtype=torch.float32)
        y = torch.empty(sum(counts), dtype=torch.int64)
        start = 0
        for file, count in zip(files, counts, strict=True):
            _read_records(file, x[start : start + count], y[start : start + count])
            start += count
        to_unit_range_(x)
        spec = DataSpec(event_shape=(3, _SIDE, _SIDE), low=-1.0, high=1.0, num_classes=10)
        super().__init__(x, y, spec)
        self.files = tuple(files)


def cifar10_dataset(
    path: str | os.PathLike[str] | None = None,
    *,
    split: str = "auto",
    partial: bool = False,
    stream: bool = False,
) -> CIFAR10 | StreamedByteImages:
    """The ``cifar10`` dataset: :class:`CIFAR10` in memory as float32, or with
    ``stream=True`` the same values streamed from the memory-mapped batch files
    (:class:`~ebkit.builtins.datasets.byte_records.StreamedByteImages`), uint8 until
    they are on the device. Only the labels are read at once, and checked like
    :class:`CIFAR10` checks them."""
    if not stream:
        return CIFAR10(path, split=split, partial=partial)
    files = _checked_files(path, split, partial)
    parts = [RecordFile(str(file), 0, _record_count(file), _RECORD, 1) for file in files]
    labels = []
    for part in parts:
        found = record_labels(part)
        if found.max() >= len(CLASS_NAMES):
            where = int(np.argmax(found >= len(CLASS_NAMES)))
            raise UsageError(
                f"{part.path}: record {where} has label {found.max()}, but CIFAR-10 labels "
                "are 0..9 (is this the CIFAR-100 binary version?)"
            )
        labels.append(torch.from_numpy(found.astype(np.int64)))
    spec = DataSpec(event_shape=(3, _SIDE, _SIDE), low=-1.0, high=1.0, num_classes=10)
    source = ByteRecordSource((3, _SIDE, _SIDE), torch.cat(labels), parts=parts)
    return StreamedByteImages(source, spec, files)


def _checked_files(path: str | os.PathLike[str] | None, split: str, partial: bool) -> list[Path]:
    if path is None:
        raise UsageError(f"dataset 'cifar10' needs --data-path DIR with {_LOOKED_FOR}")
    if split not in ("auto", "train", "test"):
        raise UsageError(f"data.split: {split!r} is not one of 'auto', 'train', 'test'")
    directory = Path(path)
    if not directory.is_dir():
        raise UsageError(
            f"dataset 'cifar10': --data-path {directory} must be a directory with "
            f"{_LOOKED_FOR} (the binary version, not the Python pickles)"
        )
    return _find_files(directory, split, partial)


def _find_files(directory: Path, split: str, partial: bool) -> list[Path]:
    if split == "auto":
        split = "train" if (directory / _TRAIN_FILES[0]).is_file() else "test"
        if split == "test" and not (directory / _TEST_FILES[0]).is_file():
            hint = ""
            if (directory / "data_batch_1").exists() or (directory / "test_batch").exists():
                hint = " (it holds the pickled Python version; download the binary version)"
            raise UsageError(f"dataset 'cifar10': {directory} has none of {_LOOKED_FOR}{hint}")
    names = _TRAIN_FILES if split == "train" else _TEST_FILES
    present = [directory / name for name in names if (directory / name).is_file()]
    missing = [name for name in names if not (directory / name).is_file()]
    if not present or (missing and not partial):
        raise UsageError(
            f"dataset 'cifar10' (split {split}): {directory} lacks {', '.join(missing)}"
            + (" (-o data.partial=true reads the batches that are there)" if present else "")
        )
    return present


def _record_count(path: Path) -> int:
    try:
        size = path.stat().st_size
    except OSError as error:
        raise UsageError(f"cannot read {path}: {one_line(error)}") from error
    if size == 0 or size % _RECORD:
        raise UsageError(
            f"{path} holds {size} bytes, not a whole number of {_RECORD}-byte CIFAR-10 "
            "records (1 label byte + 3072 pixel bytes)"
        )
    return size // _RECORD


def _read_records(path: Path, x: torch.Tensor, y: torch.Tensor) -> None:
    """Fill ``x: (n, 3, 32, 32)`` and ``y: (n,)`` from the ``n`` records of ``path``."""
    count = x.shape[0]
    try:
        with path.open("rb") as stream:
            for start in range(0, count, _RECORDS_PER_CHUNK):
                stop = min(start + _RECORDS_PER_CHUNK, count)
                raw = stream.read((stop - start) * _RECORD)
                if len(raw) != (stop - start) * _RECORD:
                    raise UsageError(f"{path} changed size while it was read")
                records = np.frombuffer(raw, dtype=np.uint8).reshape(stop - start, _RECORD)
                labels = records[:, 0]
                if labels.max() >= len(CLASS_NAMES):
                    where = start + int(np.argmax(labels >= len(CLASS_NAMES)))
                    raise UsageError(
                        f"{path}: record {where} has label {labels.max()}, but CIFAR-10 labels "
                        "are 0..9 (is this the CIFAR-100 binary version?)"
                    )
                y[start:stop] = torch.from_numpy(labels.astype(np.int64))
                pixels = torch.from_numpy(records[:, 1:].copy())
                x[start:stop].copy_(pixels.view(stop - start, 3, _SIDE, _SIDE))
    except OSError as error:
        raise UsageError(f"cannot read {path}: {one_line(error)}") from error
