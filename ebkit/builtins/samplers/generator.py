"""The ``generator`` sampler: a trained generator G(z), z ~ N(0, I) as in EBGAN or
z ~ U[-1, 1]^h as in BEGAN, or G(z, y) for a requested class y in a conditional run.

Four architectures, chosen by ``arch`` (``auto`` picks mlp or conv from the data, see
:func:`ebkit.choose_architecture`, and deck for conditional runs on 3×32×32 images, see
:func:`generator_architecture`; it never picks began):

- ``mlp``, the EBGAN paper's MNIST grid (Zhao, Mathieu & LeCun 2017, App. C): ``n_layers``
  Linear layers
  (nLayerG), hidden width ``width`` (sizeG), BatchNorm after every weight layer except
  the output, ReLU, tanh on the output.
- ``conv``, DCGAN-style (Radford et al. 2016, the generator of the paper's LSUN/CelebA
  runs): z -> Linear -> ``(channels[0], h0, w0)`` -> one 4×4 stride-2 transposed
  convolution per entry of ``channels`` (BatchNorm + ReLU after all but the last,
  which writes the data's C channels) -> tanh -> centre crop to exactly (H, W).
  With k = ``len(channels)`` doublings, h0 = ⌈H / 2^k⌉ and w0 = ⌈W / 2^k⌉, so the
  output shape follows the dataset: 28×28 grows from 4×4 to 32×32 and is cropped.
- ``began``, BEGAN's generator (Berthelot et al. 2017, §3.5): the architecture
  of BEGAN's decoder with its own weights, z -> Linear -> ``(filters, h0, w0)`` (8 on
  the shorter side) -> per stage two 3×3 convolutions with ELU, nearest-neighbour
  upsampling ×2 between stages -> a 3×3 convolution to C channels, *no tanh*. For
  images with sides of 8·2^k pixels (pad 28×28 MNIST with ``-o data.pad=true``).
- ``deck``, the conditional CIFAR-10 EBGAN generator
  (:data:`ebkit.core.architectures.DECK_SHAPE`; :func:`_deck`), a DCGAN-style network
  (Radford et al. 2016) taking the class as a conditional GAN's (Mirza & Osindero 2014):
  z (⊕ the class) -> Linear -> ``(128, H/4, W/4)`` (Dense 8192 reshaped to 128×8×8 for
  CIFAR-10) -> 5×5 stride-2 transposed convolution to
  128 channels, BatchNorm + ReLU -> 5×5 stride-2 to 64, BatchNorm + ReLU -> 5×5 stride-1
  to C -> tanh. Generalised from 32×32 to any image whose sides are divisible by 4
  (28×28 MNIST grows from 7×7, the 8×8 digits from 2×2).

mlp, conv and deck use weights N(0, 0.02) and biases 0 (the paper's G init, also
DCGAN's); a layer followed by BatchNorm in the conv and deck nets has no bias, since
BatchNorm's shift replaces it (DCGAN's convention). began has no BatchNorm and uses
Glorot-uniform weights and zero biases (BEGAN gives none; TensorFlow's default, which its
reimplementations inherit). The network's output range [-1, 1] (tanh's) is mapped
affinely onto the data range ``[spec.low, spec.high]`` (the identity for the paper's
[-1, 1] data), so the same generator serves images and the 2-D toys whose range is wider.
began has no tanh (Berthelot et al. 2017, §3.5), so its output is not bounded and samples
may leave the data
range a little.

The noise is ``normal`` (N(0, I)) or ``uniform`` (U[-1, 1]^latent_dim); ``noise="auto"``
is uniform for began, as in BEGAN, and normal otherwise, as in EBGAN. ``latent_dim=None``
is BEGAN's h = 64 for began and EBGAN's 100 otherwise (also that of ``deck``).

**Conditioning.** With ``spec.conditional`` set, every architecture takes
z ⊕ embed(y) instead of z: a learned :class:`ebkit.nets.LabelEmbedding` of ``label_dim``
values (default: ``num_classes``, the size of a one-hot class input, as in Mirza &
Osindero 2014) is
concatenated to the noise, so only the first layer grows. The noise itself is drawn
exactly as in an unconditional run, and unconditional runs build the same parameters as
before (no embedding).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from ebkit.core.architectures import choose_architecture, deck_is_default
from ebkit.core.interfaces import ContrastiveSampler, DataSpec, EnergyFunction
from ebkit.nets import (
    began_bottleneck,
    began_decoder,
    began_halvings,
    began_padded_spec,
    centred_padding,
    checked_labels,
    glorot_init,
    label_embedding,
    with_labels,
)

__all__ = ["GeneratorSampler", "deck_start", "generator_architecture"]

_INIT_STD = 0.02
_KERNEL, _STRIDE, _PADDING = 4, 2, 1  # "4c2s": each layer doubles the side exactly

GENERATOR_ARCHITECTURES: tuple[str, ...] = ("auto", "mlp", "conv", "began", "deck")
NOISE_KINDS: tuple[str, ...] = ("auto", "normal", "uniform")

DEFAULT_LATENT_DIM = 100
"""EBGAN's noise size (Zhao, Mathieu & LeCun 2017), used by mlp, conv and deck when
``latent_dim`` is not set."""
BEGAN_LATENT_DIM = 64
"""BEGAN's h, used by began when ``latent_dim`` is not set."""

