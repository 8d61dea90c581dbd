"""Network building blocks that the core and plugins share (public API).

BEGAN's generator and its auto-encoder's decoder are the same architecture with their
own weights (Berthelot et al. 2017, §3.5), so the one builder lives here: the core's
``generator`` sampler and the ``ebkit-autoencoder`` plugin both use it.
"""

from __future__ import annotations

from torch import nn

from ebkit.interfaces import DataSpec

BEGAN_BOTTLENECK_SIDE = 8
"""The side of BEGAN's smallest feature maps (the paper's 8×8)."""


def began_halvings(spec: DataSpec) -> int:
    """How many times BEGAN's encoder halves the image (and its decoder doubles it): k for
    sides of 8·2^k.

    Both sides must be 8·2^k pixels (8, 16, 32, 64, 128, …). A non-square image with
    sides 8·2^a and 8·2^b is halved min(a, b) times, so its bottleneck is 8 pixels on
    the shorter side and 8·2^|a − b| on the longer one (16×32 → 8×16). Anything else is a
    ``ValueError`` that names the accepted sizes.
    """
    if not spec.is_image:
        raise ValueError(
            "arch='began' needs image data of shape (C, H, W), not "
            f"{tuple(spec.event_shape)}; use arch='mlp'"
        )
    height, width = spec.event_shape[1:]
    for side in (height, width):
        blocks, remainder = divmod(side, BEGAN_BOTTLENECK_SIDE)
        if remainder or blocks < 1 or blocks & (blocks - 1):
            hint = (
                "; for 28×28 MNIST set -o data.pad=true"
                if (height, width) == (28, 28)
                else "; resize the images (the folder dataset: -o data.size=32)"
            )
            raise ValueError(
                f"arch='began' needs image sides of 8·2^k pixels (8, 16, 32, 64, 128, …), "
                f"not {height}×{width}{hint}"
            )
    return (min(height, width) // BEGAN_BOTTLENECK_SIDE).bit_length() - 1


def began_side(side: int) -> int:
    """The smallest 8·2^k that holds ``side`` pixels (28 → 32, 100 → 128, 5 → 8)."""
    if side < 1:
        raise ValueError(f"arch='began' needs images with sides of at least 1 pixel, not {side}")
    padded = BEGAN_BOTTLENECK_SIDE
    while padded < side:
        padded *= 2
    return padded


def began_padded_spec(spec: DataSpec) -> DataSpec:
    """``spec`` with both image sides raised to :func:`began_side`: the size BEGAN's
    networks work at. Images of another size are zero-padded in (to the data's low end,
    its background) and cropped out, centred, like the conv nets' padding."""
    if not spec.is_image:
        raise ValueError(
            "arch='began' needs image data of shape (C, H, W), not "
            f"{tuple(spec.event_shape)}; use arch='mlp'"
        )
    channels, height, width = spec.event_shape
    shape = (channels, began_side(height), began_side(width))
    return DataSpec(shape, spec.low, spec.high, spec.num_classes)


def centred_padding(inner: tuple[int, int], outer: tuple[int, int]) -> tuple[int, int, int, int]:
    """``F.pad``'s (left, right, top, bottom) that centres an ``inner`` (H, W) image in
    ``outer``; cropping ``outer[top : top + H, left : left + W]`` undoes it."""
    top, left = (outer[0] - inner[0]) // 2, (outer[1] - inner[1]) // 2
    return left, outer[1] - inner[1] - left, top, outer[0] - inner[0] - top


def began_bottleneck(spec: DataSpec) -> tuple[int, int]:
    """The (h0, w0) of BEGAN's smallest feature maps for ``spec``'s images."""
    halvings = began_halvings(spec)
    height, width = spec.event_shape[1:]
    return height >> halvings, width >> halvings


def began_decoder(
    out_channels: int, bottleneck: tuple[int, int], halvings: int, filters: int, embedding: int
) -> nn.Sequential:
    """BEGAN's decoder (and generator) ``h: (B, embedding) -> (B, out_channels, H, W)``::

    Linear(embedding → filters·h0·w0) -> reshape to (filters, h0, w0)   (h0×w0 = bottleneck)
    k + 1 times: [Conv3×3(filters → filters) -> ELU] × 2, then, except the last
                 time, nearest-neighbour upsampling ×2
    Conv3×3(filters → out_channels)                                     (linear: no tanh)
    """
    layers: list[nn.Module] = [
        nn.Linear(embedding, filters * bottleneck[0] * bottleneck[1]),
        nn.Unflatten(1, (filters, *bottleneck)),
    ]
    for stage in range(halvings + 1):
        for _ in range(2):
            layers += [nn.Conv2d(filters, filters, 3, padding=1), nn.ELU()]
        if stage < halvings:
            layers.append(nn.Upsample(scale_factor=2, mode="nearest"))
    layers.append(nn.Conv2d(filters, out_channels, 3, padding=1))
    return nn.Sequential(*layers)
