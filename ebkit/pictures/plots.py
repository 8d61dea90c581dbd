"""PNG pictures of a run: sample grids and scatters, 2-D energy landscapes, and training
curves.

The training engine writes ``samples/*.png`` and ``curves.png`` with these functions;
``ebkit sample`` uses them too. Every file is written atomically (a temporary file in
the same directory, then ``os.replace``), so a reader never sees half a PNG, even if
the run is killed mid-write.

Image grids need only Pillow. Scatters, landscapes and curves use matplotlib, imported
when first needed, through its object-oriented ``Figure`` API: that renders with Agg without
``matplotlib.use`` or pyplot, so it works headless and never changes the backend (or
leaks figures) of a notebook that calls it.
"""

from __future__ import annotations

import math
import os
import secrets
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from ebkit.core.interfaces import DataSpec, EnergyFunction

__all__ = [
    "energy_levels",
    "energy_on_grid",
    "landscape_bounds",
    "save_curves",
    "save_energy_landscape",
    "save_image_grid",
    "save_samples",
    "save_scatter",
]

PathLike = str | os.PathLike[str]

GRID_PADDING = 2
"""Pixels between and around the tiles of an image grid."""
GRID_PAD_VALUE = 128
"""Mid-grey padding, visible against both black backgrounds and white strokes."""
SCATTER_SIZE = (5.0, 5.0)
"""Scatter figure size in inches; at ``DPI`` this makes a 500×500 PNG."""
DPI = 100
LANDSCAPE_SIZE = (6.0, 5.0)
"""Landscape figure size in inches (a 600×500 PNG): the square plot plus a colourbar."""
LANDSCAPE_RESOLUTION = 200
"""Grid points per axis of a landscape: 40 000 energy evaluations, a fraction of a second
for the default ``mlp`` energy on one CPU thread."""
LANDSCAPE_PADDING = 0.1
"""Margin around the data's bounding box, as a fraction of its larger side."""
_LANDSCAPE_AXES = (0.09, 0.08, 0.70, 0.84)  # a 4.2-inch square: left, bottom, width, height
_LANDSCAPE_COLOURBAR = (0.83, 0.08, 0.03, 0.84)
LANDSCAPE_BANDS = 16
"""Colour bands of a landscape, at equally spaced quantiles of the grid's energies."""
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
    return _write_atomically(path, lambda target: picture.save(target, format="PNG"))


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

    figure = _new_figure(SCATTER_SIZE)
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
    return _save_figure(figure, path)


Bounds = tuple[tuple[float, float], tuple[float, float]]
"""``((x_low, x_high), (y_low, y_high))`` of a 2-D picture."""


def landscape_bounds(points: Tensor, *, padding: float = LANDSCAPE_PADDING) -> Bounds:
    """A square around ``points: (N, 2)``: centred on their bounding box, with the box's
    larger side widened by ``padding`` times itself on each end (0.5 on each end when all
    points coincide). Square, so the picture keeps equal axes and a flat shape such as
    ``moons`` still gets room above and below."""
    if points.ndim != 2 or points.shape[1] != 2 or points.shape[0] == 0:
        raise ValueError(f"points must be (n >= 1, 2), not {tuple(points.shape)}")
    if padding < 0:
        raise ValueError(f"padding must be >= 0, not {padding}")
    xy = points.detach().to("cpu", torch.float64)
    low, high = xy.min(dim=0).values, xy.max(dim=0).values
    span = float((high - low).max())
    half = span / 2 + padding * span if span > 0 else 0.5
    centre_x, centre_y = ((low + high) / 2).tolist()
    return ((centre_x - half, centre_x + half), (centre_y - half, centre_y + half))


def energy_on_grid(
    energy: EnergyFunction,
    bounds: Bounds,
    *,
    resolution: int = LANDSCAPE_RESOLUTION,
    device: torch.device | str | None = None,
    chunk_size: int = 8192,
) -> Tensor:
    """E on a ``resolution × resolution`` grid over ``bounds``, as a float64 CPU tensor
    ``(resolution, resolution)`` whose row i is y = y_i and column j is x = x_j (both
    ``torch.linspace`` over their range, ends included), the layout ``imshow`` expects.

    The energy runs in eval mode (dropout off, BatchNorm on running statistics, so each
    point's energy is its own) without autograd, on ``device`` (default: where its
    parameters are) and in its parameters' dtype, ``chunk_size`` points at a time; its
    previous mode is restored. A conditional energy is drawn as min over y of E(x | y)
    (:func:`ebkit.core.engine.marginal_energy`): the landscape of every class at once.
    """
    from ebkit.core.engine import marginal_energy

    if tuple(energy.spec.event_shape) != (2,):
        raise ValueError(f"a landscape needs 2-D data, not {tuple(energy.spec.event_shape)}")
    if resolution < 2:
        raise ValueError(f"resolution must be >= 2, not {resolution}")
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, not {chunk_size}")
    parameter = next(energy.parameters(), None)
    if device is None:
        device = parameter.device if parameter is not None else torch.device("cpu")
    dtype = parameter.dtype if parameter is not None else torch.get_default_dtype()
    xs, ys = _grid_axes(bounds, resolution)
    grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")
    points = torch.stack([grid_x.reshape(-1), grid_y.reshape(-1)], dim=1).to(device, dtype)
    was_training = energy.training
    energy.eval()
    try:
        with torch.no_grad():
            values = [marginal_energy(energy, chunk) for chunk in points.split(chunk_size)]
    finally:
        energy.train(was_training)
    return torch.cat(values).to("cpu", torch.float64).reshape(resolution, resolution)


