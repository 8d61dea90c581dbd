"""Seeded 2-D toy datasets, generated on the fly, for watching samplers cover modes.

Every dataset here draws fresh points on each call from the caller's CPU
``torch.Generator`` (nothing is stored, nothing touches the global RNG) and returns
``DataBatch(x: (B, 2) float32, y=None)``. Each takes one option, ``noise``: the standard
deviation of isotropic Gaussian noise added around the shape, in output units.

``spec.low``/``spec.high`` bound the data symmetrically: the shape's extent plus 10 %
plus five noise standard deviations, rounded up to one decimal. Points beyond it (under
one in a million at 5σ) are clamped so that samples always lie in ``[low, high]``, as
:class:`ebkit.DataSpec` promises.

``checkerboard``, ``pinwheel`` and ``2spirals`` are the toy densities of Grathwohl et al.
(2019, FFJORD), scaled into about the unit square. The two Gaussian mixtures follow
VEEGAN (Srivastava et al. 2017) and PacGAN (Lin et al. 2018), with the modes of
:mod:`ebkit.core.mixtures`, and expose ``modes`` ``(K, 2)`` and ``mode_std`` for the
mode-coverage metrics.
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

__all__ = [
    "Checkerboard",
    "EightGaussians",
    "Moons",
    "Pinwheel",
    "Rings",
    "SwissRoll",
    "ToyDataset",
    "TwentyFiveGaussians",
    "TwoSpirals",
]


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


class Checkerboard(ToyDataset):
    """The 8 dark squares of a 4×4 checkerboard on [−1, 1]², uniform within them: the
    ``checkerboard`` of Grathwohl et al. (2019, FFJORD), scaled by 1/2. Unlike the other
    toys it fills an area, so a generator must spread its samples over squares rather
    than gather them on points or curves. ``noise`` defaults to 0 (sharp edges)."""

    name = "checkerboard"
    default_noise = 0.0
    extent = 1.0

    def __init__(
        self, path: str | os.PathLike[str] | None = None, *, noise: float = default_noise
    ) -> None:
        super().__init__(path, noise=noise)

    def _draw(self, batch_size: int, generator: torch.Generator) -> Tensor:
        x1 = 4 * torch.rand(batch_size, generator=generator) - 2
        lower = torch.randint(2, (batch_size,), generator=generator) * 2 - 2
        x2 = torch.rand(batch_size, generator=generator) + lower + x1.floor().remainder(2)
        return torch.stack([x1, x2], dim=1) / 2


class Pinwheel(ToyDataset):
    """Five curved arms: the ``pinwheel`` of Grathwohl et al. (2019), scaled by 1/4. A
    point of arm k (each with probability 1/5) has features f = (1 + 0.3·a, 0.1·b),
    a, b ~ N(0, 1), turned clockwise by the angle 2πk/5 + 0.25·exp(f₁) (so the arms
    curve), then doubled as FFJORD does: ‖x‖ = ‖f‖ / 2. Its spread is part of the shape,
    so ``noise`` defaults to 0."""

    name = "pinwheel"
    default_noise = 0.0
    extent = 1.25  # radius 0.5 typically; 1.25 lies 5σ out along an arm
    arms: ClassVar[int] = 5

    def __init__(
        self, path: str | os.PathLike[str] | None = None, *, noise: float = default_noise
    ) -> None:
        super().__init__(path, noise=noise)

    def _draw(self, batch_size: int, generator: torch.Generator) -> Tensor:
        features = torch.randn(batch_size, 2, generator=generator) * torch.tensor([0.3, 0.1])
        features[:, 0] += 1
        arm = torch.randint(self.arms, (batch_size,), generator=generator)
        angle = 2 * math.pi * arm / self.arms + 0.25 * features[:, 0].exp()
        cos, sin = angle.cos(), angle.sin()
        rotated = torch.stack(
            [
                features[:, 0] * cos + features[:, 1] * sin,
                -features[:, 0] * sin + features[:, 1] * cos,
            ],
            dim=1,
        )
        return 2 * rotated / 4


class TwoSpirals(ToyDataset):
    """Two interleaved spirals, point-symmetric about the origin: the ``2spirals`` of
    Grathwohl et al. (2019) scaled into the unit square. n = 3π·√u, u ~ U[0, 1], and a
    point of the first spiral is (−n·cos n + v₁/2, n·sin n + v₂/2) / (3π + ½) with
    v ~ U[0, 1]²; the second is its negative. ``noise`` 0.03 is FFJORD's 0.1 in these
    units."""

    name = "2spirals"
    default_noise = 0.03
    extent = 1.0
    scale: ClassVar[float] = 3 * math.pi + 0.5

    def __init__(
        self, path: str | os.PathLike[str] | None = None, *, noise: float = default_noise
    ) -> None:
        super().__init__(path, noise=noise)

    def _draw(self, batch_size: int, generator: torch.Generator) -> Tensor:
        n = 3 * math.pi * torch.rand(batch_size, generator=generator).sqrt()
        offset = torch.rand(batch_size, 2, generator=generator) / 2
        first = torch.stack([-n * n.cos(), n * n.sin()], dim=1) + offset
        sign = torch.randint(2, (batch_size, 1), generator=generator) * 2 - 1
        return sign * first / self.scale
