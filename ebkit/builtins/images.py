"""Image and array datasets read from ``--data-path``: MNIST IDX files, image folders, .npz.

All three hold their samples once, as one float32 tensor in ``[-1, 1]`` (``npz`` with
``scale=none`` keeps the data's own range), and serve them in shuffled epochs through
:class:`ebkit.data.TensorDataset`. They are streaming-friendly: the float tensor is
allocated up front and filled piece by piece (1 MiB of IDX payload, one image of a
folder), so loading never needs a second full-size copy of the data; only ``npz`` holds
the stored array next to the float tensor while converting it, because ``np.load`` reads a
member whole.

Every problem with the input (no path, missing files, a wrong magic number, a truncated
or corrupt file, mismatched counts, an empty folder, a missing array) is a
:class:`ebkit.errors.UsageError`: one line naming the file, exit code 2. These are
files the user pointed ``--data-path`` at, so they are treated as a mistake in the
request rather than as a failure of ebkit (exit code 1 is kept for ebkit's own data,
such as the embedded digits).
"""

from __future__ import annotations

import gzip
import math
import os
import struct
import zipfile
import zlib
from pathlib import Path
from typing import BinaryIO, ClassVar

import numpy as np
import torch
from torch import Tensor

from ebkit.data import TensorDataset
from ebkit.errors import UsageError
from ebkit.interfaces import DataSpec

__all__ = ["IMAGE_SUFFIXES", "MNIST", "ImageFolder", "NpzArrays"]

_CHUNK_BYTES = 1 << 20
_GZIP_MAGIC = b"\x1f\x8b"
_IDX_IMAGES_MAGIC = 2051  # 0x00000803: unsigned bytes, 3 dimensions (N, rows, cols)
_IDX_LABELS_MAGIC = 2049  # 0x00000801: unsigned bytes, 1 dimension (N,)
_MNIST_PADDED = 32

IMAGE_SUFFIXES: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")
"""File suffixes that ``folder`` reads (compared case-insensitively)."""


def _one_line(message: object) -> str:
    """Collapse whitespace so that a library's multi-line message stays on one line."""
    return " ".join(str(message).split())


def _to_unit_range_(x: Tensor) -> Tensor:
    """Map byte values 0..255 held in a float tensor onto [-1, 1], in place."""
    return x.div_(127.5).sub_(1.0)


# --------------------------------------------------------------------------------------
# MNIST (IDX files)


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
        if path is None:
            raise UsageError(f"dataset 'mnist' needs --data-path DIR with {_MNIST_LOOKED_FOR}")
        if split not in ("auto", *_MNIST_SPLITS):
            raise UsageError(f"data.split: {split!r} is not one of 'auto', 'train', 'test'")
        directory = Path(path)
        if not directory.is_dir():
            raise UsageError(
                f"dataset 'mnist': --data-path {directory} must be a directory with "
                f"{_MNIST_LOOKED_FOR}"
            )
        images_file, labels_file = _find_mnist_files(directory, split)
        labels = _read_idx_labels(labels_file)
        with _open_idx(images_file) as stream:
            count, rows, cols = _read_idx_header(stream, images_file, _IDX_IMAGES_MAGIC, 3)
            if count != len(labels):
                raise UsageError(
                    f"{images_file} holds {count} images but {labels_file} holds "
                    f"{len(labels)} labels"
                )
            if pad and (rows > _MNIST_PADDED or cols > _MNIST_PADDED):
                raise UsageError(
                    f"data.pad: the images of {images_file} are {rows}x{cols}, larger than "
                    f"the {_MNIST_PADDED}x{_MNIST_PADDED} they would be padded to"
                )
            height, width = (_MNIST_PADDED, _MNIST_PADDED) if pad else (rows, cols)
            # Zeros are the raw background value, so the border becomes −1 after scaling.
            x = torch.zeros(count, 1, height, width, dtype=torch.float32)
            top, left = (height - rows) // 2, (width - cols) // 2
            _read_idx_images(stream, images_file, x[:, 0, top : top + rows, left : left + cols])
        _to_unit_range_(x)
        y = torch.from_numpy(labels)
        num_classes = max(10, int(labels.max()) + 1)
        spec = DataSpec(event_shape=(1, height, width), low=-1.0, high=1.0, num_classes=num_classes)
        super().__init__(x, y, spec)
        self.files = (images_file, labels_file)


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
        raise UsageError(f"cannot read {path}: {_one_line(error)}") from error


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
            f"{path} is truncated or corrupt ({_one_line(error) or type(error).__name__})"
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


# --------------------------------------------------------------------------------------
# Image folder (Pillow)


