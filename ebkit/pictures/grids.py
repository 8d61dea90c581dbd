"""Sample pictures: image grids, 2-D scatters, and :func:`save_samples`, which picks the
picture that fits the data (the training callbacks and ``ebkit sample`` call it).

Image grids need only Pillow; scatters and lines use matplotlib
(:mod:`ebkit.pictures.figures`).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from ebkit.pictures.figures import PathLike, new_figure, save_figure, write_atomically

if TYPE_CHECKING:
    from ebkit.core.interfaces import DataSpec

__all__ = ["save_image_grid", "save_samples", "save_scatter"]

GRID_PADDING = 2
"""Pixels between and around the tiles of an image grid."""
GRID_PAD_VALUE = 128
"""Mid-grey padding, visible against both black backgrounds and white strokes."""
SCATTER_SIZE = (5.0, 5.0)
"""Scatter figure size in inches; at ``DPI`` this makes a 500×500 PNG."""
_MIN_TILE_PIXELS = 32


def save_image_grid(
    images: Tensor,
    path: PathLike,
    *,
    low: float = -1.0,
    high: float = 1.0,
    nrow: int | None = None,
    scale: int = 4,
) -> Path:
    """Tile ``images: (N, C, H, W)``, C = 1 (greyscale) or 3 (RGB), into one PNG.

    Values map linearly from ``[low, high]`` to 0..255 and are clamped. ``nrow`` is the
    number of images per row (as in torchvision's ``make_grid``), by default
    ``ceil(sqrt(N))``. Each image is enlarged ``scale`` times with nearest neighbour, so
    that 8×8 digits stay visible. The PNG is ``ncol·W·scale + (ncol+1)·2`` pixels wide
    and ``rows·H·scale + (rows+1)·2`` high (tiles padded by ``GRID_PADDING`` = 2).
    """
    from PIL import Image

    if images.ndim != 4 or images.shape[1] not in (1, 3):
        raise ValueError(f"images must be (N, 1 or 3, H, W), not {tuple(images.shape)}")
    if not high > low:
        raise ValueError(f"empty value range [{low}, {high}]")
    if scale < 1:
        raise ValueError(f"scale must be >= 1, not {scale}")
    count, channels = images.shape[0], images.shape[1]
    if count == 0:
        raise ValueError("no images to save")
    if nrow is not None and nrow < 1:
        raise ValueError(f"nrow must be >= 1, not {nrow}")
    columns = min(nrow or math.ceil(math.sqrt(count)), count)
    rows = math.ceil(count / columns)

    pixels = images.detach().to("cpu", torch.float32)
    pixels = ((pixels - low) * (255.0 / (high - low))).clamp(0, 255).round().to(torch.uint8)
    pixels = pixels.repeat_interleave(scale, dim=2).repeat_interleave(scale, dim=3)
    height, width = pixels.shape[2], pixels.shape[3]
    pad = GRID_PADDING
    grid = torch.full(
        (channels, rows * (height + pad) + pad, columns * (width + pad) + pad),
        GRID_PAD_VALUE,
        dtype=torch.uint8,
    )
    for index in range(count):
        top = pad + (index // columns) * (height + pad)
        left = pad + (index % columns) * (width + pad)
        grid[:, top : top + height, left : left + width] = pixels[index]

    # Pillow infers the mode from the array: (H, W) uint8 is "L", (H, W, 3) is "RGB".
    array = grid[0].numpy() if channels == 1 else grid.permute(1, 2, 0).contiguous().numpy()
    picture = Image.fromarray(array)
    return write_atomically(path, lambda target: picture.save(target, format="PNG"))


def save_scatter(
    real: Tensor | None,
    fake: Tensor,
    path: PathLike,
    *,
    title: str = "",
    bounds: tuple[float, float] | None = None,
) -> Path:
    """Scatter 2-D data ``real: (N, 2)`` (or ``None``) against contrastive samples
    ``fake: (M, 2)``, with a legend, as a 500×500 PNG. ``bounds = (low, high)`` fixes
    both axes; by default they fit the points."""
    points = {"data": real, "samples": fake}
    for label, value in points.items():
        if value is not None and (value.ndim != 2 or value.shape[1] != 2):
            raise ValueError(f"{label} must be (n, 2), not {tuple(value.shape)}")

    figure = new_figure(SCATTER_SIZE)
    axes = figure.add_subplot()
    marker_size = 4.0
    if real is not None:
        xy = real.detach().to("cpu", torch.float64).numpy()
        axes.scatter(xy[:, 0], xy[:, 1], s=marker_size, alpha=0.4, color="tab:blue", label="data")
    xy = fake.detach().to("cpu", torch.float64).numpy()
    axes.scatter(xy[:, 0], xy[:, 1], s=marker_size, alpha=0.6, color="tab:orange", label="samples")
    if bounds is not None:
        axes.set_xlim(*bounds)
        axes.set_ylim(*bounds)
    axes.set_aspect("equal", adjustable="box")
    axes.legend(loc="upper right", markerscale=3, framealpha=0.8)
    if title:
        axes.set_title(title)
    figure.tight_layout()
    return save_figure(figure, path)


def save_samples(
    samples: Tensor,
    path: PathLike,
    spec: DataSpec,
    *,
    reference: Tensor | None = None,
    per_row: int | None = None,
) -> Path:
    """Picture ``samples: (N, *spec.event_shape)`` the way their data is best seen.

    - images ``(C, H, W)``: a grid over ``[spec.low, spec.high]``, enlarged so every
      tile is at least about 32 pixels, ``per_row`` images per row (default: a square
      grid; a class grid passes the samples per class, one class per row);
    - 2-D points ``(2,)``: a scatter over ``reference`` data (if given) within the
      data range;
    - other vectors ``(D,)`` with D a perfect square: a grid of D-pixel square images;
    - anything else: each sample as a line over its D coordinates.
    """
    if tuple(samples.shape[1:]) != tuple(spec.event_shape):
        raise ValueError(
            f"samples have shape {tuple(samples.shape)}, expected (N, *{spec.event_shape})"
        )
    if spec.is_image:
        side = max(spec.event_shape[1:])
        scale = max(1, _MIN_TILE_PIXELS // side)
        return save_image_grid(
            samples, path, low=spec.low, high=spec.high, scale=scale, nrow=per_row
        )
    if tuple(spec.event_shape) == (2,):
        return save_scatter(reference, samples, path, bounds=(spec.low, spec.high))
    flat = samples.detach().reshape(samples.shape[0], -1)
    side = math.isqrt(flat.shape[1])
    if side * side == flat.shape[1] and side > 1:
        scale = max(1, _MIN_TILE_PIXELS // side)
        return save_image_grid(
            flat.reshape(-1, 1, side, side),
            path,
            low=spec.low,
            high=spec.high,
            scale=scale,
            nrow=per_row,
        )
    return _save_lines(flat, path, spec)


def _save_lines(flat: Tensor, path: PathLike, spec: DataSpec, *, limit: int = 64) -> Path:
    """Up to ``limit`` samples ``(N, D)`` as lines over their coordinate index."""
    values = flat[:limit].to("cpu", torch.float64).numpy()
    figure = new_figure((6.0, 4.0))
    axes = figure.add_subplot()
    axes.plot(values.T, linewidth=0.8, alpha=0.6)
    axes.set_ylim(spec.low, spec.high)
    axes.set_xlabel("coordinate")
    axes.set_title(f"{len(values)} of {flat.shape[0]} samples", fontsize=9)
    figure.tight_layout()
    return save_figure(figure, path)
