"""The generator sampler's networks and their initial weights (see
:mod:`ebkit.builtins.samplers.generator` for the architectures and why each exists).

Initial weights (``weight_init``, mlp, conv and deck): ``normal`` draws weights
N(0, 0.02) and zero biases, the EBGAN paper's G init (Zhao, Mathieu & LeCun 2017, App. C)
and DCGAN's (Radford et al. 2016); ``xavier`` Glorot-uniform weights (Glorot & Bengio
2010) and zero biases. began always uses Glorot-uniform weights (BEGAN gives no
initialisation; TensorFlow's default, which its reimplementations inherit).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

from torch import Tensor, nn

from ebkit.core.interfaces import DataSpec
from ebkit.nets import (
    began_bottleneck,
    began_decoder,
    began_halvings,
    began_padded_spec,
    centred_padding,
    glorot_init,
)

__all__ = [
    "DECK_CHANNELS",
    "WEIGHT_INITS",
    "ConvNet",
    "began_net",
    "deck_net",
    "deck_start",
    "initialise_weights",
    "mlp_net",
    "weight_init_for",
]

INIT_STD = 0.02
_KERNEL, _STRIDE, _PADDING = 4, 2, 1  # "4c2s": each layer doubles the side exactly

DECK_CHANNELS: tuple[int, ...] = (128, 128, 64)
"""The ``deck`` generator's widths: the projection's 128 maps, then the outputs of its two
stride-2 transposed convolutions (a last one writes the data's channels)."""
DECK_SHRINK = 4
"""The ``deck`` projection has sides H/4 × W/4 (8×8 for 32×32); two doublings follow."""
DECK_KERNEL = 5

WEIGHT_INITS: tuple[str, ...] = ("auto", "normal", "xavier")
"""``weight_init`` values: ``auto`` is ``normal`` on images and :data:`VECTOR_WEIGHT_INIT`
on vectors."""

VECTOR_WEIGHT_INIT = "xavier"
"""``weight_init`` = auto on vectors. With N(0, 0.02) weights the three-layer generator's
first samples all lie within about 0.003 of the centre of the data range: one point. On
the 5×5 grid a mode sits there, the discriminator or energy builds a plateau around it,
and the generator's samples sit on its flat top with almost no gradient. Glorot's weights
spread the first samples over about a tenth of the range, onto the slopes of what the
energy builds (measurements: docs/quality.md)."""


def weight_init_for(spec: DataSpec, weight_init: str) -> str:
    """``weight_init`` with ``auto`` resolved for ``spec``'s data kind; a ``ValueError``
    naming the accepted values for anything else."""
    if weight_init not in WEIGHT_INITS:
        raise ValueError(
            f"weight_init must be one of {', '.join(WEIGHT_INITS)}, not {weight_init!r}"
        )
    if weight_init != "auto":
        return weight_init
    return "normal" if spec.is_image else VECTOR_WEIGHT_INIT


def initialise_weights(net: nn.Module, arch: str, weight_init: str) -> None:
    """Draw ``net``'s initial weights from torch's default generator (which the engine
    seeds): began Glorot-uniform whatever ``weight_init`` says; mlp, conv and deck
    N(0, 0.02) with zero biases, then, for ``xavier``, Glorot-uniform weights over them.

    Why ``xavier`` draws N(0, 0.02) first and then overwrites it: that is how
    ``generator-langevin`` drew its Glorot weights before this option existed, so its
    seeded runs keep their weights and every draw after them. BatchNorm keeps its own init
    (γ = 1, β = 0)."""
    if arch == "began":
        glorot_init(net)
        return
    for module in net.modules():
        if isinstance(module, (nn.Linear, nn.ConvTranspose2d)):
            nn.init.normal_(module.weight, mean=0.0, std=INIT_STD)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
    if weight_init == "xavier":
        for module in net.modules():
            if isinstance(module, (nn.Linear, nn.ConvTranspose2d)):
                nn.init.xavier_uniform_(module.weight)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)


def mlp_net(
    spec: DataSpec, input_dim: int, n_layers: int, width: int, batchnorm: bool, output: str
) -> nn.Module:
    layers: list[nn.Module] = []
    sizes = [input_dim] + [width] * (n_layers - 1) + [spec.dim]
    for index, (size_in, size_out) in enumerate(itertools.pairwise(sizes)):
        layers.append(nn.Linear(size_in, size_out))
        if index < n_layers - 1:
            if batchnorm:
                layers.append(nn.BatchNorm1d(size_out))
            layers.append(nn.ReLU())
    if output == "tanh":
        layers.append(nn.Tanh())
    return nn.Sequential(*layers)