DECK_CHANNELS: tuple[int, ...] = (128, 128, 64)
"""The ``deck`` generator's widths: the projection's 128 maps, then the outputs of its two
stride-2 transposed convolutions (a last one writes the data's channels)."""
DECK_SHRINK = 4
"""The ``deck`` projection has sides H/4 × W/4 (8×8 for 32×32); two doublings follow."""
DECK_KERNEL = 5


IMAGE_WIDTH = 512
"""mlp: hidden width on images (the paper's sizeG) when ``width`` is not set."""

VECTOR_WIDTH = 128
"""mlp: hidden width on vectors when ``width`` is not set."""


def generator_architecture(spec: DataSpec, arch: str = "auto") -> str:
    """Resolve the generator's ``arch`` for ``spec``: began and deck as named; ``auto``
    is deck for a conditional run on 3×32×32 images (conditional CIFAR-10, the setting it
    is designed for), else :func:`ebkit.choose_architecture`'s mlp or conv."""
    if arch not in GENERATOR_ARCHITECTURES:
        raise ValueError(f"arch must be one of {', '.join(GENERATOR_ARCHITECTURES)}, not {arch!r}")
    if arch in ("began", "deck"):
        return arch
    if arch == "auto" and deck_is_default(spec):
        return "deck"
    return choose_architecture(spec, arch)


