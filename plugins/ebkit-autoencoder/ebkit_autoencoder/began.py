"""BEGAN's convolutional auto-encoder energy: 3×3 ELU convolutions, an embedding h and an
8×8 bottleneck, for images whose sides are 8·2^k pixels."""

from __future__ import annotations

from typing import ClassVar

import torch.nn.functional as F
from torch import Tensor, nn

from ebkit import DataSpec, EnergyFunction, EnergyOutput
from ebkit.nets import (
    began_decoder,
    began_halvings,
    began_padded_spec,
    centred_padding,
    glorot_init,
    label_channel,
    with_labels,
)
from ebkit_autoencoder.reconstruction import residual_energy, resolve_distance


def _conv(size_in: int, size_out: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(size_in, size_out, kernel_size=3, stride=stride, padding=1)


def began_encoder(
    in_channels: int, bottleneck: tuple[int, int], halvings: int, filters: int, embedding: int
) -> nn.Sequential:
    """BEGAN's encoder ``x: (B, in_channels, H, W) -> h: (B, embedding)``, with n =
    ``filters``::

        Conv3×3(in_channels → n) -> ELU
        stage s = 0 … k: [Conv3×3(→ n·(s+1)) -> ELU] × 2, then, except the last stage,
                         Conv3×3 stride 2 (n·(s+1) → n·(s+1)) -> ELU     (halves the side)
        flatten -> Linear(n·(k+1)·h0·w0 → embedding)                     (linear: the code h)
    """
    layers: list[nn.Module] = [_conv(in_channels, filters), nn.ELU()]
    width = filters
    for stage in range(halvings + 1):
        stage_width = filters * (stage + 1)
        layers += [_conv(width, stage_width), nn.ELU(), _conv(stage_width, stage_width), nn.ELU()]
        width = stage_width
        if stage < halvings:
            layers += [_conv(width, width, stride=2), nn.ELU()]
    layers += [nn.Flatten(1), nn.Linear(width * bottleneck[0] * bottleneck[1], embedding)]
    return nn.Sequential(*layers)


class BEGANAutoEncoderEnergy(EnergyFunction):
    """BEGAN's discriminator (Berthelot et al. 2017, §3.5, Fig. 1): a convolutional
    auto-encoder with an embedding ``h``; the energy is the per-sample reconstruction
    error.

    ``x: (B, C, H, W) -> EnergyOutput`` with ``energy: (B,)``,
    ``features: (B, embedding)`` (the embedding h, what the pulling-away term reads),
    ``reconstruction: (B, C, H, W)`` and ``residual: (B, C, H, W)`` (reconstruction −
    x, what the ``began`` loss reads).

    The networks work at sides of 8·2^k pixels (:func:`ebkit.nets.began_halvings`);
    other images are padded, centred, with the data's low end (the background) to the
    next such size (28×28 MNIST to 32×32, :func:`ebkit.nets.began_padded_spec`), and the
    reconstruction is cropped back, so the energy sees exactly the data's pixels.
    With n = ``filters``, the encoder is :func:`began_encoder` and the decoder
    :func:`began_decoder`: two 3×3 convolutions with ELU per stage, the encoder's
    channels growing as n, 2n, 3n, …, the decoder's staying at n, and linear maps to and
    from the embedding at the 8×8 bottleneck. There is no BatchNorm, so a
    sample's energy never depends on its batch, and no tanh on the reconstruction.

    Where we may differ from the paper: the side is halved by a stride-2 convolution, as
    BEGAN's public implementations do; the paper says only "sub-sampling with stride 2"
    (Berthelot, Schumm & Metz 2017, §3.5). Nothing else is added: no skip connections, no
    normalisation.

    ``distance`` is the scalar energy only: ``auto`` (the default) is ``mae``, the mean
    of |residual| over the d scalars, which is BEGAN's L(x) with η = 1; ``mse`` is L
    with η = 2; ``l2`` and ``l1`` are EBGAN's. The ``began`` loss does not read the
    energy but L(v) from ``residual``, with its own η.

    Conditional runs (``spec.conditional``): ``forward(x, labels: (B,))`` models
    E(x | y). One learned map per class (:class:`ebkit.nets.LabelChannel`) is
    concatenated to the padded image as an extra channel, so the encoder's first
    convolution reads C + 1 channels. The map is built at the padded size 8·2^k the
    networks work at, so every position the encoder reads carries the label, not the
    constant background pad. The decoder still reconstructs the C channels of x, and the
    energy, ``residual`` and ``reconstruction`` are those of x alone.
    """

    provides: ClassVar[frozenset[str]] = frozenset({"features", "reconstruction", "residual"})
    accepts_labels: ClassVar[bool] = True

    def __init__(
        self,
        spec: DataSpec,
        *,
        filters: int = 64,
        embedding: int = 64,
        distance: str = "auto",
    ) -> None:
        super().__init__(spec)
        for option, value in (("filters", filters), ("embedding", embedding)):
            if value < 1:
                raise ValueError(f"{option} must be >= 1, not {value}")
        padded = began_padded_spec(spec)
        halvings = began_halvings(padded)
        self.distance = resolve_distance(distance, "mae")
        self.filters = filters
        self.embedding = embedding
        self.halvings = halvings
        channels, height, width = padded.event_shape
        self.bottleneck = (height >> halvings, width >> halvings)
        # F.pad's (left, right, top, bottom) from the data's size to the networks'.
        self.padding = centred_padding(spec.event_shape[1:], padded.event_shape[1:])
        self.label_channel = label_channel(spec, height, width)
        encoder_channels = channels + (0 if self.label_channel is None else 1)
        self.encoder = began_encoder(
            encoder_channels, self.bottleneck, halvings, filters, embedding
        )
        self.decoder = began_decoder(channels, self.bottleneck, halvings, filters, embedding)
        glorot_init(self)  # BEGAN gives no init; TensorFlow's default, as its ports

    def forward(self, x: Tensor, labels: Tensor | None = None) -> EnergyOutput:
        if tuple(x.shape[1:]) != tuple(self.spec.event_shape):
            raise ValueError(
                f"expected samples of shape {tuple(self.spec.event_shape)}, "
                f"got a batch of shape {tuple(x.shape)}"
            )
        left, right, top, bottom = self.padding
        padded = F.pad(x, self.padding, value=self.spec.low) if any(self.padding) else x
        code = self.encoder(with_labels(self.label_channel, self.spec, padded, labels))
        decoded = self.decoder(code)
        height, width = decoded.shape[-2:]
        reconstruction = decoded[..., top : height - bottom, left : width - right]
        residual = reconstruction - x
        return EnergyOutput(
            energy=residual_energy(residual, self.distance),
            features=code,
            reconstruction=reconstruction,
            residual=residual,
        )

    def extra_repr(self) -> str:
        return (
            f"filters={self.filters}, embedding={self.embedding}, "
            f"bottleneck={self.bottleneck}, distance={self.distance!r}"
        )
