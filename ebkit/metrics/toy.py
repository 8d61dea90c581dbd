"""Mode coverage on the 2-D Gaussian mixtures: modes covered and high-quality share.

The protocol of VEEGAN (Srivastava et al. 2017) and PacGAN (Lin et al. 2018): a sample
is *high quality* when it lies within 3σ of its nearest mode; a mode is *covered* when it
is the nearest mode of at least one high-quality sample. The mode centres and σ come from
:mod:`ebkit.core.mixtures`, which the datasets draw from too, so the metric and the data
cannot drift apart.

Even a perfect sampler does not reach a high-quality share of 1: for an isotropic 2-D
Gaussian ‖x − μ‖/σ follows a chi distribution with 2 degrees of freedom, so
P(‖x − μ‖ ≤ 3σ) = 1 − exp(−9/2) ≈ 0.9889 (:data:`PERFECT_HIGH_QUALITY_SHARE`), not the
99.7 % of the 1-D three-sigma rule.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Protocol

import torch
from torch import Tensor

__all__ = [
    "GAUSSIAN_MIXTURES",
    "PERFECT_HIGH_QUALITY_SHARE",
    "GaussianMixture",
    "ModeCoverage",
    "gaussian_mixture",
    "mixture_mode_coverage",
    "mode_coverage",
]

GAUSSIAN_MIXTURES: tuple[str, ...] = ("8gaussians", "25gaussians")
"""The datasets whose mode coverage :func:`gaussian_mixture` knows how to measure."""

PERFECT_HIGH_QUALITY_SHARE = 1 - math.exp(-4.5)
"""Expected high-quality share of exact samples of a 2-D mixture at the 3σ radius."""


class GaussianMixture(Protocol):
    """What the metric reads from a mixture (a dataset such as ``EightGaussians``, or the
    :class:`~ebkit.core.mixtures.MixtureModes` of :func:`gaussian_mixture`): the mode
    centres ``(K, 2)`` and their common σ."""

    modes: Tensor

    @property
    def mode_std(self) -> float: ...


@dataclass(frozen=True)
class ModeCoverage:
    """Mode-coverage summary of a set of samples (see :func:`mode_coverage`).

    - ``modes_covered`` (higher is better, at most ``num_modes``): modes that are the
      nearest mode of at least one high-quality sample.
    - ``high_quality_share`` (higher is better, ≈ 0.9889 for exact samples): share of
      the samples within ``radius`` of their nearest mode.
    - ``reverse_kl`` (lower is better, 0 for a perfectly balanced sampler, at most
      log K): KL(p̂ ‖ uniform) where p̂ is the histogram of the nearest modes of the
      high-quality samples; ``None`` when there is no high-quality sample.
    - ``mode_counts``: high-quality samples per mode, in the order of ``modes``.
    """

    modes_covered: int
    num_modes: int
    high_quality_share: float
    reverse_kl: float | None
    num_samples: int
    radius: float
    mode_counts: tuple[int, ...]

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of the fields."""
        return asdict(self)


def mode_coverage(
    samples: Tensor, modes: Tensor, mode_std: float, *, radius_in_stds: float = 3.0
) -> ModeCoverage:
    """Modes covered, high-quality share and reverse KL of ``samples: (N, D)`` against
    the mixture with centres ``modes: (K, D)`` and common standard deviation
    ``mode_std``.

    A sample is high quality when ‖x − μ_nearest‖ ≤ ``radius_in_stds`` · ``mode_std``
    (3σ, as in VEEGAN and PacGAN). A mode is covered when it is the nearest mode of at
    least one high-quality sample. See :class:`ModeCoverage` for the fields.
    """
    if not isinstance(samples, Tensor) or samples.ndim != 2:
        shape = tuple(samples.shape) if isinstance(samples, Tensor) else type(samples).__name__
        raise ValueError(f"samples must be a tensor of shape (N, D), not {shape}")
    if modes.ndim != 2 or modes.shape[1] != samples.shape[1] or len(modes) == 0:
        raise ValueError(
            f"modes must have shape (K, {samples.shape[1]}) with K >= 1, not {tuple(modes.shape)}"
        )
    if not (math.isfinite(mode_std) and mode_std > 0):
        raise ValueError(f"mode_std must be a positive number, not {mode_std!r}")
    if not (math.isfinite(radius_in_stds) and radius_in_stds > 0):
        raise ValueError(f"radius_in_stds must be a positive number, not {radius_in_stds!r}")
    if len(samples) == 0:
        raise ValueError("samples is empty: mode coverage needs at least one sample")
    points = samples.detach().to(torch.float64)
    centres = modes.detach().to(device=points.device, dtype=torch.float64)
    radius = radius_in_stds * mode_std
    # Non-finite samples (a diverged sampler) are far from every mode, not an error.
    # The direct difference, not the matrix-product shortcut, which gives NaN for inf.
    distances = torch.cdist(
        points.nan_to_num(nan=math.inf), centres, compute_mode="donot_use_mm_for_euclid_dist"
    )
    nearest_distance, nearest = distances.min(dim=1)
    high_quality = nearest_distance <= radius
    counts = torch.bincount(nearest[high_quality], minlength=len(centres)).cpu()
    total = int(counts.sum())
    return ModeCoverage(
        modes_covered=int((counts > 0).sum()),
        num_modes=len(centres),
        high_quality_share=total / len(points),
        reverse_kl=_kl_from_uniform(counts) if total else None,
        num_samples=len(points),
        radius=radius,
        mode_counts=tuple(int(count) for count in counts),
    )


def _kl_from_uniform(counts: Tensor) -> float:
    """KL(p ‖ uniform) = Σ_k p_k log(K p_k) of the histogram ``counts: (K,)``, with
    0 log 0 = 0."""
    share = counts.to(torch.float64) / counts.sum()
    present = share[share > 0]
    return float((present * (present * len(counts)).log()).sum())


def gaussian_mixture(name: str, *, noise: float | None = None) -> GaussianMixture:
    """The modes of the ``8gaussians`` or ``25gaussians`` dataset and their σ (the
    dataset's ``noise`` option, by default its default), which the metric reads."""
    from ebkit.core.mixtures import MIXTURES, MixtureModes

    if name not in MIXTURES:
        raise ValueError(
            f"mode coverage is defined for {', '.join(GAUSSIAN_MIXTURES)}, not {name!r}"
        )
    default_std, modes = MIXTURES[name]
    return MixtureModes(name, modes(), default_std if noise is None else float(noise))


def mixture_mode_coverage(
    samples: Tensor, mixture: str | GaussianMixture, *, radius_in_stds: float = 3.0
) -> ModeCoverage:
    """:func:`mode_coverage` against a mixture dataset, or the name of one with its
    default σ (``"8gaussians"``: σ 0.01, ``"25gaussians"``: σ 0.05)."""
    if isinstance(mixture, str):
        mixture = gaussian_mixture(mixture)
    return mode_coverage(samples, mixture.modes, mixture.mode_std, radius_in_stds=radius_in_stds)
