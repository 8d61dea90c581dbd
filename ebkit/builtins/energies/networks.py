"""The ``mlp`` and ``conv`` energies: plain scalar energy networks E(x) for
contrastive-divergence EBMs and for the GAN baseline (whose discriminator logit is −E).

Both map ``x: (B, *event_shape)`` to ``energy: (B,)`` with one linear output unit, and
also return the last hidden layer as ``features: (B, F)`` so that a regularizer reading
codes (the pulling-away term) can use them. Neither uses BatchNorm: MCMC samplers move
every chain by the gradient of its own energy, and BatchNorm in training mode would make
a sample's energy depend on the other chains in the batch (and on the batch size), so
the sampled distribution would not be exp(−E(x)) of any one E. The one exception is the
``conv`` energy's ``arch="deck"``, the conditional CIFAR-10 EBGAN discriminator
(:data:`ebkit.core.architectures.DECK_SHAPE`), which has
BatchNorm and a softplus output: it is meant for generator-trained EBGAN, and MCMC
samplers should use ``arch="plain"``.

Both condition on class labels in a conditional run (``spec.conditional``): the ``mlp``
energy concatenates a learned label embedding to its flattened input
(:class:`ebkit.nets.LabelEmbedding`), the ``conv`` energy one learned H×W map per class
as an extra input channel (:class:`ebkit.nets.LabelChannel`); both are then called as
``energy(x, labels)``. In other runs they build no label layers, so their parameters,
initial weights and outputs are those of the unconditional networks.

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

import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.parametrizations import spectral_norm as _spectral_norm

from ebkit.builtins.energies.hooks import CONV_ENERGY_ARCHITECTURES, ENERGY_ACTIVATIONS
from ebkit.core.architectures import deck_is_default
from ebkit.core.interfaces import DataSpec, EnergyFunction, EnergyOutput
from ebkit.nets import LabelChannel, label_channel, label_embedding, with_labels

__all__ = [
    "ConvEnergy",
    "MLPEnergy",
    "conv_energy_architecture",
    "conv_output_side",
    "make_activation",
]

LEAKY_SLOPE = 0.2
"""Negative slope of ``leaky_relu`` (the DCGAN discriminator's)."""

_ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "swish": nn.SiLU,
    "relu": nn.ReLU,
    "leaky_relu": lambda: nn.LeakyReLU(LEAKY_SLOPE),
    "elu": nn.ELU,
}

_KERNEL, _STRIDE, _PADDING = 3, 2, 1  # each convolution maps a side n to ceil(n / 2)

PLAIN_CHANNELS: tuple[int, ...] = (32, 64, 128)
"""The ``conv`` energy's default ``channels`` with ``arch="plain"``."""

DECK_CHANNELS: tuple[int, ...] = (128, 128, 64)
"""The ``conv`` energy's default ``channels`` with ``arch="deck"`` (128-128-64, DCGAN-style
strided convolutions as in Radford et al. 2016)."""

