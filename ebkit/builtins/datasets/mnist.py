"""The ``mnist`` dataset: MNIST from its IDX files, gzipped or raw.

The image payload is read in chunks of whole images straight into the float tensor, so
loading never holds a second full-size copy.
"""

from __future__ import annotations

import gzip
import os
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, ClassVar

import numpy as np
import torch
from torch import Tensor

from ebkit.builtins.datasets.byte_records import ByteRecordSource, RecordFile, StreamedByteImages
from ebkit.builtins.datasets.files import one_line, to_unit_range_
from ebkit.core.data import TensorDataset
from ebkit.core.errors import UsageError
from ebkit.core.interfaces import DataSpec

__all__ = ["MNIST", "mnist_dataset"]

_CHUNK_BYTES = 1 << 20
_GZIP_MAGIC = b"\x1f\x8b"
_IDX_IMAGES_MAGIC = 2051  # 0x00000803: unsigned bytes, 3 dimensions (N, rows, cols)
_IDX_LABELS_MAGIC = 2049  # 0x00000801: unsigned bytes, 1 dimension (N,)
_MNIST_PADDED = 32
_DEFLATE_MAX_RATIO = 1032
"""No deflate stream expands by more than this (RFC 1951's longest match per code), so a
gzipped file of ``n`` bytes holds at most ``n * 1032`` bytes of data."""


def _mnist_file_names(prefix: str) -> tuple[str, str]:
    return f"{prefix}-images-idx3-ubyte", f"{prefix}-labels-idx1-ubyte"


_MNIST_SPLITS = {"train": "train", "test": "t10k"}
_MNIST_LOOKED_FOR = (
    "train-images-idx3-ubyte[.gz] + train-labels-idx1-ubyte[.gz] and/or "
    "t10k-images-idx3-ubyte[.gz] + t10k-labels-idx1-ubyte[.gz]"
)


class MNIST(TensorDataset):
    """MNIST (or any IDX set in its layout: Fashion-MNIST, KMNIST) from a directory.

    ``path`` holds ``train-images-idx3-ubyte`` + ``train-labels-idx1-ubyte`` and/or
    ``t10k-images-idx3-ubyte`` + ``t10k-labels-idx1-ubyte``, each raw or gzipped (``.gz``;
    recognised by its magic bytes ``1f 8b`` or its suffix). ``split`` picks ``train``,
    ``test`` (the t10k files) or ``auto``: train when its files are there, else test.

    ``x: (N, 1, 28, 28)`` float32, pixel/127.5 − 1, so the background is −1 and ink
    reaches 1; ``y: (N,)`` int64. ``pad=True`` zero-pads to 32×32 (background −1), the
    input size of the EBGAN paper's MNIST grid search. ``num_classes`` is 10 (or the
    largest label + 1 if that is larger).
    """

    name: ClassVar[str] = "mnist"

    def __init__(
        self, path: str | os.PathLike[str] | None = None, *, split: str = "auto", pad: bool = False
    ) -> None:
        layout = _mnist_layout(path, split, pad)
        count, rows, cols = layout.count, layout.rows, layout.cols
        height, width = layout.side if pad else rows, layout.side if pad else cols
        # Zeros are the raw background value, so the border becomes −1 after scaling.
        x = torch.zeros(count, 1, height, width, dtype=torch.float32)
        top, left = (height - rows) // 2, (width - cols) // 2
        with _open_idx(layout.images) as stream:
            _read_into(stream, layout.images, memoryview(bytearray(16)))  # the header, checked
            _read_idx_images(stream, layout.images, x[:, 0, top : top + rows, left : left + cols])
        to_unit_range_(x)
        super().__init__(x, torch.from_numpy(layout.labels), layout.spec(pad))
        self.files = (layout.images, layout.labels_file)


@dataclass(frozen=True)
class _MnistLayout:
    """The checked files of one split: ``count`` images of ``rows``×``cols`` bytes."""

    images: Path
    labels_file: Path
    labels: np.ndarray
    count: int
    rows: int
    cols: int
    side: int = _MNIST_PADDED

    def spec(self, pad: bool) -> DataSpec:
        height, width = (self.side, self.side) if pad else (self.rows, self.cols)
        num_classes = max(10, int(self.labels.max()) + 1)
        return DataSpec(event_shape=(1, height, width), low=-1.0, high=1.0, num_classes=num_classes)


