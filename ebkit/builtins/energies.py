"""The ``mlp`` and ``conv`` energies: plain scalar energy networks E(x) for
contrastive-divergence EBMs and for the GAN baseline (whose discriminator logit is −E).

Both map ``x: (B, *event_shape)`` to ``energy: (B,)`` with one linear output unit, and
also return the last hidden layer as ``features: (B, F)`` so that a regularizer reading
codes (the pulling-away term) can use them. Neither uses BatchNorm: MCMC samplers move
every chain by the gradient of its own energy, and BatchNorm in training mode would make
a sample's energy depend on the other chains in the batch (and on the batch size), so
the sampled distribution would not be exp(−E(x)) of any one E.

``activation`` chooses the non-linearity; the default ``swish`` (SiLU) is smooth, which
keeps the input gradients that Langevin dynamics follow continuous (ReLU's are piecewise
constant). ``spectral_norm`` wraps every weight layer in
``torch.nn.utils.parametrizations.spectral_norm``, which bounds the network's Lipschitz
constant and so keeps energies and MCMC steps tame.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import ClassVar

from torch import Tensor, nn
from torch.nn.utils.parametrizations import spectral_norm as _spectral_norm

from ebkit.builtins import ENERGY_ACTIVATIONS
from ebkit.interfaces import DataSpec, EnergyFunction, EnergyOutput

__all__ = ["ConvEnergy", "MLPEnergy", "make_activation"]

LEAKY_SLOPE = 0.2
"""Negative slope of ``leaky_relu`` (the DCGAN discriminator's)."""

_ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "swish": nn.SiLU,
    "relu": nn.ReLU,
    "leaky_relu": lambda: nn.LeakyReLU(LEAKY_SLOPE),
    "elu": nn.ELU,
}

_KERNEL, _STRIDE, _PADDING = 3, 2, 1  # each convolution maps a side n to ceil(n / 2)


def make_activation(name: str) -> nn.Module:
    """A fresh activation module: ``swish`` (SiLU), ``relu``, ``leaky_relu`` (slope 0.2)
    or ``elu``."""
    try:
        return _ACTIVATIONS[name]()
    except KeyError:
        raise ValueError(
            f"activation must be one of {', '.join(ENERGY_ACTIVATIONS)}, not {name!r}"
        ) from None


def _weight_layer(layer: nn.Module, spectral_norm: bool) -> nn.Module:
    return _spectral_norm(layer) if spectral_norm else layer


def _check_input(spec: DataSpec, x: Tensor) -> None:
    if tuple(x.shape[1:]) != tuple(spec.event_shape):
        raise ValueError(
            f"expected samples of shape {tuple(spec.event_shape)}, "
            f"got a batch of shape {tuple(x.shape)}"
        )


class _UnitRange(nn.Module):
    """Maps ``[low, high]`` affinely onto ``[-1, 1]`` (fixed, no parameters), so that the
    default initialisation suits the 2-D toys (±4.7 for ``25gaussians``) and images alike."""

    def __init__(self, spec: DataSpec) -> None:
        super().__init__()
        if not spec.high > spec.low:
            raise ValueError(f"the data range [{spec.low}, {spec.high}] is empty")
        self.centre = (spec.high + spec.low) / 2
        self.half_range = (spec.high - spec.low) / 2

    def forward(self, x: Tensor) -> Tensor:
        return (x - self.centre) / self.half_range

    def extra_repr(self) -> str:
        return f"centre={self.centre:g}, half_range={self.half_range:g}"


