"""PNG pictures of a run: sample grids and scatters (:mod:`~ebkit.pictures.grids`), 2-D
energy landscapes (:mod:`~ebkit.pictures.landscapes`) and training curves
(:mod:`~ebkit.pictures.curves`), each file written atomically."""

from ebkit.pictures.curves import save_curves
from ebkit.pictures.grids import save_image_grid, save_samples, save_scatter
from ebkit.pictures.landscapes import (
    energy_levels,
    energy_on_grid,
    landscape_bounds,
    save_energy_landscape,
)

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
