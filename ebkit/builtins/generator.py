"""The ``generator`` sampler: a trained generator G(z), z ~ N(0, I) as in EBGAN or
z ~ U[-1, 1]^h as in BEGAN.

Three architectures, chosen by ``arch`` (``auto`` picks mlp or conv from the data, see
:func:`ebkit.choose_architecture`; it never picks began):

- ``mlp``, the EBGAN paper's MNIST grid (App. C; SPEC §2): ``n_layers`` Linear layers
  (nLayerG), hidden width ``width`` (sizeG), BatchNorm after every weight layer except
  the output, ReLU, tanh on the output.
- ``conv``, DCGAN-style (Radford et al. 2016, the generator of the paper's LSUN/CelebA
  runs): z -> Linear -> ``(channels[0], h0, w0)`` -> one 4×4 stride-2 transposed
  convolution per entry of ``channels`` (BatchNorm + ReLU after all but the last,
  which writes the data's C channels) -> tanh -> centre crop to exactly (H, W).
  With k = ``len(channels)`` doublings, h0 = ⌈H / 2^k⌉ and w0 = ⌈W / 2^k⌉, so the
  output shape follows the dataset: 28×28 grows from 4×4 to 32×32 and is cropped.
- ``began``, BEGAN's generator (Berthelot et al. 2017, §3.5; SPEC §4): the architecture
  of BEGAN's decoder with its own weights, z -> Linear -> ``(filters, h0, w0)`` (8 on
  the shorter side) -> per stage two 3×3 convolutions with ELU, nearest-neighbour
  upsampling ×2 between stages -> a 3×3 convolution to C channels, *no tanh*. For
  images with sides of 8·2^k pixels (pad 28×28 MNIST with ``-o data.pad=true``).

mlp and conv use weights N(0, 0.02) and biases 0 (the paper's G init, also DCGAN's); a
layer followed by BatchNorm in the conv net has no bias, since BatchNorm's shift replaces
it (DCGAN's convention). began has no BatchNorm and uses Glorot-uniform weights and zero
biases (BEGAN gives none; TensorFlow's default, which its reimplementations inherit). The
network's output range [-1, 1] (tanh's for mlp and conv) is mapped affinely onto the
data range ``[spec.low, spec.high]`` (the identity for the paper's [-1, 1] data), so the
same generator serves images and the 2-D toys whose range is wider. began has no tanh
(SPEC §4), so its output is not bounded and samples may leave the data range a little.

The noise is ``normal`` (N(0, I)) or ``uniform`` (U[-1, 1]^latent_dim); ``noise="auto"``
is uniform for began, as in BEGAN, and normal otherwise, as in EBGAN. ``latent_dim=None``
is BEGAN's h = 64 for began and EBGAN's 100 otherwise.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from ebkit.architectures import choose_architecture
from ebkit.interfaces import ContrastiveSampler, DataSpec, EnergyFunction
from ebkit.nets import (
    began_bottleneck,
    began_decoder,
    began_halvings,
    began_padded_spec,
    centred_padding,
)

__all__ = ["GeneratorSampler"]

_INIT_STD = 0.02
_KERNEL, _STRIDE, _PADDING = 4, 2, 1  # "4c2s": each layer doubles the side exactly

GENERATOR_ARCHITECTURES: tuple[str, ...] = ("auto", "mlp", "conv", "began")
NOISE_KINDS: tuple[str, ...] = ("auto", "normal", "uniform")

DEFAULT_LATENT_DIM = 100
"""EBGAN's noise size, used by mlp and conv when ``latent_dim`` is not set."""
BEGAN_LATENT_DIM = 64
"""BEGAN's h, used by began when ``latent_dim`` is not set."""


def _mlp(spec: DataSpec, latent_dim: int, n_layers: int, width: int, batchnorm: bool) -> nn.Module:
    layers: list[nn.Module] = []
    sizes = [latent_dim] + [width] * (n_layers - 1) + [spec.dim]
    for index, (size_in, size_out) in enumerate(itertools.pairwise(sizes)):
        layers.append(nn.Linear(size_in, size_out))
        if index < n_layers - 1:
            if batchnorm:
                layers.append(nn.BatchNorm1d(size_out))
            layers.append(nn.ReLU())
    layers.append(nn.Tanh())
    return nn.Sequential(*layers)


class _ConvNet(nn.Module):
    """DCGAN-style ``z: (n, latent_dim) -> (n, C, H, W)`` in [-1, 1] (see the module)."""

    def __init__(
        self, spec: DataSpec, latent_dim: int, channels: Sequence[int], batchnorm: bool
    ) -> None:
        super().__init__()
        out_channels, height, width = spec.event_shape
        scale = 2 ** len(channels)
        self.start = (channels[0], math.ceil(height / scale), math.ceil(width / scale))
        self.size = (height, width)
        self.project = nn.Linear(latent_dim, math.prod(self.start), bias=not batchnorm)
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