class MLPEnergy(EnergyFunction):
    """A fully connected scalar energy for vectors and (flattened) images.

    ``x: (B, *event_shape) -> EnergyOutput`` with ``energy: (B,)`` and
    ``features: (B, width)`` (the last hidden layer). For d scalars per sample::

        x -> flatten -> map [low, high] to [-1, 1]
          -> Linear(d, width) -> act -> (Linear(width, width) -> act) × (n_layers − 1)
          -> Linear(width, 1) = E(x)

    so ``n_layers`` counts the hidden layers. No BatchNorm and no dropout: the energy of
    a sample depends on that sample only, in training and in eval mode (see the module
    docstring). Weights keep PyTorch's default initialisation.
    """

    provides: ClassVar[frozenset[str]] = frozenset({"features"})

    def __init__(
        self,
        spec: DataSpec,
        *,
        width: int = 128,
        n_layers: int = 3,
        activation: str = "swish",
        spectral_norm: bool = False,
    ) -> None:
        super().__init__(spec)
        if width < 1:
            raise ValueError(f"width must be at least 1, not {width}")
        if n_layers < 1:
            raise ValueError(f"n_layers must be at least 1 hidden layer, not {n_layers}")
        make_activation(activation)  # fail at construction, naming the accepted values
        self.scale_input = _UnitRange(spec)
        layers: list[nn.Module] = []
        for size_in in [spec.dim] + [width] * (n_layers - 1):
            layers += [
                _weight_layer(nn.Linear(size_in, width), spectral_norm),
                make_activation(activation),
            ]
        self.hidden = nn.Sequential(*layers)
        self.head = _weight_layer(nn.Linear(width, 1), spectral_norm)

    def forward(self, x: Tensor) -> EnergyOutput:
        _check_input(self.spec, x)
        features = self.hidden(self.scale_input(x.reshape(x.shape[0], -1)))
        return EnergyOutput(energy=self.head(features).squeeze(1), features=features)


def conv_output_side(side: int, n_convolutions: int) -> int:
    """The side after ``n_convolutions`` 3×3 stride-2 convolutions with padding 1, each
    mapping n to ceil(n / 2): 28 → 14 → 7 → 4, 8 → 4 → 2 → 1, and never below 1."""
    for _ in range(n_convolutions):
        side = math.ceil(side / 2)
    return side


class ConvEnergy(EnergyFunction):
    """A convolutional scalar energy for images ``(C, H, W)`` of any size.

    ``x: (B, C, H, W) -> EnergyOutput`` with ``energy: (B,)`` and
    ``features: (B, channels[-1]·H'·W')`` (the flattened last feature maps). With
    k = ``len(channels)``::

        x -> map [low, high] to [-1, 1]
          -> Conv(C → channels[0], 3×3, stride 2, padding 1) -> act
          -> ... -> Conv(channels[k−2] → channels[k−1], 3×3, stride 2, padding 1) -> act
          -> flatten -> Linear(channels[k−1]·H'·W', 1) = E(x)

    Each convolution maps a side n to ceil(n / 2), so odd sizes work and no side ever
    reaches 0 (H' = :func:`conv_output_side`: 28×28 gives 4×4, 8×8 gives 1×1 with three
    layers); the head's input size is computed from the data's shape. No BatchNorm (see
    the module docstring). Vectors are refused: use the ``mlp`` energy for them.
    """

    provides: ClassVar[frozenset[str]] = frozenset({"features"})

    def __init__(
        self,
        spec: DataSpec,
        *,
        channels: Sequence[int] = (32, 64, 128),
        activation: str = "swish",
        spectral_norm: bool = False,
    ) -> None:
        super().__init__(spec)
        if not spec.is_image:
            raise ValueError(
                "the conv energy needs image data of shape (C, H, W), not "
                f"{tuple(spec.event_shape)}; use the mlp energy for vectors"
            )
        channels = list(channels)
        if not channels or min(channels) < 1:
            raise ValueError(f"channels must be a non-empty list of sizes >= 1, not {channels}")
        make_activation(activation)
        self.scale_input = _UnitRange(spec)
        in_channels, height, width = spec.event_shape
        layers: list[nn.Module] = []
        for size_in, size_out in zip([in_channels, *channels[:-1]], channels, strict=True):
            convolution = nn.Conv2d(size_in, size_out, _KERNEL, _STRIDE, _PADDING)
            layers += [_weight_layer(convolution, spectral_norm), make_activation(activation)]
        self.body = nn.Sequential(*layers)
        flat = (
            channels[-1]
            * conv_output_side(height, len(channels))
            * conv_output_side(width, len(channels))
        )
        self.head = _weight_layer(nn.Linear(flat, 1), spectral_norm)

    def forward(self, x: Tensor) -> EnergyOutput:
        _check_input(self.spec, x)
        features = self.body(self.scale_input(x)).flatten(1)
        return EnergyOutput(energy=self.head(features).squeeze(1), features=features)