def _mnist_layout(path: str | os.PathLike[str] | None, split: str, pad: bool) -> _MnistLayout:
    if path is None:
        raise UsageError(f"dataset 'mnist' needs --data-path DIR with {_MNIST_LOOKED_FOR}")
    if split not in ("auto", *_MNIST_SPLITS):
        raise UsageError(f"data.split: {split!r} is not one of 'auto', 'train', 'test'")
    directory = Path(path)
    if not directory.is_dir():
        raise UsageError(
            f"dataset 'mnist': --data-path {directory} must be a directory with {_MNIST_LOOKED_FOR}"
        )
    images_file, labels_file = _find_mnist_files(directory, split)
    labels = _read_idx_labels(labels_file)
    with _open_idx(images_file) as stream:
        count, rows, cols = _read_idx_header(stream, images_file, _IDX_IMAGES_MAGIC, 3)
        _check_claimed_size(stream, images_file, 16, count * rows * cols)
    if count != len(labels):
        raise UsageError(
            f"{images_file} holds {count} images but {labels_file} holds {len(labels)} labels"
        )
    if pad and (rows > _MNIST_PADDED or cols > _MNIST_PADDED):
        raise UsageError(
            f"data.pad: the images of {images_file} are {rows}x{cols}, larger than "
            f"the {_MNIST_PADDED}x{_MNIST_PADDED} they would be padded to"
        )
    return _MnistLayout(images_file, labels_file, labels, count, rows, cols)


def mnist_dataset(
    path: str | os.PathLike[str] | None = None,
    *,
    split: str = "auto",
    pad: bool = False,
    stream: bool = False,
) -> MNIST | StreamedByteImages:
    """The ``mnist`` dataset: :class:`MNIST` in memory as float32, or with ``stream=True``
    the same values streamed (:class:`~ebkit.builtins.datasets.byte_records.StreamedByteImages`):
    a raw IDX file is memory-mapped, a gzipped one is decompressed once into uint8 (a
    quarter of the float32 size), and batches stay uint8 until they are on the device."""
    if not stream:
        return MNIST(path, split=split, pad=pad)
    layout = _mnist_layout(path, split, pad)
    pixels = layout.rows * layout.cols
    shape = (1, layout.rows, layout.cols)
    pad_to = layout.side if pad else None
    y = torch.from_numpy(layout.labels)
    with _open_idx(layout.images) as stream_:
        gzipped = isinstance(stream_, gzip.GzipFile)
        if gzipped:
            _read_into(stream_, layout.images, memoryview(bytearray(16)))
            array = np.empty((layout.count, pixels), dtype=np.uint8)
            got = _read_into(stream_, layout.images, memoryview(array).cast("B"))
            _check_payload_end(stream_, layout.images, array.size, got)
    if gzipped:
        source = ByteRecordSource(shape, y, array=array, pad_to=pad_to)
    else:
        part = RecordFile(str(layout.images), 16, layout.count, pixels)
        source = ByteRecordSource(shape, y, parts=[part], pad_to=pad_to)
    return StreamedByteImages(source, layout.spec(pad), (layout.images, layout.labels_file))


def _find_mnist_files(directory: Path, split: str) -> tuple[Path, Path]:
    """The images and labels files of ``split`` in ``directory`` (raw preferred to .gz)."""

    def find(name: str) -> Path | None:
        for candidate in (directory / name, directory / f"{name}.gz"):
            if candidate.is_file():
                return candidate
        return None

    if split == "auto":
        has_train = any(find(name) for name in _mnist_file_names(_MNIST_SPLITS["train"]))
        split = "train" if has_train else "test"
        if not has_train and not any(find(name) for name in _mnist_file_names("t10k")):
            raise UsageError(f"dataset 'mnist': {directory} has none of {_MNIST_LOOKED_FOR}")
    names = _mnist_file_names(_MNIST_SPLITS[split])
    found = [find(name) for name in names]
    missing = [f"{name}[.gz]" for name, file in zip(names, found, strict=True) if file is None]
    if missing:
        raise UsageError(
            f"dataset 'mnist' (split {split}): {directory} lacks {' and '.join(missing)}"
        )
    images_file, labels_file = found
    assert images_file is not None and labels_file is not None
    return images_file, labels_file


def _open_idx(path: Path) -> BinaryIO:
    """Open an IDX file for reading, decompressing it if it is gzipped."""
    try:
        with path.open("rb") as probe:
            gzipped = probe.read(2) == _GZIP_MAGIC
        if gzipped or path.suffix == ".gz":
            return gzip.open(path, "rb")  # type: ignore[return-value]
        return path.open("rb")
    except OSError as error:
        raise UsageError(f"cannot read {path}: {one_line(error)}") from error