class ImageFolder(TensorDataset):
    """Every image under a directory, read with Pillow, as ``(N, C, size, size)``.

    Files with the suffixes in :data:`IMAGE_SUFFIXES` (any case) are found recursively and
    read in sorted path order; names starting with ``.`` (hidden files, macOS ``._``
    forks) are skipped. Each image is centre-cropped to a square (the largest one that
    fits) and resized to ``size``×``size`` with bicubic filtering, then converted to
    grayscale (``channels=1``, Pillow mode ``L``) or RGB (``channels=3``); transparency
    is dropped, and animated images contribute their first frame. Values are
    pixel/127.5 − 1.

    With ``labels=True`` the name of the sub-folder directly under ``path`` is the
    class: classes are the sorted sub-folder names (``self.classes``), ``y`` their
    indices, and every image must sit in a sub-folder.
    """

    name: ClassVar[str] = "folder"

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        size: int = 32,
        channels: int = 3,
        labels: bool = False,
    ) -> None:
        if path is None:
            raise UsageError("dataset 'folder' needs --data-path DIR (a folder of images)")
        if channels not in (1, 3):
            raise UsageError(f"data.channels: {channels!r} must be 1 (grayscale) or 3 (RGB)")
        if not isinstance(size, int) or size < 1:
            raise UsageError(f"data.size: {size!r} must be a positive integer")
        root = Path(path)
        if not root.is_dir():
            raise UsageError(f"dataset 'folder': --data-path {root} is not a directory")
        files = _image_files(root)
        if not files:
            raise UsageError(
                f"no images found under {root} (looked for {', '.join(IMAGE_SUFFIXES)})"
            )
        self.classes: list[str] = []
        y = None
        if labels:
            loose = next((file for file in files if file.parent == root), None)
            if loose is not None:
                raise UsageError(
                    f"data.labels=true needs every image in a class sub-folder of {root}; "
                    f"{loose} is not"
                )
            parts = [file.relative_to(root).parts[0] for file in files]
            self.classes = sorted(set(parts))
            index = {name: i for i, name in enumerate(self.classes)}
            y = torch.tensor([index[part] for part in parts], dtype=torch.int64)
        x = torch.empty(len(files), channels, size, size, dtype=torch.float32)
        for i, file in enumerate(files):
            x[i] = _load_image(file, size, "L" if channels == 1 else "RGB")
        _to_unit_range_(x)
        spec = DataSpec(
            event_shape=(channels, size, size),
            low=-1.0,
            high=1.0,
            num_classes=len(self.classes) if labels else None,
        )
        super().__init__(x, y, spec)
        self.files = files


def _image_files(root: Path) -> list[Path]:
    files = []
    for directory, subdirectories, names in os.walk(root):
        subdirectories[:] = [name for name in subdirectories if not name.startswith(".")]
        for name in names:
            if not name.startswith(".") and Path(name).suffix.lower() in IMAGE_SUFFIXES:
                files.append(Path(directory, name))
    # Sort by the path relative to the root so the order is the same on every machine.
    return sorted(files, key=lambda file: file.relative_to(root).as_posix())


def _load_image(file: Path, size: int, mode: str) -> Tensor:
    """One image as ``(C, size, size)`` float32 byte values 0..255."""
    from PIL import Image

    try:
        with Image.open(file) as image:
            image.seek(0)
            converted = image.convert(mode)
            width, height = converted.size
            side = min(width, height)
            left, top = (width - side) // 2, (height - side) // 2
            square = (left, top, left + side, top + side)
            # Crop first: resize(box=...) would let the filter read pixels outside the box.
            resized = converted.crop(square).resize((size, size), Image.Resampling.BICUBIC)
            pixels = np.array(resized, dtype=np.uint8)  # one small writable copy
    # Pillow reports damaged files as OSError (UnidentifiedImageError, truncated data),
    # SyntaxError (broken PNG chunks), ValueError, or DecompressionBombError.
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        raise UsageError(f"cannot read image {file}: {_one_line(error)}") from error
    tensor = torch.from_numpy(pixels)
    return tensor.unsqueeze(0) if tensor.ndim == 2 else tensor.permute(2, 0, 1)


# --------------------------------------------------------------------------------------
# Arrays in an .npz file


_NPZ_SHAPES = "(N, D), (N, H, W), (N, C, H, W) or (N, H, W, C) with C = 1 or 3"


