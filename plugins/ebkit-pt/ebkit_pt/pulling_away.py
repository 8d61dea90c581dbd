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
    mistakes common in published implementations. A zero row has no direction: it is
    divided by 1 instead of its norm, so it contributes 0 instead of NaN.

    The diagonal terms are exactly 1 for every non-zero row (0 for zero rows), so their sum
    is the count of non-zero rows: subtracting that count, which needs no gradient, costs
    less than extracting the diagonal (see ``benchmarks/pt.py``).
    """
    if features.ndim != 2:
        raise ValueError(f"features must be 2-D (N, F), got shape {tuple(features.shape)}")
    n = features.shape[0]
    if n < 2:
        # Multiplying keeps dtype, device and the graph, so callers can always backward.
        return features.sum() * 0.0
    norms = torch.linalg.vector_norm(features, dim=1, keepdim=True)
    unit = features / torch.where(norms > 0, norms, 1.0)
    diagonal = torch.count_nonzero(norms)
    return ((unit @ unit.T).square().sum() - diagonal) / (n * (n - 1))


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
