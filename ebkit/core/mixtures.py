"""The 2-D Gaussian mixtures' geometry: mode centres and default σ of ``8gaussians`` and
``25gaussians``.

The datasets that draw these mixtures (:mod:`ebkit.builtins.datasets.toy`) and the metric
that scores samples against their modes (:mod:`ebkit.metrics.toy`) both read them from
here, so the metric and the data cannot drift apart, and neither imports the other. The
mixtures are the 2-D benchmarks of VEEGAN (Srivastava et al. 2017) and PacGAN
(Lin et al. 2018).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = ["MIXTURES", "MixtureModes", "eight_gaussians_modes", "twenty_five_gaussians_modes"]


def eight_gaussians_modes() -> Tensor:
    """``(8, 2)`` float32: the unit circle at angles 2πk/8, k = 0..7."""
    angles = 2 * math.pi * torch.arange(8, dtype=torch.float64) / 8
    return torch.stack([angles.cos(), angles.sin()], dim=1).to(torch.float32)


def twenty_five_gaussians_modes() -> Tensor:
    """``(25, 2)`` float32: the grid {−4, −2, 0, 2, 4}²."""
    ticks = torch.arange(-4.0, 5.0, 2.0)
    grid_x, grid_y = torch.meshgrid(ticks, ticks, indexing="ij")
    return torch.stack([grid_x.reshape(-1), grid_y.reshape(-1)], dim=1)


@dataclass(frozen=True)
class MixtureModes:
    """Equal-weight isotropic Gaussians of standard deviation ``mode_std`` at ``modes``
    ``(K, 2)``: what the mode-coverage metric needs to know of a mixture."""

    name: str
    modes: Tensor
    mode_std: float


MIXTURES: dict[str, tuple[float, Callable[[], Tensor]]] = {
    "8gaussians": (0.01, eight_gaussians_modes),
    "25gaussians": (0.05, twenty_five_gaussians_modes),
}
"""Mixture name -> (default σ, the function that gives its mode centres)."""
