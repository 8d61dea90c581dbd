"""Network building blocks that the core and plugins share (public API).

BEGAN's generator and its auto-encoder's decoder are the same architecture with their
own weights (Berthelot et al. 2017, §3.5), so the one builder lives here: the core's
``generator`` sampler and the ``ebkit-autoencoder`` plugin both use it. So do the two
ways a network takes a class label in a conditional run: :class:`LabelEmbedding`
(concatenated to a vector: a generator's z, an MLP energy's input) and
:class:`LabelChannel` (one extra image channel). Both feed the class to the network as
conditional GANs do (Mirza & Osindero 2014, eq. 2).
"""

from __future__ import annotations

import dataclasses

import torch
from torch import Tensor, nn

from ebkit.core.interfaces import DataSpec

__all__ = [
    "BEGAN_BOTTLENECK_SIDE",
    "LabelChannel",
    "LabelEmbedding",
    "began_bottleneck",
    "began_decoder",
    "began_halvings",
    "began_padded_spec",
    "began_side",
    "centred_padding",
    "checked_labels",
    "glorot_init",
    "label_channel",
    "label_embedding",
    "with_labels",
]

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
    return dataclasses.replace(spec, event_shape=shape)


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


def checked_labels(spec: DataSpec, labels: Tensor | None, batch: int) -> Tensor | None:
    """The ``labels`` a component built for ``spec`` was called with, checked: ``(batch,)``
    class indices in a conditional run (missing ones are an error), ``None`` otherwise
    (labels given to a component of an unconditional run are an error, not ignored)."""
    if spec.conditional:
        if labels is None:
            raise ValueError("this component was built for a conditional run and needs labels")
        if labels.shape != (batch,):
            raise ValueError(f"expected labels of shape ({batch},), got {tuple(labels.shape)}")
        return labels
    if labels is not None:
        raise ValueError(
            "labels were given to a component built for an unconditional run; train with "
            "--conditional to model a class-conditional distribution"
        )
    return None


def label_embedding(spec: DataSpec, label_dim: int | None) -> LabelEmbedding | None:
    """The label layer of a network on vectors: ``label_dim`` learned values per class
    (``None``: ``num_classes``, a one-hot label's size) to concatenate to its input, or
    ``None`` in an unconditional run, where ``label_dim`` is unused."""
    if label_dim is not None and label_dim < 1:
        raise ValueError(f"label_dim must be at least 1 (or unset: num_classes), not {label_dim}")
    if not spec.conditional:
        return None
    assert spec.num_classes is not None  # DataSpec refuses conditional without classes
    return LabelEmbedding(spec.num_classes, label_dim or spec.num_classes)


def label_channel(spec: DataSpec, height: int, width: int) -> LabelChannel | None:
    """The label layer of a network on images: one learned ``height``×``width`` map per
    class to concatenate as a channel, or ``None`` in an unconditional run."""
    if not spec.conditional:
        return None
    assert spec.num_classes is not None
    return LabelChannel(spec.num_classes, height, width)


def with_labels(
    layer: LabelEmbedding | LabelChannel | None,
    spec: DataSpec,
    inputs: Tensor,
    labels: Tensor | None,
) -> Tensor:
    """``inputs`` (``(B, D)`` or ``(B, C, H, W)``) with the labels' embedding or map
    concatenated along dimension 1 by ``layer`` (from :func:`label_embedding` or
    :func:`label_channel`), or unchanged in an unconditional run; the labels are checked
    with :func:`checked_labels`."""
    labels = checked_labels(spec, labels, inputs.shape[0])
    if layer is None or labels is None:
        return inputs
    return layer(inputs, labels)


class LabelEmbedding(nn.Module):
    """A learned embedding of the class label, concatenated to a batch of vectors (the
    conditional generator's z, the conditional MLP energy's flattened input).

    ``forward(v: (B, D), labels: (B,)) -> (B, D + dim)``. A learned embedding is the same
    function as the one-hot label fed through a dense layer (Mirza & Osindero 2014, §4.1),
    without the multiplication by zeros. Initialised N(0, 1), torch's default,
    so the label enters on the scale of z ~ N(0, I).
    """

    def __init__(self, num_classes: int, dim: int) -> None:
        super().__init__()
        if num_classes < 2 or dim < 1:
            raise ValueError(
                f"a label embedding needs at least 2 classes and 1 dimension, "
                f"not {num_classes} and {dim}"
            )
        self.embedding = nn.Embedding(num_classes, dim)
        self.dim = dim

    def forward(self, v: Tensor, labels: Tensor) -> Tensor:
        return torch.cat([v, self.embedding(labels).to(v.dtype)], dim=1)


class LabelChannel(nn.Module):
    """The label as one more image channel: a learned per-class map of H×W values,
    concatenated to the image: one-hot class -> dense -> one H×W map -> concatenated to
    the RGB image, the input of the conditional CIFAR-10 discriminator (``arch="deck"``,
    :data:`ebkit.core.architectures.DECK_SHAPE`).

    ``forward(x: (B, C, H, W), labels: (B,)) -> (B, C + 1, H, W)``. The per-class map is
    one-hot -> dense layer written as an embedding of H·W values (the dense
    layer's bias folds into the maps). Initialised N(0, 1): the scale of data in [-1, 1].
    """

    def __init__(self, num_classes: int, height: int, width: int) -> None:
        super().__init__()
        if num_classes < 2:
            raise ValueError(f"a label channel needs at least 2 classes, not {num_classes}")
        self.maps = nn.Embedding(num_classes, height * width)
        self.shape = (1, height, width)

    def forward(self, x: Tensor, labels: Tensor) -> Tensor:
        maps = self.maps(labels).to(x.dtype).view(len(labels), *self.shape)
        return torch.cat([x, maps], dim=1)


def glorot_init(
    module: nn.Module, kinds: tuple[type[nn.Module], ...] = (nn.Linear, nn.Conv2d)
) -> None:
    """Glorot-uniform weights (Glorot & Bengio 2010) and zero biases for every layer of
    ``module`` of the given ``kinds``, in the order of ``module.modules()`` (from torch's
    default generator, which the engine seeds before building components). BEGAN's
    networks use it (the paper gives no initialisation; this is TensorFlow's default,
    which its public reimplementations inherit), and ``generator-langevin`` on vectors."""
    for layer in module.modules():
        if isinstance(layer, kinds):
            nn.init.xavier_uniform_(layer.weight)
            nn.init.zeros_(layer.bias)