class ConvNet(nn.Module):
    """DCGAN-style ``z: (n, input_dim) -> (n, C, H, W)`` in [-1, 1] (see the module)."""

    def __init__(
        self, spec: DataSpec, input_dim: int, channels: Sequence[int], batchnorm: bool
    ) -> None:
        super().__init__()
        out_channels, height, width = spec.event_shape
        scale = 2 ** len(channels)
        self.start = (channels[0], math.ceil(height / scale), math.ceil(width / scale))
        self.size = (height, width)
        self.project = nn.Linear(input_dim, math.prod(self.start), bias=not batchnorm)
        self.project_norm = nn.BatchNorm2d(channels[0]) if batchnorm else nn.Identity()
        layers: list[nn.Module] = [nn.ReLU()]
        widths = [*channels, out_channels]
        for index, (size_in, size_out) in enumerate(itertools.pairwise(widths)):
            hidden = index < len(channels) - 1
            layers.append(
                nn.ConvTranspose2d(
                    size_in, size_out, _KERNEL, _STRIDE, _PADDING, bias=not (hidden and batchnorm)
                )
            )
            if hidden:
                if batchnorm:
                    layers.append(nn.BatchNorm2d(size_out))
                layers.append(nn.ReLU())
        layers.append(nn.Tanh())
        self.body = nn.Sequential(*layers)

    def forward(self, z: Tensor) -> Tensor:
        grown = self.body(self.project_norm(self.project(z).reshape(z.shape[0], *self.start)))
        # Centre crop from (h0·2^k, w0·2^k) to exactly (H, W).
        (height, width), (full_height, full_width) = self.size, grown.shape[-2:]
        top, left = (full_height - height) // 2, (full_width - width) // 2
        return grown[..., top : top + height, left : left + width]


def deck_start(spec: DataSpec) -> tuple[int, int]:
    """The (H/4, W/4) sides of the ``deck`` generator's first feature maps for ``spec``'s
    images; a ``ValueError`` naming the accepted sizes for vectors and for sides that
    4 does not divide."""
    if not spec.is_image:
        raise ValueError(
            "arch='deck' needs image data of shape (C, H, W), not "
            f"{tuple(spec.event_shape)}; use arch='mlp'"
        )
    height, width = spec.event_shape[1:]
    if height % DECK_SHRINK or width % DECK_SHRINK:
        raise ValueError(
            "arch='deck' needs image sides divisible by 4 (8×8, 28×28, 32×32, 64×64, …), "
            f"not {height}×{width}; use arch='conv', which crops to any size"
        )
    return height // DECK_SHRINK, width // DECK_SHRINK


def deck_net(spec: DataSpec, input_dim: int, batchnorm: bool) -> nn.Sequential:
    """The conditional CIFAR-10 EBGAN generator (``arch="deck"``), ``(n, input_dim) ->
    (n, C, H, W)`` in [-1, 1] (z ⊕ class in a conditional run; 100 + 10 on CIFAR-10)::

        Linear(input_dim → 128·(H/4)·(W/4)) -> reshape to (128, H/4, W/4)
        ConvTranspose 5×5 stride 2 (128 → 128), BatchNorm + ReLU    (H/2 × W/2)
        ConvTranspose 5×5 stride 2 (128 → 64),  BatchNorm + ReLU    (H × W)
        ConvTranspose 5×5 stride 1 (64 → C) -> tanh                (H × W)

    Padding 2 (and output padding 1 on the stride-2 layers) makes every side double
    exactly, or stay, as the table's sizes say. The table lists no activation after the
    dense layer, and none is added: the projection feeds the first transposed
    convolution directly, as written. ``batchnorm=False`` drops the BatchNorms (the
    convolutions then keep their biases).
    """
    start = (DECK_CHANNELS[0], *deck_start(spec))
    layers: list[nn.Module] = [
        nn.Linear(input_dim, math.prod(start)),
        nn.Unflatten(1, start),
    ]
    padding = DECK_KERNEL // 2
    for size_in, size_out in itertools.pairwise(DECK_CHANNELS):
        layers.append(
            nn.ConvTranspose2d(
                size_in,
                size_out,
                DECK_KERNEL,
                stride=2,
                padding=padding,
                output_padding=1,
                bias=not batchnorm,
            )
        )
        if batchnorm:
            layers.append(nn.BatchNorm2d(size_out))
        layers.append(nn.ReLU())
    out_channels = spec.event_shape[0]
    layers += [
        nn.ConvTranspose2d(DECK_CHANNELS[-1], out_channels, DECK_KERNEL, padding=padding),
        nn.Tanh(),
    ]
    return nn.Sequential(*layers)


def began_net(spec: DataSpec, input_dim: int, filters: int) -> nn.Sequential:
    """BEGAN's generator ``z: (n, input_dim) -> (n, C, H, W)``: the decoder of
    :func:`ebkit.nets.began_decoder`, with z in the embedding's place, at the padded size
    of :func:`ebkit.nets.began_padded_spec` and cropped (centred) to the data's."""
    padded = began_padded_spec(spec)
    decoder = began_decoder(
        spec.event_shape[0], began_bottleneck(padded), began_halvings(padded), filters, input_dim
    )
    if padded.event_shape == spec.event_shape:
        return decoder
    left, _, top, _ = centred_padding(spec.event_shape[1:], padded.event_shape[1:])
    height, width = spec.event_shape[1:]
    return nn.Sequential(decoder, Crop(top, left, height, width))


class Crop(nn.Module):
    """``(B, C, H', W') -> (B, C, height, width)``, the window at (top, left)."""

    def __init__(self, top: int, left: int, height: int, width: int) -> None:
        super().__init__()
        self.window = (top, left, height, width)

    def forward(self, x: Tensor) -> Tensor:
        top, left, height, width = self.window
        return x[..., top : top + height, left : left + width]
