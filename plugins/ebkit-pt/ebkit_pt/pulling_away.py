"""EBGAN's pulling-away term: a repelling regularizer on the codes of generated samples."""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

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
    is the count of non-zero rows and is subtracted rather than masked out. The gradient is
    written out (:class:`_PullingAwayTerm`): with U the unit rows and G = UUᵀ,
    ∂f/∂U = 4GU/(N(N−1)), projected onto each row's tangent space and divided by its norm.
    One matmul instead of the three autograd records for ``unit @ unit.T``, and no graph
    nodes for the guards, make it faster than the bare formula under autograd
    (``benchmarks/pt.py``). It is differentiable once (no ``create_graph``).
    """
    if features.ndim != 2:
        raise ValueError(f"features must be 2-D (N, F), got shape {tuple(features.shape)}")
    if features.shape[0] < 2:
        # Multiplying keeps dtype, device and the graph, so callers can always backward.
        return features.sum() * 0.0
    return _PullingAwayTerm.apply(features)


class _PullingAwayTerm(torch.autograd.Function):
    """Eq. 14 with its gradient written out; see :func:`pulling_away_term`."""

    @staticmethod
    def forward(ctx: Any, features: Tensor) -> Tensor:
        n = features.shape[0]
        norms = torch.linalg.vector_norm(features, dim=1, keepdim=True)
        # A zero row has no direction: dividing it by a tiny number keeps it zero.
        safe_norms = norms.clamp_min(torch.finfo(features.dtype).tiny)
        unit = features / safe_norms
        gram = unit @ unit.T
        scale = 1.0 / (n * (n - 1))
        ctx.save_for_backward(unit, gram, safe_norms)
        ctx.scale = scale
        return (gram.square().sum() - torch.count_nonzero(norms)) * scale

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, upstream: Tensor) -> Tensor:
        unit, gram, safe_norms = ctx.saved_tensors
        unit_grad = (gram @ unit) * (4.0 * ctx.scale * upstream)
        radial = (unit_grad * unit).sum(dim=1, keepdim=True)
        return (unit_grad - unit * radial) / safe_norms


IMAGE_WEIGHT = 0.1
"""λ_PT on images when ``weight`` is not set: the paper's (Zhao et al. 2017, App. C)."""

VECTOR_WEIGHT = 0.02
"""λ_PT on vectors (the 2-D toys) when ``weight`` is not set. A batch of 64 samples of a
ring of 8 modes holds about 8 per mode, whose codes agree, so even a perfect generator
keeps f_PT ≥ 7/63; at 0.1 the term spread the samples within each mode (8 of 8 ring
modes but 42 % of the samples within 3σ, or 4 of 8 and 10 % on signed features), at 0.02
it did not (6 of 8, 84 %; docs/quality.md)."""


class PullingAwayTerm(Regularizer):
    """λ_PT·f_PT on the generator's loss (:func:`pulling_away_term`); ``weight=None`` is
    λ_PT = 0.1 on images (the paper's) and 0.02 on vectors (:data:`VECTOR_WEIGHT`).

    The paper adds the term only to the generator's loss, on the encoder codes of the
    generated batch: ``penalty(real, fake)`` reads ``fake.features`` (flattened to
    ``(N, F)``) and ignores ``real``.
    """

    requires: ClassVar[frozenset[str]] = frozenset({"features"})

    def __init__(self, spec: DataSpec, *, weight: float | None = None) -> None:
        if weight is None:
            weight = IMAGE_WEIGHT if spec.is_image else VECTOR_WEIGHT
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
