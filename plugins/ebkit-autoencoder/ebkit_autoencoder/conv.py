"""The convolutional auto-encoder energy of the EBGAN paper's image experiments, for any
C×H×W."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import ClassVar

import torch.nn.functional as F
from torch import Tensor, nn

from ebkit import DataSpec, EnergyFunction, EnergyOutput
from ebkit.nets import label_channel, with_labels
from ebkit_autoencoder.reconstruction import residual_energy, resolve_distance

WEIGHT_STD = 0.002
"""Standard deviation of the initial weights. The paper gives N(0, 0.002) for its MNIST
MLP discriminator only; we keep the same for the conv one so that ``arch`` changes the
architecture and nothing else (DCGAN itself uses 0.02)."""

LEAKY_SLOPE = 0.2
"""Negative slope of the encoder's LeakyReLU (DCGAN's discriminator convention)."""

_KERNEL, _STRIDE, _PADDING = 4, 2, 1  # "4c2s": each layer halves (or doubles) the side


def padding_to_multiple(size: int, multiple: int) -> tuple[int, int]:
    """Zeros to add before and after a side of ``size`` pixels so that it becomes the
    next multiple of ``multiple`` (split evenly, the odd one after): 28 → 32 is (2, 2),
    5 → 8 is (1, 2), 32 → 32 is (0, 0)."""
    total = -size % multiple
    return total // 2, total - total // 2


class ConvAutoEncoderEnergy(EnergyFunction):
    """EBGAN's convolutional auto-encoder discriminator; the energy is the reconstruction
    error.

    ``x: (B, C, H, W) -> EnergyOutput`` with ``energy: (B,)``,
    ``features: (B, channels[-1]·H'·W')`` (the flattened code),
    ``reconstruction: (B, C, H, W)`` and ``residual: (B, C, H, W)`` (reconstruction − x).
    ``distance="auto"`` is ``l2``.

    Architecture (paper App. C, ``channels=[64, 128, 256]``; k = ``len(channels)``)::

        pad with zeros to H', W' = multiples of 2^k (centred: 28×28 → 32×32 for k = 3)
        encoder: Conv(C→64, 4c2s) -> LeakyReLU(0.2)
                 Conv(64→128, 4c2s) -> BatchNorm -> LeakyReLU(0.2)
                 Conv(128→256, 4c2s) -> BatchNorm -> LeakyReLU(0.2)   = the code
        decoder: ConvT(256→128, 4c2s) -> BatchNorm -> ReLU
                 ConvT(128→64, 4c2s) -> BatchNorm -> ReLU
                 ConvT(64→C, 4c2s)                                    = the reconstruction
        crop the padding off again, so the reconstruction has exactly the input's shape

    4c2s is a 4×4 kernel, stride 2, padding 1, which halves (or doubles) each side
    exactly. The paper gives only the layer sizes; the rest is the DCGAN convention
    (Radford et al. 2016) its conv models follow: BatchNorm after every convolution
    except the encoder's first (the input layer, as in the MLP) and the decoder's last,
    LeakyReLU(0.2) in the encoder and ReLU in the decoder. A convolution followed by
    BatchNorm has no bias (BatchNorm's shift replaces it). The reconstruction is linear,
    as in the MLP, so the energy works for any data range. Weights start from
    N(0, 0.002) (see :data:`WEIGHT_STD`), biases at 0.

    The padding is zeros and is not part of the energy: only the H×W input pixels are
    compared with the cropped reconstruction. Any size works; a side smaller than 2^k
    is padded up to it (8×8 digits with k = 3 give a 1×1 code).

    In training mode BatchNorm normalises over the batch, so a sample's energy depends
    on the other samples in the same forward pass, as in the paper.

    Conditional runs (``spec.conditional``): ``forward(x, labels: (B,))`` models
    E(x | y). One learned map per class (:class:`ebkit.nets.LabelChannel`: the class fed
    to the discriminator as in conditional GANs, Mirza & Osindero 2014, eq. 2) is
    concatenated to the *padded* image as an extra
    channel, so the encoder's first convolution reads C + 1 channels. The map is built
    at the padded size H'×W' the network works at, so every position the encoder reads
    carries the label, not a constant pad. The decoder still reconstructs the C channels
    of x, and the energy is their reconstruction error.
    """

    provides: ClassVar[frozenset[str]] = frozenset({"features", "reconstruction", "residual"})
    accepts_labels: ClassVar[bool] = True

    def __init__(
        self,
        spec: DataSpec,
        *,
        channels: Sequence[int] = (64, 128, 256),
        distance: str = "auto",
        batchnorm: bool | None = None,
    ) -> None:
        super().__init__(spec)
        if batchnorm is None:
            batchnorm = True  # images only: the paper's BatchNorm
        if not spec.is_image:
            raise ValueError(
                "the conv auto-encoder needs image data of shape (C, H, W), not "
                f"{tuple(spec.event_shape)}; use arch='mlp'"
            )
        channels = list(channels)
        if not channels or min(channels) < 1:
            raise ValueError(f"channels must be a non-empty list of sizes >= 1, not {channels}")
        self.distance = resolve_distance(distance, "l2")
        in_channels, height, width = spec.event_shape
        multiple = 2 ** len(channels)
        top, bottom = padding_to_multiple(height, multiple)
        left, right = padding_to_multiple(width, multiple)
        self._padding = (left, right, top, bottom)  # F.pad's order: last dimension first
        self.label_channel = label_channel(spec, top + height + bottom, left + width + right)
        encoder_channels = in_channels + (0 if self.label_channel is None else 1)

        encoder: list[nn.Module] = []
        for index, (size_in, size_out) in enumerate(
            itertools.pairwise([encoder_channels, *channels])
        ):
            normalised = batchnorm and index > 0
            encoder.append(
                nn.Conv2d(size_in, size_out, _KERNEL, _STRIDE, _PADDING, bias=not normalised)
            )
            if normalised:
                encoder.append(nn.BatchNorm2d(size_out))
            encoder.append(nn.LeakyReLU(LEAKY_SLOPE))
        self.encoder = nn.Sequential(*encoder)

        decoder: list[nn.Module] = []
        widths = [*reversed(channels), in_channels]
        for index, (size_in, size_out) in enumerate(itertools.pairwise(widths)):
            hidden = index < len(channels) - 1
            normalised = batchnorm and hidden
            decoder.append(
                nn.ConvTranspose2d(
                    size_in, size_out, _KERNEL, _STRIDE, _PADDING, bias=not normalised
                )
            )
            if normalised:
                decoder.append(nn.BatchNorm2d(size_out))
            if hidden:
                decoder.append(nn.ReLU())
        self.decoder = nn.Sequential(*decoder)

        for module in self.modules():
            if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
                nn.init.normal_(module.weight, mean=0.0, std=WEIGHT_STD)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)

    def forward(self, x: Tensor, labels: Tensor | None = None) -> EnergyOutput:
        if tuple(x.shape[1:]) != tuple(self.spec.event_shape):
            raise ValueError(
                f"expected samples of shape {tuple(self.spec.event_shape)}, "
                f"got a batch of shape {tuple(x.shape)}"
            )
        padded = F.pad(x, self._padding)
        code = self.encoder(with_labels(self.label_channel, self.spec, padded, labels))
        decoded = self.decoder(code)
        left, right, top, bottom = self._padding
        height, width = decoded.shape[-2:]
        reconstruction = decoded[..., top : height - bottom, left : width - right]
        residual = reconstruction - x
        return EnergyOutput(
            energy=residual_energy(residual, self.distance),
            features=code.flatten(1),
            reconstruction=reconstruction,
            residual=residual,
        )
