"""The reconstruction error that turns an auto-encoder into an energy function."""

from __future__ import annotations

import torch
from torch import Tensor

from ebkit_autoencoder import DISTANCES


def reconstruction_energy(x: Tensor, reconstruction: Tensor, distance: str = "l2") -> Tensor:
    """Per-sample reconstruction error, EBGAN's energy (Zhao et al. 2017, §2.3)::

        l2:  D(x) = ‖Dec(Enc(x)) − x‖₂               (the paper's; not squared)
        mse: D(x) = (1/d) · ‖Dec(Enc(x)) − x‖₂²       (d = scalars per sample)
        l1:  D(x) = ‖Dec(Enc(x)) − x‖₁
        mae: D(x) = (1/d) · ‖Dec(Enc(x)) − x‖₁        (BEGAN's L(x) with η = 1)

    ``x, reconstruction: (B, *event_shape) -> energy: (B,)``. Nothing is averaged over
    the batch and nothing is detached: a generator trained on this energy gets gradients
    through both the input ``x`` and its reconstruction.
    """
    if x.shape != reconstruction.shape:
        raise ValueError(
            f"reconstruction shape {tuple(reconstruction.shape)} does not match input "
            f"shape {tuple(x.shape)}"
        )
    return residual_energy(reconstruction - x, distance)


def residual_energy(residual: Tensor, distance: str = "l2") -> Tensor:
    """The same per-sample error from ``residual = Dec(Enc(x)) − x``, ``(B, *event_shape)
    -> (B,)`` (see :func:`reconstruction_energy` for each ``distance``)."""
    # reshape rather than flatten(1) so that scalar events, x: (B,), work too.
    difference = residual.reshape(residual.shape[0], -1)
    if distance == "l2":
        return torch.linalg.vector_norm(difference, ord=2, dim=1)
    if distance == "mse":
        return difference.square().mean(dim=1)
    if distance == "l1":
        return difference.abs().sum(dim=1)
    if distance == "mae":
        return difference.abs().mean(dim=1)
    raise ValueError(f"distance must be one of {', '.join(DISTANCES)}, not {distance!r}")


def resolve_distance(distance: str, natural: str) -> str:
    """``distance`` with ``"auto"`` replaced by the architecture's ``natural`` one (``l2``
    for EBGAN's nets, ``mae`` for BEGAN's); an unknown name is a ``ValueError``."""
    if distance == "auto":
        return natural
    if distance not in DISTANCES:
        raise ValueError(
            f"distance must be auto or one of {', '.join(DISTANCES)}, not {distance!r}"
        )
    return distance
