"""Energy landscapes of 2-D runs: E(x) on a grid, drawn as quantile bands with contours,
the data and the contrastive samples overlaid."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from ebkit.pictures.figures import PathLike, new_figure, save_figure

if TYPE_CHECKING:
    from ebkit.core.interfaces import EnergyFunction

__all__ = [
    "Bounds",
    "energy_levels",
    "energy_on_grid",
    "landscape_bounds",
    "save_energy_landscape",
]

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
    (:func:`ebkit.core.labels.marginal_energy`): the landscape of every class at once.
    """
    from ebkit.core.labels import marginal_energy

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
    figure = new_figure(LANDSCAPE_SIZE)
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
    return save_figure(figure, path)