def _grid_axes(bounds: Bounds, resolution: int) -> tuple[Tensor, Tensor]:
    (x_low, x_high), (y_low, y_high) = bounds
    return (
        torch.linspace(x_low, x_high, resolution, dtype=torch.float64),
        torch.linspace(y_low, y_high, resolution, dtype=torch.float64),
    )


def energy_levels(values: Tensor, bands: int = LANDSCAPE_BANDS) -> list[float]:
    """Colour-band edges for a landscape: the 0, 1/bands, ..., 1 quantiles of the finite
    ``values``, duplicates removed, so each band covers an equal share of the grid
    whatever the energy's scale. A flat landscape gets the two edges [v, v + 1]."""
    finite = values[torch.isfinite(values)].to(torch.float64)
    if finite.numel() == 0:
        raise ValueError("the energy is not finite anywhere on the grid")
    quantiles = torch.quantile(finite, torch.linspace(0, 1, bands + 1, dtype=torch.float64))
    levels = sorted(set(quantiles.tolist()))
    return levels if len(levels) >= 2 else [levels[0], levels[0] + 1.0]


def save_energy_landscape(
    energy: EnergyFunction,
    path: PathLike,
    *,
    data: Tensor | None = None,
    samples: Tensor | None = None,
    resolution: int = LANDSCAPE_RESOLUTION,
    device: torch.device | str | None = None,
    title: str = "",
) -> Path:
    """A heat map with contours of the energy E(x) of a 2-D energy over the data, with
    ``data: (N, 2)`` (white dots) and contrastive ``samples: (M, 2)`` (red crosses)
    overlaid, as a 600×500 PNG.

    The picture spans :func:`landscape_bounds` of ``data`` (of ``samples`` without data,
    of the energy's ``[spec.low, spec.high]`` square without either); points outside it
    are not shown. E itself is drawn, not exp(−E), in :data:`LANDSCAPE_BANDS` colour
    bands at its quantiles on the grid (:func:`energy_levels`), dark for low energy, with
    a contour line at every band edge. Energies grow fast away from the data (by tens
    far out, where near the data they differ by a few tenths), so a linear colour scale
    would show one dark blob; equal-area bands show the valleys at any scale. The
    colourbar, "energy E(x)", gives E at each band edge. The grid is evaluated with
    :func:`energy_on_grid` (eval mode, no autograd, on ``device``, mode restored).
    """
    from matplotlib.colors import BoundaryNorm

    for label, value in (("data", data), ("samples", samples)):
        if value is not None and (value.ndim != 2 or value.shape[1] != 2):
            raise ValueError(f"{label} must be (n, 2), not {tuple(value.shape)}")
    reference = data if data is not None and len(data) else samples
    if reference is not None and len(reference):
        bounds = landscape_bounds(reference)
    else:
        spec = energy.spec
        bounds = ((spec.low, spec.high), (spec.low, spec.high))
    values = energy_on_grid(energy, bounds, resolution=resolution, device=device)
    levels = energy_levels(values)

    (x_low, x_high), (y_low, y_high) = bounds
    figure = _new_figure(LANDSCAPE_SIZE)
    # Fixed boxes instead of tight_layout, which would double the drawing time.
    axes = figure.add_axes(_LANDSCAPE_AXES)
    grid = values.numpy()
    norm = BoundaryNorm(levels, ncolors=256)
    image = axes.imshow(
        grid, extent=(x_low, x_high, y_low, y_high), origin="lower", cmap="viridis", norm=norm
    )
    xs, ys = _grid_axes(bounds, resolution)
    axes.contour(
        xs.numpy(),
        ys.numpy(),
        grid,
        levels=levels,
        colors="white",
        linewidths=0.4,
        alpha=0.4,
        negative_linestyles="solid",  # the sign of E means nothing; only its level does
    )
    colourbar = figure.colorbar(image, cax=figure.add_axes(_LANDSCAPE_COLOURBAR), format="%.3g")
    colourbar.set_label("energy E(x)  (quantile bands; low = data)")
    colourbar.ax.tick_params(labelsize=7)
    if data is not None:
        xy = data.detach().to("cpu", torch.float64).numpy()
        axes.scatter(xy[:, 0], xy[:, 1], s=2.0, alpha=0.35, color="white", label="data")
    if samples is not None:
        xy = samples.detach().to("cpu", torch.float64).numpy()
        axes.scatter(
            xy[:, 0], xy[:, 1], s=6.0, alpha=0.8, color="tab:red", marker="x", label="samples"
        )
    axes.set_xlim(x_low, x_high)
    axes.set_ylim(y_low, y_high)
    axes.set_aspect("equal", adjustable="box")
    if data is not None or samples is not None:
        # A grey box, so that the white data marker shows in the legend.
        axes.legend(loc="upper right", markerscale=2, facecolor="0.6", framealpha=0.8, fontsize=8)
    if title:
        axes.set_title(title)
    return _save_figure(figure, path)