def _mlp(
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


class _ConvNet(nn.Module):
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


def _deck(spec: DataSpec, input_dim: int, batchnorm: bool) -> nn.Sequential:
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


def _began(spec: DataSpec, input_dim: int, filters: int) -> nn.Sequential:
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
    return nn.Sequential(decoder, _Crop(top, left, height, width))


class _Crop(nn.Module):
    """``(B, C, H', W') -> (B, C, height, width)``, the window at (top, left)."""

    def __init__(self, top: int, left: int, height: int, width: int) -> None:
        super().__init__()
        self.window = (top, left, height, width)

    def forward(self, x: Tensor) -> Tensor:
        top, left, height, width = self.window
        return x[..., top : top + height, left : left + width]


class GeneratorSampler(ContrastiveSampler):
    """G: ``z: (n, latent_dim) -> x: (n, *spec.event_shape)`` in ``[spec.low, spec.high]``
    (began, without tanh, may step outside it); G(z, y) with ``labels`` y: ``(n,)`` in a
    conditional run.

    ``arch`` picks the network (module docstring): ``n_layers`` and ``width`` apply to
    the MLP only, ``channels`` to the conv net only, ``filters`` to began only;
    ``batchnorm`` to mlp, conv and deck; ``latent_dim`` and ``noise`` to all (``None``
    and ``"auto"`` follow ``arch``, see the module docstring). ``label_dim`` is the size
    of the class embedding concatenated to z, in conditional runs only (``None``:
    ``num_classes``).

    Trainable: :meth:`sample` returns samples that keep their graph to G's parameters
    (the engine detaches them for the energy's update and trains G through
    ``LossFunctional.sampler_loss``).

    With ``batchnorm=True`` (the paper's setting), G in training mode normalises over
    the batch, so it needs ``n >= 2``; in ``eval()`` mode it uses running statistics.
    """

    trainable = True
    accepts_labels = True

    def __init__(
        self,
        spec: DataSpec,
        *,
        arch: str = "auto",
        latent_dim: int | None = None,
        label_dim: int | None = None,
        noise: str = "auto",
        n_layers: int = 3,
        width: int | None = None,
        channels: Sequence[int] = (256, 128, 64),
        filters: int = 64,
        batchnorm: bool | None = None,
        output: str = "auto",
    ) -> None:
        super().__init__(spec)
        self.arch = generator_architecture(spec, arch)
        vectors = len(spec.event_shape) == 1
        # On vectors (the 2-D toys) a small net without BatchNorm and with a linear output
        # puts its samples precisely on narrow modes: BatchNorm couples the samples of a
        # batch and tanh saturates at the data range's edges, where a collapsed generator
        # then gets no gradient.
        if output == "auto":
            output = "linear" if vectors else "tanh"
        if batchnorm is None:
            batchnorm = not vectors
        if width is None:
            width = VECTOR_WIDTH if vectors else IMAGE_WIDTH
        if latent_dim is None and vectors and arch != "began":
            latent_dim = max(spec.dim, 2)
        if noise not in NOISE_KINDS:
            raise ValueError(f"noise must be one of {', '.join(NOISE_KINDS)}, not {noise!r}")
        if latent_dim is None:
            latent_dim = BEGAN_LATENT_DIM if arch == "began" else DEFAULT_LATENT_DIM
        sizes = (("latent_dim", latent_dim), ("n_layers", n_layers), ("width", width))
        for option, value in (*sizes, ("filters", filters)):
            if value < 1:
                raise ValueError(f"{option} must be >= 1, not {value}")
        channels = list(channels)
        if not channels or min(channels) < 1:
            raise ValueError(f"channels must be a non-empty list of sizes >= 1, not {channels}")
        if not spec.high > spec.low:
            raise ValueError(f"the data range [{spec.low}, {spec.high}] is empty")
        self.latent_dim = latent_dim
        embedding = label_embedding(spec, label_dim)
        self.label_dim = 0 if embedding is None else embedding.dim
        self.noise = noise if noise != "auto" else "uniform" if arch == "began" else "normal"
        input_dim = latent_dim + self.label_dim
        if self.arch == "began":
            self.net = _began(spec, input_dim, filters)
        elif self.arch == "deck":
            self.net = _deck(spec, input_dim, batchnorm)
        elif self.arch == "conv":
            self.net = _ConvNet(spec, input_dim, channels, batchnorm)
        else:
            self.net = _mlp(spec, input_dim, n_layers, width, batchnorm, output)
        self._reset_parameters()
        # None in unconditional runs, so they keep exactly the parameters and initial
        # weights they had before labels existed.
        self.label_embedding = embedding

    def _reset_parameters(self) -> None:
        # The default RNG, seeded by the engine; BatchNorm keeps its init (γ = 1, β = 0).
        if self.arch == "began":
            return glorot_init(self.net)
        for module in self.net.modules():
            if isinstance(module, (nn.Linear, nn.ConvTranspose2d)):
                nn.init.normal_(module.weight, mean=0.0, std=_INIT_STD)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)

    def forward(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        """``z: (n, latent_dim)`` (and ``labels: (n,)`` int64 in a conditional run)
        ``-> (n, *event_shape)`` in ``[spec.low, spec.high]``."""
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"z has shape {tuple(z.shape)}, expected (n, {self.latent_dim})")
        unit = self.net(with_labels(self.label_embedding, self.spec, z, labels))
        low, high = self.spec.low, self.spec.high
        x = low + (unit + 1) * (0.5 * (high - low))
        return x.reshape(z.shape[0], *self.spec.event_shape)

    def generate(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        """G(z), or G(z, y) in a conditional run, for a given ``z: (n, latent_dim)`` (fixed
        noise for sample grids): ``(n, *event_shape)``, with its graph."""
        return self(z, labels)

    def sample(
        self,
        n: int,
        energy: EnergyFunction,
        generator: torch.Generator,
        labels: Tensor | None = None,
    ) -> Tensor:
        """Draw z, ``(n, latent_dim)``, from ``generator`` on the parameters' device —
        N(0, I) for ``noise="normal"``, U[-1, 1]^latent_dim for ``"uniform"`` — and return
        G(z), or G(z, y) for ``labels`` y: ``(n,)`` in a conditional run,
        ``(n, *event_shape)``, with its graph. The draw of z does not depend on the
        labels. ``energy`` is not used: a generator proposes samples without reading the
        energy."""
        labels = checked_labels(self.spec, labels, n)
        parameter = next(self.parameters())
        shape, device, dtype = (n, self.latent_dim), parameter.device, parameter.dtype
        if self.noise == "uniform":
            unit = torch.rand(shape, generator=generator, device=device, dtype=dtype)
            z = unit.mul_(2).sub_(1)
        else:
            z = torch.randn(shape, generator=generator, device=device, dtype=dtype)
        return self(z, labels)

    def extra_repr(self) -> str:
        conditional = f", label_dim={self.label_dim}" if self.label_dim else ""
        return (
            f"arch={self.arch!r}, latent_dim={self.latent_dim}{conditional}, noise={self.noise!r}"
        )
