"""The ``folder`` dataset: every image under a directory, read with Pillow as training
asks for it (:class:`ebkit.core.streaming.StreamingDataset`)."""

from __future__ import annotations

import io
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import IO, ClassVar

import numpy as np
import torch
from torch import Tensor

from ebkit.builtins.datasets.files import one_line
from ebkit.core.errors import UsageError
from ebkit.core.interfaces import DataSpec
from ebkit.core.streaming import SampleSource, StreamingDataset

__all__ = ["IMAGE_SUFFIXES", "ImageFolder", "decode_image", "decode_pixels", "pixel_batch"]

IMAGE_SUFFIXES: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")
"""File suffixes that ``folder`` reads (compared case-insensitively)."""


class ImageFolder(StreamingDataset):
    """Every image under a directory, read with Pillow, as ``(N, C, size, size)``.

    Files with the suffixes in :data:`IMAGE_SUFFIXES` (any case) are found recursively and
    read in sorted path order; names starting with ``.`` (hidden files, macOS ``._``
    forks) are skipped. Each image is centre-cropped to a square (the largest one that
    fits) and resized to ``size``×``size`` with bicubic filtering, then converted to
    grayscale (``channels=1``, Pillow mode ``L``) or RGB (``channels=3``); transparency
    is dropped, and animated images contribute their first frame. Values are
    pixel/127.5 − 1.

    The folder streams: only the list of files is held, images are decoded batch by
    batch (in ``train.workers`` processes, 0: in the training process) and stay uint8 until
    the batch is on the device. The first image is decoded when the dataset is built,
    so a folder of unreadable files is refused before a run starts; a damaged file met
    later stops training with one line naming it (the checkpoints saved so far stay).

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
        mode = "L" if channels == 1 else "RGB"
        decode_image(files[0], size, mode)  # refuse a folder that cannot be read at all
        spec = DataSpec(
            event_shape=(channels, size, size),
            low=-1.0,
            high=1.0,
            num_classes=len(self.classes) if labels else None,
        )
        source = _FolderSource([str(file) for file in files], y, size, mode)
        super().__init__(source, spec)
        self.files = files


class _FolderSource(SampleSource):
    """Decodes the images of a batch from their files (paths as plain strings: cheap to
    pickle into worker processes)."""

    def __init__(self, files: list[str], y: Tensor | None, size: int, mode: str) -> None:
        self.files, self.y, self.size, self.mode = files, y, size, mode

    def __len__(self) -> int:
        return len(self.files)

    def read(self, indices: Sequence[int]) -> tuple[Tensor, Tensor | None]:
        pixels = [decode_pixels(Path(self.files[index]), self.size, self.mode) for index in indices]
        return pixel_batch(pixels, self.size, self.mode), (
            None if self.y is None else self.y[list(indices)]
        )


def _image_files(root: Path) -> list[Path]:
    files = []
    for directory, subdirectories, names in os.walk(root):
        subdirectories[:] = [name for name in subdirectories if not name.startswith(".")]
        for name in names:
            if not name.startswith(".") and Path(name).suffix.lower() in IMAGE_SUFFIXES:
                files.append(Path(directory, name))
    # Sort by the path relative to the root so the order is the same on every machine.
    return sorted(files, key=lambda file: file.relative_to(root).as_posix())


def decode_image(file: Path, size: int, mode: str, content: bytes | None = None) -> Tensor:
    """One image (from ``file``, or from ``content`` read from an archive member named
    ``file``) as ``(C, size, size)`` uint8, centre-cropped and resized."""
    return pixel_batch([decode_pixels(file, size, mode, content)], size, mode)[0]


def pixel_batch(pixels: Sequence[np.ndarray], size: int, mode: str) -> Tensor:
    """Decoded images (:func:`decode_pixels`) as one ``(B, C, size, size)`` uint8 batch.

    The images are stacked as they come out of Pillow (rows, columns, channels) and
    turned channels-first in one copy of the whole batch: a copy per image costs about
    a tenth of the decoding itself. NumPy makes that copy: for uint8 its transposing
    copy is 3 µs per 64×64 RGB image against 9–20 µs for ``Tensor.contiguous``."""
    channels = 1 if mode == "L" else 3
    stacked = np.empty((len(pixels), size, size, channels), dtype=np.uint8)
    for row, image in enumerate(pixels):
        stacked[row] = image.reshape(size, size, channels)
    return torch.from_numpy(np.ascontiguousarray(stacked.transpose(0, 3, 1, 2)))


def decode_pixels(
    file: Path | str, size: int, mode: str, content: bytes | None = None
) -> np.ndarray:
    """One image as Pillow decodes it: ``(size, size)`` (mode ``L``) or ``(size, size, 3)``
    uint8, centre-cropped to a square and resized (bicubic). ``file`` is read, or only
    named in errors when ``content`` holds the file's bytes."""
    from PIL import Image

    try:
        with warnings.catch_warnings():
            # Pillow only warns between 89 and 179 megapixels; an image that large is
            # refused before its pixels are allocated, like the larger ones.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            opened: Path | str | IO[bytes] = file if content is None else io.BytesIO(content)
            image = Image.open(opened)
        with image:
            image.seek(0)
            converted = image.convert(mode)
            width, height = converted.size
            side = min(width, height)
            left, top = (width - side) // 2, (height - side) // 2
            square = (left, top, left + side, top + side)
            # Crop first: resize(box=...) would let the filter read pixels outside the box.
            resized = converted.crop(square).resize((size, size), Image.Resampling.BICUBIC)
            pixels = np.asarray(resized, dtype=np.uint8)
    # Pillow reports damaged files as OSError (UnidentifiedImageError, truncated data),
    # SyntaxError (broken PNG chunks), ValueError, or DecompressionBombError/Warning.
    except (
        OSError,
        SyntaxError,
        ValueError,
        Image.DecompressionBombError,
        Image.DecompressionBombWarning,
    ) as error:
        raise UsageError(f"cannot read image {file}: {one_line(error)}") from error
    return pixels