def save_curves(
    records: Sequence[Mapping[str, Any]], path: PathLike, *, smooth: float = 0.0
) -> Path:
    """One subplot per numeric metric in ``records`` (``metrics.jsonl`` rows), against
    ``"step"``, on linear axes.

    Values that are missing, not numbers (strings, booleans, lists) or not finite are
    skipped, as are records without a numeric step. ``smooth`` in [0, 1) adds an
    exponential moving average with that decay over the raw (faint) curve.
    """
    if not 0.0 <= smooth < 1.0:
        raise ValueError(f"smooth must be in [0, 1), not {smooth}")
    series = _curve_series(records)
    columns = min(3, max(1, len(series)))
    rows = max(1, math.ceil(len(series) / columns))
    figure = _new_figure((4.0 * columns, 2.8 * rows))
    if not series:
        axes = figure.add_subplot()
        axes.text(0.5, 0.5, "no numeric metrics logged", ha="center", va="center")
        axes.set_axis_off()
    for index, (name, (steps, values)) in enumerate(series.items()):
        axes = figure.add_subplot(rows, columns, index + 1)
        if smooth > 0:
            axes.plot(steps, values, color="tab:blue", alpha=0.3, linewidth=0.8)
            axes.plot(steps, _moving_average(values, smooth), color="tab:blue", linewidth=1.2)
        else:
            axes.plot(steps, values, color="tab:blue", linewidth=1.0)
        axes.set_title(name, fontsize=9)
        axes.set_xlabel("step", fontsize=8)
        axes.tick_params(labelsize=7)
        axes.grid(alpha=0.3)
    figure.tight_layout()
    return _save_figure(figure, path)


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
    figure = _new_figure((6.0, 4.0))
    axes = figure.add_subplot()
    axes.plot(values.T, linewidth=0.8, alpha=0.6)
    axes.set_ylim(spec.low, spec.high)
    axes.set_xlabel("coordinate")
    axes.set_title(f"{len(values)} of {flat.shape[0]} samples", fontsize=9)
    figure.tight_layout()
    return _save_figure(figure, path)


def _curve_series(
    records: Sequence[Mapping[str, Any]],
) -> dict[str, tuple[list[float], list[float]]]:
    """``{metric: (steps, values)}`` for the plottable values, in first-seen key order."""
    series: dict[str, tuple[list[float], list[float]]] = {}
    for record in records:
        step = record.get("step")
        if not _is_plottable(step):
            continue
        for name, value in record.items():
            if name == "step" or not _is_plottable(value):
                continue
            steps, values = series.setdefault(name, ([], []))
            steps.append(float(step))
            values.append(float(value))
    return series


def _is_plottable(value: Any) -> bool:
    # bool is an int subclass, but a flag plotted as 0/1 would only add noise.
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return math.isfinite(value)


def _moving_average(values: Sequence[float], decay: float) -> list[float]:
    smoothed, average = [], values[0]
    for value in values:
        average = decay * average + (1 - decay) * value
        smoothed.append(average)
    return smoothed


def _new_figure(size: tuple[float, float]) -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=size, dpi=DPI)


def _save_figure(figure: Figure, path: PathLike) -> Path:
    return _write_atomically(path, lambda target: figure.savefig(target, format="png", dpi=DPI))


def _write_atomically(path: PathLike, write: Callable[[str], object]) -> Path:
    """Call ``write(temporary_path)``, then move the result onto ``path`` in one step.

    The temporary file sits in the target's directory (``os.replace`` is atomic only
    within one file system) and is removed if writing fails. The writer creates it, so
    the PNG gets the usual umask permissions (``mkstemp`` would make it owner-only).
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.parent / f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    try:
        write(str(temporary))
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return target
