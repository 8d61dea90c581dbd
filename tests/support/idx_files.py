"""MNIST's IDX files written by the tests (LeCun et al. 1998's format: a big-endian magic
number, the dimensions, then the bytes), raw or gzipped, whole or damaged."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np

__all__ = ["idx_bytes", "write_idx_files", "write_idx_set"]


def idx_bytes(magic: int, dims: tuple[int, ...], payload: bytes) -> bytes:
    """One IDX file's bytes: the header for ``dims``, then ``payload`` as given (which
    a hostile test may make disagree with the header)."""
    return struct.pack(f">I{len(dims)}I", magic, *dims) + payload


def write_idx_files(
    directory: Path, images: bytes, labels: bytes, prefix: str = "train", *, gz: bool = False
) -> None:
    """Write the two files of an MNIST set, ``{prefix}-images-idx3-ubyte`` and
    ``{prefix}-labels-idx1-ubyte`` (with ``.gz`` when ``gz``), from their bytes."""
    for kind, data in (("images-idx3", images), ("labels-idx1", labels)):
        name = f"{prefix}-{kind}-ubyte"
        if gz:
            (directory / f"{name}.gz").write_bytes(gzip.compress(data))
        else:
            (directory / name).write_bytes(data)


def write_idx_set(
    directory: Path,
    prefix: str = "train",
    *,
    n: int = 5,
    n_labels: int | None = None,
    gz: bool = False,
    image_magic: int = 2051,
    label_magic: int = 2049,
    cut_images: int = 0,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Write ``n`` random 28×28 images and random labels 0–9 as an MNIST set; return
    them. ``n_labels``, the magic numbers and ``cut_images`` (bytes cut off the images
    file) make damaged sets."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, size=n if n_labels is None else n_labels, dtype=np.uint8)
    image_file = idx_bytes(image_magic, (n, 28, 28), images.tobytes())
    write_idx_files(
        directory,
        image_file[:-cut_images] if cut_images else image_file,
        idx_bytes(label_magic, (len(labels),), labels.tobytes()),
        prefix,
        gz=gz,
    )
    return images, labels
