"""The shared rule that picks an MLP or a convolutional network for the data.

Energies and generators left on ``arch="auto"`` both ask :func:`choose_architecture`,
so they always agree. Torch-free: plugins may import it from their hook modules.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ebkit.interfaces import DataSpec

ARCHITECTURES: tuple[str, ...] = ("auto", "mlp", "conv")
"""Accepted ``arch`` values of the generator (and of the ``autoencoder`` energy)."""

CONV_MIN_SIDE = 16
"""``arch="auto"`` picks ``conv`` for images whose height and width are both at least
this; smaller images (the 8×8 digits) and vectors get the MLP."""


def choose_architecture(spec: DataSpec, arch: str = "auto") -> str:
    """Resolve ``arch`` (``auto``, ``mlp`` or ``conv``) for data described by ``spec``.

    ``auto`` means ``conv`` for images ``(C, H, W)`` with H, W ≥ :data:`CONV_MIN_SIDE`
    and ``mlp`` otherwise: below 16 pixels a side a convolutional stack has too few
    stride-2 stages to be worth it, and the paper's MNIST grid is an MLP anyway (set
    ``arch=mlp`` to reproduce it on 28×28 MNIST). ``conv`` needs image data.
    """
    if arch not in ARCHITECTURES:
        raise ValueError(f"arch must be one of {', '.join(ARCHITECTURES)}, not {arch!r}")
    if arch == "auto":
        large = spec.is_image and min(spec.event_shape[1:]) >= CONV_MIN_SIDE
        return "conv" if large else "mlp"
    if arch == "conv" and not spec.is_image:
        raise ValueError(
            f"arch='conv' needs image data of shape (C, H, W), not {tuple(spec.event_shape)}; "
            "use arch='mlp'"
        )
    return arch
