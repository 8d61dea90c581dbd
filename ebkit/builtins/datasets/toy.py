"""Seeded 2-D toy datasets, generated on the fly, for watching samplers cover modes.

Every dataset here draws fresh points on each call from the caller's CPU
``torch.Generator`` (nothing is stored, nothing touches the global RNG) and returns
``DataBatch(x: (B, 2) float32, y=None)``. Each takes one option, ``noise``: the standard
deviation of isotropic Gaussian noise added around the shape, in output units.

``spec.low``/``spec.high`` bound the data symmetrically: the shape's extent plus 10 %
plus five noise standard deviations, rounded up to one decimal. Points beyond it (under
one in a million at 5σ) are clamped so that samples always lie in ``[low, high]``, as
:class:`ebkit.DataSpec` promises.

The two Gaussian mixtures follow VEEGAN (Srivastava et al. 2017) and PacGAN (Lin et al.
2018), with the modes of :mod:`ebkit.core.mixtures`, and expose ``modes`` ``(K, 2)`` and
``mode_std`` for the mode-coverage metrics.
"""

from __future__ import annotations

import math
import os
from abc import abstractmethod
from typing import ClassVar

import torch
from torch import Tensor

from ebkit.core.errors import UsageError
from ebkit.core.interfaces import DataBatch, Dataset, DataSpec
from ebkit.core.mixtures import MIXTURES, eight_gaussians_modes, twenty_five_gaussians_modes

__all__ = ["EightGaussians", "Moons", "Rings", "SwissRoll", "ToyDataset", "TwentyFiveGaussians"]