def _began(spec: DataSpec, latent_dim: int, filters: int) -> nn.Sequential:
    """BEGAN's generator ``z: (n, latent_dim) -> (n, C, H, W)``: the decoder of
    :func:`ebkit.nets.began_decoder`, with z in the embedding's place, at the padded size
    of :func:`ebkit.nets.began_padded_spec` and cropped (centred) to the data's."""
    padded = began_padded_spec(spec)
    decoder = began_decoder(
        spec.event_shape[0], began_bottleneck(padded), began_halvings(padded), filters, latent_dim
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
    (began, without tanh, may step outside it).

    ``arch`` picks the network (module docstring): ``n_layers`` and ``width`` apply to
    the MLP only, ``channels`` to the conv net only, ``filters`` to began only;
    ``batchnorm`` to mlp and conv; ``latent_dim`` and ``noise`` to all (``None`` and
    ``"auto"`` follow ``arch``, see the module docstring).

    Trainable: :meth:`sample` returns samples that keep their graph to G's parameters
    (the engine detaches them for the energy's update and trains G through
    ``LossFunctional.sampler_loss``).

    With ``batchnorm=True`` (the paper's setting), G in training mode normalises over
    the batch, so it needs ``n >= 2``; in ``eval()`` mode it uses running statistics.
    """

    trainable = True

    def __init__(
        self,
        spec: DataSpec,
        *,
        arch: str = "auto",
        latent_dim: int | None = None,
        noise: str = "auto",
        n_layers: int = 3,
        width: int = 512,
        channels: Sequence[int] = (256, 128, 64),
        filters: int = 64,
        batchnorm: bool = True,
    ) -> None:
        super().__init__(spec)
        if arch not in GENERATOR_ARCHITECTURES:
            raise ValueError(
                f"arch must be one of {', '.join(GENERATOR_ARCHITECTURES)}, not {arch!r}"
            )
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
        self.arch = "began" if arch == "began" else choose_architecture(spec, arch)
        self.latent_dim = latent_dim
        self.noise = noise if noise != "auto" else "uniform" if arch == "began" else "normal"
        if self.arch == "began":
            self.net = _began(spec, latent_dim, filters)
        elif self.arch == "conv":
            self.net = _ConvNet(spec, latent_dim, channels, batchnorm)
        else:
            self.net = _mlp(spec, latent_dim, n_layers, width, batchnorm)
        self._reset_parameters()

    def _reset_parameters(self) -> None:
        # Uses the default RNG, which the engine seeds before building components.
        # BatchNorm keeps its own init (γ = 1, β = 0): the paper only fixes weight layers.
        for module in self.net.modules():
            if self.arch == "began" and isinstance(module, (nn.Linear, nn.Conv2d)):
                nn.init.xavier_uniform_(module.weight)
                nn.init.zeros_(module.bias)
            elif isinstance(module, (nn.Linear, nn.ConvTranspose2d)):
                nn.init.normal_(module.weight, mean=0.0, std=_INIT_STD)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)

    def forward(self, z: Tensor) -> Tensor:
        """``z: (n, latent_dim) -> (n, *event_shape)`` in ``[spec.low, spec.high]``."""
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"z has shape {tuple(z.shape)}, expected (n, {self.latent_dim})")
        unit = self.net(z)
        low, high = self.spec.low, self.spec.high
        x = low + (unit + 1) * (0.5 * (high - low))
        return x.reshape(z.shape[0], *self.spec.event_shape)

    def generate(self, z: Tensor) -> Tensor:
        """G(z) for a given ``z: (n, latent_dim)`` (fixed noise for sample grids):
        ``(n, *event_shape)``, with its graph."""
        return self(z)

    def sample(self, n: int, energy: EnergyFunction, generator: torch.Generator) -> Tensor:
        """Draw z, ``(n, latent_dim)``, from ``generator`` on the parameters' device —
        N(0, I) for ``noise="normal"``, U[-1, 1]^latent_dim for ``"uniform"`` — and return
        G(z), ``(n, *event_shape)``, with its graph. ``energy`` is not used: a generator
        proposes samples without reading the energy."""
        parameter = next(self.parameters())
        shape, device, dtype = (n, self.latent_dim), parameter.device, parameter.dtype
        if self.noise == "uniform":
            unit = torch.rand(shape, generator=generator, device=device, dtype=dtype)
            z = unit.mul_(2).sub_(1)
        else:
            z = torch.randn(shape, generator=generator, device=device, dtype=dtype)
        return self(z)

    def extra_repr(self) -> str:
        return f"arch={self.arch!r}, latent_dim={self.latent_dim}, noise={self.noise!r}"
