"""The ``npz`` dataset: arrays stored in an .npz file.

uint8 images stored uncompressed (``np.savez``) are memory-mapped and streamed
(:mod:`ebkit.builtins.datasets.npz_mapped`); everything else is read into memory:
``np.load`` reads a member whole, so while converting it the stored array sits next to
the float tensor; afterwards only the tensor remains.
"""

from __future__ import annotations

import math
import os
import zipfile
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch
from torch import Tensor

from ebkit.builtins.datasets.files import one_line, to_unit_range_
from ebkit.builtins.datasets.npz_mapped import (
    MappedNpzImages,
    mappable_images,
    npy_labels,
    read_npy_header,
)
from ebkit.core.data import TensorDataset
from ebkit.core.errors import UsageError
from ebkit.core.interfaces import Dataset, DataSpec

__all__ = ["NpzArrays", "npz_dataset"]


_NPZ_SHAPES = "(N, D), (N, H, W), (N, C, H, W) or (N, H, W, C) with C = 1 or 3"


def npz_dataset(
    path: str | os.PathLike[str] | None = None,
    *,
    key: str = "x",
    label_key: str = "y",
    scale: str = "auto",
) -> Dataset:
    """The ``npz`` dataset: :class:`MappedNpzImages` (memory-mapped, streamed) for uint8
    images stored uncompressed with ``scale=auto``, else :class:`NpzArrays` (in memory).
    Both give the same values: uint8 0..255 onto [-1, 1]."""
    if path is not None and scale == "auto" and Path(path).is_file():
        file = Path(path)
        if zipfile.is_zipfile(file):
            _check_claimed_sizes(file, (key, label_key))
            layout = mappable_images(file, key)
            if layout is not None:
                raw_labels = npy_labels(file, label_key)
                labels = None
                if raw_labels is not None:
                    labels = _labels_tensor(raw_labels, layout.shape[0], file, label_key)
                return MappedNpzImages(file, layout, labels)
    return NpzArrays(path, key=key, label_key=label_key, scale=scale)


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
        _check_claimed_sizes(file, (key, label_key))
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
            raise UsageError(f"cannot read {file}: {one_line(error)}") from error
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


_DEFLATE_MAX_RATIO = 1032
"""No deflate stream expands by more than this, which bounds what a member can hold."""


def _check_claimed_sizes(file: Path, keys: tuple[str, ...]) -> None:
    """Compare the shape each wanted member's ``.npy`` header claims with the bytes the
    member can hold, before ``np.load`` allocates an array of that shape: a few bytes
    claiming ``(10**12, 2)`` must be one line, not an out-of-memory crash."""
    try:
        archive_size = file.stat().st_size
        with zipfile.ZipFile(file) as archive:
            members = {info.filename: info for info in archive.infolist()}
            for key in keys:
                info = members.get(f"{key}.npy")
                if info is None:
                    continue  # a missing array is reported by the caller
                limit = info.compress_size * (
                    1 if info.compress_type == zipfile.ZIP_STORED else _DEFLATE_MAX_RATIO
                )
                if info.compress_size > archive_size or info.file_size > limit:
                    raise UsageError(
                        f"{file}: member {key!r} claims {info.file_size} bytes, more than the "
                        f"{archive_size}-byte file can hold (damaged)"
                    )
                with archive.open(info) as member:
                    shape, _, dtype = read_npy_header(member)
                    data_bytes = info.file_size - member.tell()
                claimed = math.prod(shape) * dtype.itemsize
                if claimed > data_bytes:
                    raise UsageError(
                        f"{file}: array {key!r} claims shape {shape} of {dtype} ({claimed} bytes) "
                        f"but its member holds {max(data_bytes, 0)} bytes of data (damaged)"
                    )
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        raise UsageError(f"cannot read {file}: {one_line(error)}") from error


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
            to_unit_range_(x)
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
