"""Batch normalisation without a learned affine map, as the Ladder network uses it: the
statistics are returned (the denoising cost needs the clean path's) and updating the
running estimates is the caller's explicit choice."""

from __future__ import annotations

import torch
from torch import Tensor, nn

BN_EPS = 1e-5
"""ε added to the variance before the square root (PyTorch's BatchNorm default; the
reference Theano code used 1e-10, which divides by ~1e-5 when a ReLU unit is dead for a
whole batch)."""

BN_MOMENTUM = 0.1
"""Weight of the newest batch in the running mean and variance (PyTorch's default)."""


def batch_statistics(z: Tensor) -> tuple[Tensor, Tensor]:
    """Per-unit mean and biased variance over the batch: ``z: (B, d) -> (mean, var)``,
    each ``(d,)``."""
    return z.mean(dim=0), z.var(dim=0, unbiased=False)


def batch_normalize(z: Tensor, mean: Tensor, var: Tensor, eps: float = BN_EPS) -> Tensor:
    """N(z) = (z − mean) / √(var + ε), per unit, with no learned scale or shift.

    ``z: (B, d)``, ``mean, var: (d,) -> (B, d)``. In the Ladder network the same map,
    with the clean path's statistics, also normalises the decoder's reconstruction before
    it is compared with the clean code (Rasmus et al.'s ẑ_BN).
    """
    return (z - mean) / torch.sqrt(var + eps)


class RunningStatistics(nn.Module):
    """Per-unit running mean and variance of one normalised layer (buffers
    ``running_mean`` and ``running_var``, saved in checkpoints).

    :meth:`statistics` returns the batch's statistics (training) or the running ones
    (evaluation); only the caller decides whether a batch updates the running ones,
    because in a Ladder network only the clean path's batches should.
    """

    def __init__(self, width: int) -> None:
        super().__init__()
        self.register_buffer("running_mean", torch.zeros(width))
        self.register_buffer("running_var", torch.ones(width))

    def statistics(self, z: Tensor, *, use_batch: bool, update: bool) -> tuple[Tensor, Tensor]:
        """``(mean, var)`` for normalising ``z: (B, d)``: the batch's own statistics when
        ``use_batch`` (and, if ``update``, folded into the running ones with momentum
        :data:`BN_MOMENTUM`, the variance unbiased as in PyTorch), else the running
        statistics."""
        if not use_batch:
            return self.running_mean, self.running_var
        if z.shape[0] < 2:
            raise ValueError(
                "the ladder energy normalises over the batch in training mode and needs "
                f"at least 2 samples per batch, got {z.shape[0]}"
            )
        mean, var = batch_statistics(z)
        if update:
            count = z.shape[0]
            with torch.no_grad():
                self.running_mean.lerp_(mean.detach(), BN_MOMENTUM)
                self.running_var.lerp_(var.detach() * (count / (count - 1)), BN_MOMENTUM)
        return mean, var
