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
  (:data:`ebkit.core.architectures.DECK_SHAPE`;
  :func:`ebkit.builtins.samplers.generator_nets.deck_net`), a DCGAN-style network
  (Radford et al. 2016) taking the class as a conditional GAN's (Mirza & Osindero 2014):
  z (⊕ the class) -> Linear -> ``(128, H/4, W/4)`` (Dense 8192 reshaped to 128×8×8 for
  CIFAR-10) -> 5×5 stride-2 transposed convolution to
  128 channels, BatchNorm + ReLU -> 5×5 stride-2 to 64, BatchNorm + ReLU -> 5×5 stride-1
  to C -> tanh. Generalised from 32×32 to any image whose sides are divisible by 4
  (28×28 MNIST grows from 7×7, the 8×8 digits from 2×2).

mlp, conv and deck use weights N(0, 0.02) and biases 0 on images (the paper's G init,
also DCGAN's) and Glorot-uniform weights on vectors (``weight_init``, auto; see
:data:`ebkit.builtins.samplers.generator_nets.VECTOR_WEIGHT_INIT` for why); a layer
followed by BatchNorm in the conv and deck nets has no bias, since BatchNorm's shift
replaces it (DCGAN's convention). began has no BatchNorm and uses
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

from collections.abc import Sequence

import torch
from torch import Tensor

from ebkit.builtins.samplers.generator_nets import (
    DECK_CHANNELS,
    WEIGHT_INITS,
    ConvNet,
    began_net,
    deck_net,
    deck_start,
    initialise_weights,
    mlp_net,
    weight_init_for,
)
from ebkit.core.architectures import choose_architecture, deck_is_default
from ebkit.core.interfaces import ContrastiveSampler, DataSpec, EnergyFunction
from ebkit.nets import checked_labels, label_embedding, with_labels

__all__ = [
    "DECK_CHANNELS",
    "WEIGHT_INITS",
    "GeneratorSampler",
    "deck_start",
    "generator_architecture",
]

GENERATOR_ARCHITECTURES: tuple[str, ...] = ("auto", "mlp", "conv", "began", "deck")
NOISE_KINDS: tuple[str, ...] = ("auto", "normal", "uniform")

DEFAULT_LATENT_DIM = 100
"""EBGAN's noise size (Zhao, Mathieu & LeCun 2017), used by mlp, conv and deck when
``latent_dim`` is not set."""
BEGAN_LATENT_DIM = 64
"""BEGAN's h, used by began when ``latent_dim`` is not set."""

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


class GeneratorSampler(ContrastiveSampler):
    """G: ``z: (n, latent_dim) -> x: (n, *spec.event_shape)`` in ``[spec.low, spec.high]``
    (began, without tanh, may step outside it); G(z, y) with ``labels`` y: ``(n,)`` in a
    conditional run.

    ``arch`` picks the network (module docstring): ``n_layers`` and ``width`` apply to
    the MLP only, ``channels`` to the conv net only, ``filters`` to began only;
    ``batchnorm`` and ``weight_init`` (``normal`` N(0, 0.02) or ``xavier``; auto: normal on
    images, xavier on vectors) to mlp, conv and deck; ``latent_dim`` and ``noise`` to all (``None``
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
        weight_init: str = "auto",
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
        # began always starts from Glorot's weights (generator_nets.initialise_weights).
        resolved_init = weight_init_for(spec, weight_init)
        self.weight_init = "xavier" if self.arch == "began" else resolved_init
        if not spec.high > spec.low:
            raise ValueError(f"the data range [{spec.low}, {spec.high}] is empty")
        self.latent_dim = latent_dim
        embedding = label_embedding(spec, label_dim)
        self.label_dim = 0 if embedding is None else embedding.dim
        self.noise = noise if noise != "auto" else "uniform" if arch == "began" else "normal"
        input_dim = latent_dim + self.label_dim
        if self.arch == "began":
            self.net = began_net(spec, input_dim, filters)
        elif self.arch == "deck":
            self.net = deck_net(spec, input_dim, batchnorm)
        elif self.arch == "conv":
            self.net = ConvNet(spec, input_dim, channels, batchnorm)
        else:
            self.net = mlp_net(spec, input_dim, n_layers, width, batchnorm, output)
        # The default RNG, seeded by the engine.
        initialise_weights(self.net, self.arch, self.weight_init)
        # None in unconditional runs, so they keep exactly the parameters and initial
        # weights they had before labels existed.
        self.label_embedding = embedding

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
        return self(self.draw_latent(n, generator), labels)

    def draw_latent(self, n: int, generator: torch.Generator) -> Tensor:
        """z: ``(n, latent_dim)`` from ``generator`` on the parameters' device, N(0, I) for
        ``noise="normal"``, U[-1, 1]^latent_dim for ``"uniform"`` (what :meth:`sample`
        feeds G)."""
        parameter = next(self.parameters())
        shape, device, dtype = (n, self.latent_dim), parameter.device, parameter.dtype
        if self.noise == "uniform":
            unit = torch.rand(shape, generator=generator, device=device, dtype=dtype)
            return unit.mul_(2).sub_(1)
        return torch.randn(shape, generator=generator, device=device, dtype=dtype)

    def extra_repr(self) -> str:
        conditional = f", label_dim={self.label_dim}" if self.label_dim else ""
        return (
            f"arch={self.arch!r}, latent_dim={self.latent_dim}{conditional}, "
            f"noise={self.noise!r}, weight_init={self.weight_init!r}"
        )
