"""EBGAN's pulling-away term: a repelling regularizer on the codes of generated samples."""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor

from ebkit import DataSpec, EnergyOutput, Regularizer


def pulling_away_term(features: Tensor) -> Tensor:
    """The pulling-away term, EBGAN eq. 14 (Zhao et al. 2017, §2.4)::

        f_PT(S) = 1/(N(N−1)) · Σ_i Σ_{j≠i} ( S_iᵀS_j / (‖S_i‖‖S_j‖) )²

    the mean squared cosine similarity over the N(N−1) ordered pairs of distinct rows.
    ``features: (N, F)`` (the codes S_i as rows) -> a scalar in [0, 1]. Orthogonal rows
    give 0, identical rows 1, rescaling a row changes nothing, and N < 2 gives 0.

    Each row is normalised on its own (not over the batch axis), the squares are taken
    before summing, and the diagonal (each row with itself) is left out: the three
    mistakes common in published implementations. A zero row has no direction; its norm is
    clamped to the dtype's smallest normal number so it contributes 0 instead of NaN.
    """
    if features.ndim != 2:
        raise ValueError(f"features must be 2-D (N, F), got shape {tuple(features.shape)}")
    n = features.shape[0]
    if n < 2:
        # Multiplying keeps dtype, device and the graph, so callers can always backward.
        return features.sum() * 0.0
    norms = torch.linalg.vector_norm(features, dim=1, keepdim=True)
    unit = features / norms.clamp_min(torch.finfo(features.dtype).tiny)
    squared_cosines = (unit @ unit.T).square()
    off_diagonal = squared_cosines.sum() - squared_cosines.trace()
    return off_diagonal / (n * (n - 1))


class PullingAwayTerm(Regularizer):
    """λ_PT·f_PT on the generator's loss (:func:`pulling_away_term`), λ_PT = 0.1.

    The paper adds the term only to the generator's loss, on the encoder codes of the
    generated batch: ``penalty(real, fake)`` reads ``fake.features`` (flattened to
    ``(N, F)``) and ignores ``real``.
    """

    requires: ClassVar[frozenset[str]] = frozenset({"features"})

    def __init__(self, spec: DataSpec, *, weight: float = 0.1) -> None:
        super().__init__(spec, weight=weight, target="sampler")

    def penalty(self, real: EnergyOutput | None, fake: EnergyOutput) -> Tensor:
        if fake.features is None:
            raise ValueError(
                "the pulling-away term needs an energy that returns features "
                "(e.g. the autoencoder energy)"
            )
        return pulling_away_term(fake.features.reshape(fake.features.shape[0], -1))

    def extra_repr(self) -> str:
        return f"weight={self.weight:g}, target={self.target!r}"