class ToyDataset(Dataset):
    """Base class of the generated 2-D toys: validation, bounds, clamping.

    Subclasses set ``name``, ``default_noise`` and ``extent`` (the largest absolute
    coordinate of the noise-free shape) and implement :meth:`_draw`.
    """

    name: ClassVar[str]
    default_noise: ClassVar[float]
    extent: ClassVar[float]

    def __init__(self, path: str | os.PathLike[str] | None = None, *, noise: float) -> None:
        if path is not None:
            raise UsageError(f"dataset {self.name!r} is generated and takes no --data-path")
        noise = float(noise)
        if not math.isfinite(noise) or noise < 0:
            raise UsageError(f"data.noise: {noise!r} must be a finite number >= 0")
        self.noise = noise
        # 5σ keeps clamping to a few points per million; rounding gives readable bounds.
        bound = math.ceil((1.1 * self.extent + 5.0 * noise) * 10.0 - 1e-9) / 10.0
        self.spec = DataSpec(event_shape=(2,), low=-bound, high=bound)

    def sample(self, batch_size: int, generator: torch.Generator) -> DataBatch:
        """Draw ``batch_size`` points, ``x: (B, 2)`` float32, using only ``generator``."""
        if batch_size < 0:
            raise ValueError(f"batch_size must be >= 0, not {batch_size}")
        shape = self._draw(batch_size, generator)
        x = shape + self.noise * torch.randn(batch_size, 2, generator=generator)
        x = x.clamp(self.spec.low, self.spec.high).to(torch.float32)
        return DataBatch(x=x, y=None)

    @abstractmethod
    def _draw(self, batch_size: int, generator: torch.Generator) -> Tensor:
        """Noise-free points on the shape, ``(B, 2)``."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(noise={self.noise})"


class _GaussianMixture(ToyDataset):
    """Equal-weight isotropic Gaussians of standard deviation ``noise`` at ``modes``."""

    modes: Tensor
    """Mode centres, ``(K, 2)`` float32."""

    @property
    def mode_std(self) -> float:
        """Standard deviation of every mode (the ``noise`` option)."""
        return self.noise

    def _draw(self, batch_size: int, generator: torch.Generator) -> Tensor:
        index = torch.randint(len(self.modes), (batch_size,), generator=generator)
        return self.modes[index]


class EightGaussians(_GaussianMixture):
    """8 Gaussians at angles 2πk/8 (k = 0..7, endpoint excluded) on the unit circle,
    σ = 0.01 by default: VEEGAN's and PacGAN's 2-D ring."""

    name = "8gaussians"
    default_noise = MIXTURES[name][0]
    extent = 1.0

    def __init__(
        self, path: str | os.PathLike[str] | None = None, *, noise: float = default_noise
    ) -> None:
        super().__init__(path, noise=noise)
        self.modes = eight_gaussians_modes()


class TwentyFiveGaussians(_GaussianMixture):
    """25 Gaussians at {−4, −2, 0, 2, 4}², σ = 0.05 by default: VEEGAN's and PacGAN's
    2-D grid."""

    name = "25gaussians"
    default_noise = MIXTURES[name][0]
    extent = 4.0

    def __init__(
        self, path: str | os.PathLike[str] | None = None, *, noise: float = default_noise
    ) -> None:
        super().__init__(path, noise=noise)
        self.modes = twenty_five_gaussians_modes()


class Moons(ToyDataset):
    """Two interleaving half circles, scikit-learn's ``make_moons`` shape, centred and
    scaled by 2/3 so that x spans [−1, 1] and y spans [−0.5, 0.5].

    Unlike ``make_moons`` (evenly spaced points, exactly half per moon, noise added
    before any rescaling), each point picks its moon and its angle uniformly at random,
    and ``noise`` is in the rescaled units.
    """

    name = "moons"
    default_noise = 0.05
    extent = 1.0

    def __init__(
        self, path: str | os.PathLike[str] | None = None, *, noise: float = default_noise
    ) -> None:
        super().__init__(path, noise=noise)

    def _draw(self, batch_size: int, generator: torch.Generator) -> Tensor:
        angle = math.pi * torch.rand(batch_size, generator=generator)
        inner = torch.randint(2, (batch_size,), generator=generator).bool()
        # make_moons: outer (cos t, sin t), inner (1 − cos t, 0.5 − sin t); its bounding
        # box [−1, 2] × [−0.5, 1] has centre (0.5, 0.25) and half-width 1.5.
        x = torch.where(inner, 1 - angle.cos(), angle.cos())
        y = torch.where(inner, 0.5 - angle.sin(), angle.sin())
        return torch.stack([(x - 0.5) / 1.5, (y - 0.25) / 1.5], dim=1)


class SwissRoll(ToyDataset):
    """A 2-D swiss roll: t ~ U[1.5π, 4.5π] (scikit-learn's ``make_swiss_roll`` range),
    points (t·cos t, t·sin t) / 4.5π, so the roll fits in the unit disc."""

    name = "swissroll"
    default_noise = 0.05
    extent = 1.0

    def __init__(
        self, path: str | os.PathLike[str] | None = None, *, noise: float = default_noise
    ) -> None:
        super().__init__(path, noise=noise)

    def _draw(self, batch_size: int, generator: torch.Generator) -> Tensor:
        t = 1.5 * math.pi * (1 + 2 * torch.rand(batch_size, generator=generator))
        return torch.stack([t * t.cos(), t * t.sin()], dim=1) / (4.5 * math.pi)


class Rings(ToyDataset):
    """Three concentric circles of radii 0.3, 0.6 and 0.9, each drawn with probability
    1/3 (so the inner ring is denser per unit length), angle uniform."""

    name = "rings"
    default_noise = 0.02
    extent = 0.9
    radii: ClassVar[tuple[float, ...]] = (0.3, 0.6, 0.9)

    def __init__(
        self, path: str | os.PathLike[str] | None = None, *, noise: float = default_noise
    ) -> None:
        super().__init__(path, noise=noise)

    def _draw(self, batch_size: int, generator: torch.Generator) -> Tensor:
        radius = torch.tensor(self.radii)[
            torch.randint(len(self.radii), (batch_size,), generator=generator)
        ]
        angle = 2 * math.pi * torch.rand(batch_size, generator=generator)
        return radius[:, None] * torch.stack([angle.cos(), angle.sin()], dim=1)