class NpzArrays(TensorDataset):
    """Samples from an array in an ``.npz`` file (read with ``allow_pickle=False``).

    ``key`` names the samples array; its shape sets the event shape: ``(N, D)`` →
    vectors ``(D,)``; ``(N, H, W)`` → ``(1, H, W)``; ``(N, C, H, W)`` with C = 1 or 3 →
    as is; ``(N, H, W, C)`` with C = 1 or 3 → transposed to channels first (when both
    axis 1 and axis 3 could be channels, channels-first wins). ``label_key`` names
    integer labels ``(N,)``, used when the file has them (``num_classes`` = largest
    label + 1).

    ``scale``: ``minmax`` maps the data's minimum and maximum onto −1 and 1; ``none``
    keeps the values and sets ``spec.low``/``spec.high`` to the data's minimum and
    maximum; ``auto`` (default) maps uint8 from 0..255 onto [−1, 1], keeps data already
    within [−1, 1], and applies ``minmax`` to anything else.
    """

    name: ClassVar[str] = "npz"

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        key: str = "x",
        label_key: str = "y",
        scale: str = "auto",
    ) -> None:
        if path is None:
            raise UsageError("dataset 'npz' needs --data-path FILE.npz")
        if scale not in ("auto", "none", "minmax"):
            raise UsageError(f"data.scale: {scale!r} is not one of 'auto', 'none', 'minmax'")
        file = Path(path)
        if not file.is_file():
            raise UsageError(f"dataset 'npz': --data-path {file} is not a file")
        if not zipfile.is_zipfile(file):
            raise UsageError(f"{file} is not an .npz file (not a zip archive)")
        try:
            with np.load(file, allow_pickle=False) as arrays:
                if key not in arrays.files:
                    available = ", ".join(repr(name) for name in arrays.files) or "none"
                    raise UsageError(
                        f"{file} has no array {key!r} (data.key); it holds {available}"
                    )
                samples = arrays[key]
                raw_labels = arrays[label_key] if label_key in arrays.files else None
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
            raise UsageError(f"cannot read {file}: {_one_line(error)}") from error
        if not isinstance(samples, np.ndarray):
            raise UsageError(f"{file}: member {key!r} is not a NumPy array")
        is_uint8 = samples.dtype == np.uint8
        x = _samples_tensor(samples, file, key)
        del samples  # the float tensor is now the only full-size copy we keep
        event_shape = tuple(x.shape[1:])
        lowest, highest = float(x.min()), float(x.max())  # NaN and inf propagate here
        if not (math.isfinite(lowest) and math.isfinite(highest)):
            raise UsageError(f"{file}: array {key!r} holds NaN or infinite values")
        low, high = _scale_(x, scale, is_uint8, lowest, highest, f"{file}: array {key!r}")
        y, num_classes = None, None
        if raw_labels is not None:
            y = _labels_tensor(raw_labels, len(x), file, label_key)
            num_classes = int(y.max()) + 1
        super().__init__(x, y, DataSpec(event_shape, low=low, high=high, num_classes=num_classes))
        self.path = file
        self.scale = scale


def _samples_tensor(array: np.ndarray, file: Path, key: str) -> Tensor:
    """The samples as float32 ``(N, *event_shape)``, channels first, values unchanged."""
    if array.dtype.kind not in "biuf":
        raise UsageError(f"{file}: array {key!r} has dtype {array.dtype}, not numbers")
    shape = array.shape
    if array.ndim == 4 and shape[1] not in (1, 3) and shape[3] in (1, 3):
        source = torch.from_numpy(array).permute(0, 3, 1, 2)
    elif array.ndim in (2, 3) or (array.ndim == 4 and shape[1] in (1, 3)):
        source = torch.from_numpy(array)
        if array.ndim == 3:
            source = source.unsqueeze(1)
    else:
        raise UsageError(f"{file}: array {key!r} has shape {shape}; expected {_NPZ_SHAPES}")
    if len(source) == 0:
        raise UsageError(f"{file}: array {key!r} holds no samples")
    if source.dtype == torch.float32 and source.is_contiguous():
        return source  # already float32 and laid out right: share the array, no copy
    # One float32 allocation; copy_ casts (and transposes) in a single pass.
    return torch.empty(source.shape, dtype=torch.float32).copy_(source)


def _scale_(
    x: Tensor, scale: str, is_uint8: bool, lowest: float, highest: float, what: str
) -> tuple[float, float]:
    """Rescale ``x`` (whose extremes are ``lowest``/``highest``) in place as ``scale``
    says; return the resulting ``(low, high)`` for the spec."""
    if scale == "none":
        return lowest, highest
    if scale == "auto":
        if is_uint8:
            _to_unit_range_(x)
            return -1.0, 1.0
        if lowest >= -1.0 and highest <= 1.0:
            return -1.0, 1.0
    if highest == lowest:
        raise UsageError(
            f"{what}: every value is {lowest:g}, so data.scale={scale} cannot stretch it to "
            "[-1, 1]; use data.scale=none"
        )
    # clamp_ absorbs rounding just outside [-1, 1] at the extremes.
    x.sub_(lowest).mul_(2.0 / (highest - lowest)).sub_(1.0).clamp_(-1.0, 1.0)
    return -1.0, 1.0


def _labels_tensor(array: np.ndarray, count: int, file: Path, key: str) -> Tensor:
    if array.shape != (count,):
        raise UsageError(
            f"{file}: array {key!r} has shape {array.shape} but there are {count} samples; "
            f"labels must be ({count},)"
        )
    if array.dtype.kind == "f" and np.array_equal(array, np.round(array)):
        array = array.astype(np.int64)
    if array.dtype.kind not in "biu":
        raise UsageError(f"{file}: labels {key!r} have dtype {array.dtype}, not integers")
    labels = torch.from_numpy(array.astype(np.int64))
    if int(labels.min()) < 0:
        raise UsageError(f"{file}: labels {key!r} include negative values")
    return labels