def _read_into(stream: BinaryIO, path: Path, view: memoryview) -> int:
    """Fill ``view`` from ``stream``; return the number of bytes read (less at the end).

    A broken gzip stream surfaces here as EOFError (cut short), zlib.error or OSError
    (BadGzipFile, CRC mismatch); each becomes one line naming the file.
    """
    total = 0
    try:
        while total < len(view):
            got = stream.readinto(view[total:])
            if not got:
                break
            total += got
    except (EOFError, zlib.error, OSError) as error:
        raise UsageError(
            f"{path} is truncated or corrupt ({one_line(error) or type(error).__name__})"
        ) from error
    return total


def _read_idx_header(stream: BinaryIO, path: Path, magic: int, ndim: int) -> tuple[int, ...]:
    """Check the big-endian magic number and return the ``ndim`` dimension sizes."""
    header = bytearray(4 * (1 + ndim))
    got = _read_into(stream, path, memoryview(header))
    if got < 4:
        raise UsageError(f"{path} is too short ({got} bytes) to be an IDX file")
    (found,) = struct.unpack(">I", header[:4])
    if found != magic:
        kind = "images (N, rows, cols)" if magic == _IDX_IMAGES_MAGIC else "labels (N,)"
        raise UsageError(
            f"{path} has magic number {found} (0x{found:08x}), expected {magic} "
            f"(0x{magic:08x}: an IDX file of unsigned-byte {kind})"
        )
    if got < len(header):
        raise UsageError(f"{path} is truncated inside its {len(header)}-byte IDX header")
    dims = struct.unpack(f">{ndim}I", header[4:])
    if ndim > 1 and 0 in dims[1:]:
        raise UsageError(f"{path} declares images of size {dims[1]}x{dims[2]}")
    return dims


def _check_claimed_size(stream: BinaryIO, path: Path, header: int, payload: int) -> None:
    """Compare the data size a header claims with the file's size before anything that
    large is allocated: a raw file must hold exactly ``header + payload`` bytes; a gzipped
    one cannot hold more than :data:`_DEFLATE_MAX_RATIO` times its size."""
    try:
        size = path.stat().st_size
    except OSError as error:
        raise UsageError(f"cannot read {path}: {one_line(error)}") from error
    if isinstance(stream, gzip.GzipFile):
        if header + payload > size * _DEFLATE_MAX_RATIO:
            raise UsageError(
                f"{path}: the header promises {payload} bytes of data, more than a "
                f"{size}-byte gzip file can hold (damaged or not an IDX file)"
            )
    elif size - header != payload:
        raise UsageError(
            f"{path}: the header promises {payload} bytes of data but the file holds "
            f"{size - header}"
        )


def _check_payload_end(stream: BinaryIO, path: Path, expected: int, got: int) -> None:
    """A payload shorter or longer than the header says means a wrong or damaged file."""
    if got == expected:
        extra = 0
        buffer = bytearray(_CHUNK_BYTES)
        while count := _read_into(stream, path, memoryview(buffer)):
            extra += count
        if not extra:
            return
        got += extra
    raise UsageError(
        f"{path}: the header promises {expected} bytes of data but the file holds {got}"
    )


def _read_idx_labels(path: Path) -> np.ndarray:
    """The int64 labels of an IDX1 file (small enough to read at once)."""
    with _open_idx(path) as stream:
        (count,) = _read_idx_header(stream, path, _IDX_LABELS_MAGIC, 1)
        if count == 0:
            raise UsageError(f"{path} holds no labels")
        _check_claimed_size(stream, path, 8, count)
        raw = bytearray(count)
        got = _read_into(stream, path, memoryview(raw))
        _check_payload_end(stream, path, count, got)
    return np.frombuffer(raw, dtype=np.uint8).astype(np.int64)


def _read_idx_images(stream: BinaryIO, path: Path, out: Tensor) -> None:
    """Copy the byte pixels after the header into ``out: (N, rows, cols)`` (a float view),
    a whole number of images at a time, so no full-size byte copy ever exists."""
    count, rows, cols = out.shape
    image_bytes = rows * cols
    per_chunk = max(1, _CHUNK_BYTES // image_bytes)
    buffer = bytearray(per_chunk * image_bytes)
    expected = count * image_bytes
    got = 0
    for start in range(0, count, per_chunk):
        stop = min(start + per_chunk, count)
        wanted = (stop - start) * image_bytes
        read = _read_into(stream, path, memoryview(buffer)[:wanted])
        got += read
        if read < wanted:
            break
        pixels = torch.frombuffer(buffer, dtype=torch.uint8, count=wanted)
        out[start:stop].copy_(pixels.view(stop - start, rows, cols))
    _check_payload_end(stream, path, expected, got)
