"""The fully connected auto-encoder energy of the EBGAN paper's MNIST grid search."""

from __future__ import annotations

from typing import ClassVar

from torch import Tensor, nn

from ebkit import DataSpec, EnergyFunction, EnergyOutput
from ebkit.nets import label_embedding, with_labels
from ebkit_autoencoder.reconstruction import residual_energy, resolve_distance

DROPOUT_P = 0.5
"""Dropout probability when ``dropout=True``; the paper gives only the switch (dropoutD),
so we use the usual p = 0.5."""

IMAGE_WIDTH = 1024
"""The code size on images when ``width`` is not set (the paper's sizeD)."""

VECTOR_WIDTH = 128
"""The code size on vectors (the 2-D toys) when ``width`` is not set."""

IMAGE_LAYERS = 2
"""Weight layers on images when ``n_layers`` is not set (one encoder layer, one decoder
layer: the smallest of the paper's MNIST grid)."""

VECTOR_LAYERS = 4
"""Weight layers on vectors when ``n_layers`` is not set: three encoder layers. With one,
the energy on the 5×5 grid of Gaussians had a few wide valleys and the data on their
slopes (7 of 25 modes, 0.5 % of samples within 3σ); with three, a well at most modes
(20–21 of 25, 9–30 % over two seeds; docs/quality.md)."""

FEATURES = ("auto", "code", "linear")
"""What ``features`` holds: ``code``, the ReLU code the decoder reads; ``linear``, the
encoder output layer's values before that ReLU; ``auto``, linear on vectors, code on
images."""

WEIGHT_STD = 0.002
"""Standard deviation of D's initial weights, N(0, 0.002) in the paper's App. C."""


