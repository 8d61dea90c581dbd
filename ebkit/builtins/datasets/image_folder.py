"""The ``folder`` dataset: every image under a directory, read with Pillow."""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch
from torch import Tensor

from ebkit.builtins.datasets.files import one_line, to_unit_range_
from ebkit.core.data import TensorDataset
from ebkit.core.errors import UsageError
from ebkit.core.interfaces import DataSpec

__all__ = ["IMAGE_SUFFIXES", "ImageFolder"]

IMAGE_SUFFIXES: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")
"""File suffixes that ``folder`` reads (compared case-insensitively)."""


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
        to_unit_range_(x)
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
        with warnings.catch_warnings():
            # Pillow only warns between 89 and 179 megapixels; an image that large is
            # refused before its pixels are allocated, like the larger ones.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(file)
        with image:
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
    # SyntaxError (broken PNG chunks), ValueError, or DecompressionBombError/Warning.
    except (
        OSError,
        SyntaxError,
        ValueError,
        Image.DecompressionBombError,
        Image.DecompressionBombWarning,
    ) as error:
        raise UsageError(f"cannot read image {file}: {one_line(error)}") from error
    tensor = torch.from_numpy(pixels)
    return tensor.unsqueeze(0) if tensor.ndim == 2 else tensor.permute(2, 0, 1)
