"""The shared rule that picks an MLP or a convolutional network for the data.

Energies and generators left on ``arch="auto"`` both ask :func:`choose_architecture`,
so they always agree. Torch-free: plugins may import it from their hook modules.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ebkit.core.interfaces import DataSpec

__all__ = [
    "ARCHITECTURES",
    "CONV_MIN_SIDE",
    "DECK_SHAPE",
    "GRAYSCALE_CONV_MIN_SIDE",
    "choose_architecture",
    "deck_is_default",
]

ARCHITECTURES: tuple[str, ...] = ("auto", "mlp", "conv")
"""Accepted ``arch`` values of the generator (and of the ``autoencoder`` energy)."""

CONV_MIN_SIDE = 16
"""Below this side (the 8×8 digits) ``auto`` never picks ``conv``."""

GRAYSCALE_CONV_MIN_SIDE = 64
"""Grayscale images get ``conv`` from ``auto`` only from this side on."""


def choose_architecture(spec: DataSpec, arch: str = "auto") -> str:
    """Resolve ``arch`` (``auto``, ``mlp`` or ``conv``) for data described by ``spec``.

    ``auto`` follows the EBGAN paper: MLPs for MNIST-like grayscale images (its MNIST
    grid, App. C) and DCGAN-style conv nets for colour images (LSUN, CelebA). So
    ``conv`` for images ``(C, H, W)`` with C > 1 and H, W ≥ :data:`CONV_MIN_SIDE`, or
    any C with H, W ≥ :data:`GRAYSCALE_CONV_MIN_SIDE`; ``mlp`` otherwise (vectors, the
    8×8 digits, 28×28 MNIST — also the choice that trains in minutes on a CPU). Set
    ``arch=conv`` to use the conv net on MNIST. ``conv`` needs image data.
    """
    if arch not in ARCHITECTURES:
        raise ValueError(f"arch must be one of {', '.join(ARCHITECTURES)}, not {arch!r}")
    if arch == "auto":
        if not spec.is_image:
            return "mlp"
        channels, side = spec.event_shape[0], min(spec.event_shape[1:])
        colour = channels > 1 and side >= CONV_MIN_SIDE
        return "conv" if colour or side >= GRAYSCALE_CONV_MIN_SIDE else "mlp"
    if arch == "conv" and not spec.is_image:
        raise ValueError(
            f"arch='conv' needs image data of shape (C, H, W), not {tuple(spec.event_shape)}; "
            "use arch='mlp'"
        )
    return arch


DECK_SHAPE: tuple[int, int, int] = (3, 32, 32)
"""The images of the conditional CIFAR-10 networks, ``arch="deck"``: a conditional EBGAN
(Zhao, Mathieu & LeCun 2017) whose DCGAN-style networks (Radford et al. 2016: 5×5
transposed convolutions with BatchNorm and ReLU in the generator, strided convolutions
with BatchNorm and LeakyReLU in the discriminator) take the class as conditional GANs
do (Mirza & Osindero 2014, eq. 2). The option value ``deck`` is kept for compatibility."""


def deck_is_default(spec: DataSpec) -> bool:
    """Whether ``arch="auto"`` picks the conditional CIFAR-10 networks (``deck``, see
    :data:`DECK_SHAPE`) for ``spec``: in conditional runs on 3×32×32 images, the setting
    they are designed for, for the ``generator`` and the ``conv`` energy alike."""
    return spec.conditional and tuple(spec.event_shape) == DECK_SHAPE