class MLPAutoEncoderEnergy(EnergyFunction):
    """EBGAN's MLP auto-encoder discriminator; the energy is the reconstruction error.

    ``x: (B, *event_shape) -> EnergyOutput`` with ``energy: (B,)``,
    ``features: (B, width)``, ``reconstruction: (B, *event_shape)`` and
    ``residual: (B, *event_shape)`` (reconstruction − x). ``distance="auto"`` is ``l2``.
    ``n_layers=None`` is 2 on images and 4 on vectors (:data:`VECTOR_LAYERS`).
    ``features`` (:data:`FEATURES`) is the ReLU code the decoder reads (``code``, auto on
    images) or the encoder output layer's values before that ReLU (``linear``, auto on
    vectors): the pulling-away term reads them, and on the code its cosines stay positive.

    Architecture (paper App. C and §4.1), for d scalars per sample::

        encoder: Linear(d, width) -> ReLU
                 [-> Dropout] -> Linear(width, width) -> BatchNorm -> ReLU   (n_layers − 2 times)
        decoder: [-> Dropout] -> Linear(width, d)                            (the reconstruction)

    The paper applies BatchNorm "after each weight layer, except for the generator output
    layer and the discriminator input layer". It says nothing about the decoder's output;
    we read it as another output layer and leave it without BatchNorm (and without an
    activation) because normalising the reconstruction over the batch would make the
    energy of a sample depend on the batch even at a perfect reconstruction. With
    ``n_layers=2`` there is therefore no BatchNorm at all.

    ``dropout`` (the paper's dropoutD, placement unspecified) drops the output of every
    encoder layer with p = 0.5 before the next weight layer reads it. ``features`` is the
    code before that dropout, so in evaluation mode it is exactly what the decoder reads.

    Weights start from N(0, 0.002) (standard deviation) and biases at 0, as in the paper;
    BatchNorm keeps PyTorch's learned scale and shift. The input is flattened, so any
    event shape works; the reconstruction is reshaped back.

    In training mode BatchNorm normalises over the batch, so a sample's energy depends on
    the other samples in the same forward pass, as in the paper.

    Conditional runs (``spec.conditional``): ``forward(x, labels: (B,))`` models
    E(x | y). A learned embedding of the label, ``label_dim`` values (auto:
    ``num_classes``, a one-hot label's size; :class:`ebkit.nets.LabelEmbedding`,
    initialised N(0, 1)), is concatenated to the flattened input, so the encoder's first
    layer is ``Linear(d + label_dim, width)``; the decoder still reconstructs the d
    scalars of x, and the energy is their reconstruction error. ``label_dim`` is unused
    otherwise.
    """

    provides: ClassVar[frozenset[str]] = frozenset({"features", "reconstruction", "residual"})
    accepts_labels: ClassVar[bool] = True

    def __init__(
        self,
        spec: DataSpec,
        *,
        n_layers: int | None = None,
        width: int | None = None,
        distance: str = "auto",
        dropout: bool = False,
        batchnorm: bool | None = None,
        label_dim: int | None = None,
        bottleneck: int | None = None,
        features: str = "auto",
    ) -> None:
        super().__init__(spec)
        vectors = not spec.is_image
        if features not in FEATURES:
            raise ValueError(f"features must be one of {', '.join(FEATURES)}, not {features!r}")
        # The pulling-away term (Zhao et al. 2017, eq. 14) reads the features: ReLU codes
        # are non-negative, so a batch's cosines stay positive and cannot reach 0.
        self.features = ("linear" if vectors else "code") if features == "auto" else features
        if width is None:
            # 2 → 1024 → 2 on the 2-D toys costs eight times 2 → 128 → 2 per step (which
            # the generator-langevin sampler pays 20 times over) and learns no better.
            width = VECTOR_WIDTH if vectors else IMAGE_WIDTH
        if n_layers is None:
            n_layers = VECTOR_LAYERS if vectors else IMAGE_LAYERS
        if batchnorm is None:
            # In training mode a collapsed batch of fakes normalises to one code, which
            # the decoder can learn to reconstruct exactly: energy 0 at the collapse.
            batchnorm = not vectors
        if n_layers < 2:
            raise ValueError(f"n_layers must be at least 2 (encoder + decoder), not {n_layers}")
        if width < 1:
            raise ValueError(f"width must be at least 1, not {width}")
        self.distance = resolve_distance(distance, "l2")
        dim = spec.dim
        self.label_embedding = label_embedding(spec, label_dim)
        input_size = dim
        if self.label_embedding is not None:
            input_size += self.label_embedding.dim

        encoder: list[nn.Module] = [nn.Linear(input_size, width), nn.ReLU()]
        for _ in range(n_layers - 2):
            if dropout:
                encoder.append(nn.Dropout(DROPOUT_P))
            encoder.append(nn.Linear(width, width))
            if batchnorm:
                encoder.append(nn.BatchNorm1d(width))
            encoder.append(nn.ReLU())
        decoder: list[nn.Module] = [nn.Dropout(DROPOUT_P)] if dropout else []
        if bottleneck:
            # A linear code narrower than the data, read back by a hidden layer as wide as
            # the encoder's: the reconstructions form a low-dimensional set.
            encoder.append(nn.Linear(width, bottleneck))
            decoder += [nn.Linear(bottleneck, width), nn.ReLU()]
        # The code's ReLU is held apart, so the values before it can be the features;
        # it has no parameters, so the state dict's names are those of one Sequential.
        self.code_activation = encoder.pop() if not bottleneck else nn.Identity()
        self.encoder = nn.Sequential(*encoder)
        decoder.append(nn.Linear(width, dim))
        self.decoder = nn.Sequential(*decoder)

        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.normal_(module.weight, mean=0.0, std=WEIGHT_STD)
                nn.init.zeros_(module.bias)

    def forward(self, x: Tensor, labels: Tensor | None = None) -> EnergyOutput:
        if tuple(x.shape[1:]) != tuple(self.spec.event_shape):
            raise ValueError(
                f"expected samples of shape {tuple(self.spec.event_shape)}, "
                f"got a batch of shape {tuple(x.shape)}"
            )
        inputs = x.reshape(x.shape[0], -1)
        linear = self.encoder(with_labels(self.label_embedding, self.spec, inputs, labels))
        code = self.code_activation(linear)
        reconstruction = self.decoder(code).reshape(x.shape)
        residual = reconstruction - x
        return EnergyOutput(
            energy=residual_energy(residual, self.distance),
            features=linear if self.features == "linear" else code,
            reconstruction=reconstruction,
            residual=residual,
        )