DECK_HIDDEN = 64
"""Units of the dense layer between the ``deck`` convolutions and its output (Dense 64)."""


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

    so ``n_layers`` counts the hidden layers. No BatchNorm: the energy of a sample
    depends on that sample only, in training and in eval mode (see the module
    docstring). ``dropout`` adds dropout with p = 0.5 after every hidden activation in
    training (the dropoutD axis of the GAN grid of Zhao et al. 2017, EBGAN, Table 1); off
    by default. Weights keep PyTorch's default initialisation.

    Conditional runs (``spec.conditional``): ``forward(x, labels: (B,))`` models
    E(x | y). A learned embedding of the label, ``label_dim`` values (auto:
    ``num_classes``, the size of a one-hot label), is concatenated to the mapped
    input, so the first layer is ``Linear(d + label_dim, width)``
    (:class:`ebkit.nets.LabelEmbedding`, initialised N(0, 1)). ``label_dim`` is unused
    otherwise.
    """

    provides: ClassVar[frozenset[str]] = frozenset({"features"})
    accepts_labels: ClassVar[bool] = True

    def __init__(
        self,
        spec: DataSpec,
        *,
        width: int = 128,
        n_layers: int = 3,
        activation: str = "auto",
        spectral_norm: bool = False,
        label_dim: int | None = None,
        input_scale: str = "auto",
        dropout: bool = False,
    ) -> None:
        super().__init__(spec)
        if width < 1:
            raise ValueError(f"width must be at least 1, not {width}")
        if n_layers < 1:
            raise ValueError(f"n_layers must be at least 1 hidden layer, not {n_layers}")
        if activation == "auto":
            activation = "swish" if spec.is_image else "leaky_relu"
        make_activation(activation)  # fail at construction, naming the accepted values
        if input_scale == "auto":
            input_scale = "unit" if spec.is_image else "none"
        self.scale_input = _UnitRange(spec) if input_scale == "unit" else nn.Identity()
        self.label_embedding = label_embedding(spec, label_dim)
        input_size = spec.dim
        if self.label_embedding is not None:
            input_size += self.label_embedding.dim
        layers: list[nn.Module] = []
        for size_in in [input_size] + [width] * (n_layers - 1):
            layers += [
                _weight_layer(nn.Linear(size_in, width), spectral_norm),
                make_activation(activation),
            ]
            # Only when asked: a module more would renumber the saved weights' names.
            if dropout:
                layers.append(nn.Dropout(0.5))
        self.hidden = nn.Sequential(*layers)
        self.head = _weight_layer(nn.Linear(width, 1), spectral_norm)

    def forward(self, x: Tensor, labels: Tensor | None = None) -> EnergyOutput:
        _check_input(self.spec, x)
        inputs = self.scale_input(x.reshape(x.shape[0], -1))
        features = self.hidden(with_labels(self.label_embedding, self.spec, inputs, labels))
        return EnergyOutput(energy=self.head(features).squeeze(1), features=features)


def conv_output_side(side: int, n_convolutions: int) -> int:
    """The side after ``n_convolutions`` 3×3 stride-2 convolutions with padding 1, each
    mapping n to ceil(n / 2): 28 → 14 → 7 → 4, 8 → 4 → 2 → 1, and never below 1."""
    for _ in range(n_convolutions):
        side = math.ceil(side / 2)
    return side


def conv_energy_architecture(spec: DataSpec, arch: str = "auto") -> str:
    """Resolve the ``conv`` energy's ``arch``: ``plain``, ``deck`` or ``auto``, which is
    ``deck`` for conditional runs on 3×32×32 data (conditional CIFAR-10) and
    ``plain`` otherwise, so every unconditional run keeps the plain network."""
    if arch not in CONV_ENERGY_ARCHITECTURES:
        raise ValueError(
            f"arch must be one of {', '.join(CONV_ENERGY_ARCHITECTURES)}, not {arch!r}"
        )
    if arch == "auto":
        return "deck" if deck_is_default(spec) else "plain"
    return arch


class ConvEnergy(EnergyFunction):
    """A convolutional scalar energy for images ``(C, H, W)`` of any size.

    ``x: (B, C, H, W) -> EnergyOutput`` with ``energy: (B,)`` and ``features: (B, F)``.
    ``arch`` picks one of two networks (:func:`conv_energy_architecture`; ``auto`` is
    ``deck`` for conditional runs on 3×32×32 data, else ``plain``). With
    k = ``len(channels)``:

    ``plain`` (channels default :data:`PLAIN_CHANNELS`, activation default swish), for
    MCMC samplers and the GAN baseline; F = channels[k−1]·H'·W'::

        x -> map [low, high] to [-1, 1]
          -> Conv(C → channels[0], 3×3, stride 2, padding 1) -> act
          -> ... -> Conv(channels[k−2] → channels[k−1], 3×3, stride 2, padding 1) -> act
          -> flatten                                               = features
          -> Linear(channels[k−1]·H'·W', 1)                        = E(x)

    No BatchNorm (see the module docstring).

    ``deck``: the conditional CIFAR-10 EBGAN discriminator
    (:data:`ebkit.core.architectures.DECK_SHAPE`; channels default :data:`DECK_CHANNELS`
    = 128, 128, 64, activation default leaky_relu with slope 0.2, as in DCGAN,
    Radford et al. 2016); F = 64::

        x -> map [low, high] to [-1, 1]
          -> Conv(C → channels[0], 3×3, stride 2, padding 1) -> act
          -> Conv(channels[0] → channels[1], 3×3, stride 2, padding 1) -> BatchNorm -> act
          -> ... (BatchNorm after every convolution but the first)
          -> flatten -> Linear(channels[k−1]·H'·W', 64) -> act     = features
          -> Linear(64, 1) -> softplus                             = E(x) ≥ 0

    Between the Dense 64 and Dense 1 layers we use the same LeakyReLU (without one the
    two would be a single linear map). A "real/fake" output unit is unbounded; we pass it
    through softplus because this network trains with the EBGAN margin loss,
    D(x) + [m − D(G(z))]⁺ (Zhao, Mathieu & LeCun 2017, eq. 1), which needs
    E ≥ 0 (it pushes E(x) of the data down without bound otherwise). A convolution
    followed by BatchNorm has no bias (BatchNorm's shift replaces it). BatchNorm in
    training mode makes a sample's energy depend on its batch, which suits the
    generator-trained EBGAN it comes from but not MCMC samplers: use ``plain`` with
    those. Weights keep PyTorch's default initialisation.

    Each convolution maps a side n to ceil(n / 2), so odd sizes work and no side ever
    reaches 0 (H' = :func:`conv_output_side`: 32×32 gives 4×4, 28×28 gives 4×4, 8×8
    gives 1×1 with three layers); the head's input size is computed from the data's
    shape. Vectors are refused: use the ``mlp`` energy for them.

    Conditional runs (``spec.conditional``): ``forward(x, labels: (B,))`` models
    E(x | y). One learned H×W map per class (:class:`ebkit.nets.LabelChannel`: class ->
    dense -> 1×H×W) is concatenated to the mapped image as an
    extra channel, so the first convolution reads C + 1 channels.
    """

    provides: ClassVar[frozenset[str]] = frozenset({"features"})
    accepts_labels: ClassVar[bool] = True

    def __init__(
        self,
        spec: DataSpec,
        *,
        arch: str = "auto",
        channels: Sequence[int] | None = None,
        activation: str = "auto",
        spectral_norm: bool = False,
    ) -> None:
        super().__init__(spec)
        if not spec.is_image:
            raise ValueError(
                "the conv energy needs image data of shape (C, H, W), not "
                f"{tuple(spec.event_shape)}; use the mlp energy for vectors"
            )
        self.arch = conv_energy_architecture(spec, arch)
        deck = self.arch == "deck"
        if channels is None:
            channels = DECK_CHANNELS if deck else PLAIN_CHANNELS
        channels = list(channels)
        if not channels or min(channels) < 1:
            raise ValueError(f"channels must be a non-empty list of sizes >= 1, not {channels}")
        if activation == "auto":
            activation = "leaky_relu" if deck else "swish"
        make_activation(activation)
        self.scale_input = _UnitRange(spec)
        in_channels, height, width = spec.event_shape
        self.label_channel: LabelChannel | None = label_channel(spec, height, width)
        if self.label_channel is not None:
            in_channels += 1
        layers: list[nn.Module] = []
        for index, (size_in, size_out) in enumerate(
            zip([in_channels, *channels[:-1]], channels, strict=True)
        ):
            normalised = deck and index > 0
            convolution = nn.Conv2d(
                size_in, size_out, _KERNEL, _STRIDE, _PADDING, bias=not normalised
            )
            layers.append(_weight_layer(convolution, spectral_norm))
            if normalised:
                layers.append(nn.BatchNorm2d(size_out))
            layers.append(make_activation(activation))
        self.body = nn.Sequential(*layers)
        flat = (
            channels[-1]
            * conv_output_side(height, len(channels))
            * conv_output_side(width, len(channels))
        )
        self.dense: nn.Sequential | None = None
        if deck:
            self.dense = nn.Sequential(
                _weight_layer(nn.Linear(flat, DECK_HIDDEN), spectral_norm),
                make_activation(activation),
            )
            flat = DECK_HIDDEN
        self.head = _weight_layer(nn.Linear(flat, 1), spectral_norm)

    def forward(self, x: Tensor, labels: Tensor | None = None) -> EnergyOutput:
        _check_input(self.spec, x)
        inputs = with_labels(self.label_channel, self.spec, self.scale_input(x), labels)
        features = self.body(inputs).flatten(1)
        if self.dense is None:
            return EnergyOutput(energy=self.head(features).squeeze(1), features=features)
        features = self.dense(features)
        return EnergyOutput(energy=F.softplus(self.head(features).squeeze(1)), features=features)

    def extra_repr(self) -> str:
        return f"arch={self.arch!r}"
