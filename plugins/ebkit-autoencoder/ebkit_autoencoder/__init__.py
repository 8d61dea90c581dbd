"""ebkit plugin registering the auto-encoder energy of EBGAN and BEGAN (reconstruction
error as energy).

This module is imported to list components and build ``ebkit --help``, so it must not
import torch; the energies live in :mod:`ebkit_autoencoder.mlp`,
:mod:`ebkit_autoencoder.conv` and :mod:`ebkit_autoencoder.began`, and
:mod:`ebkit_autoencoder.factory` picks one.
"""

from __future__ import annotations

from ebkit import ARCHITECTURES, Component, Option, hookimpl

DISTANCES: tuple[str, ...] = ("l2", "mse", "l1", "mae")
"""Accepted ``distance`` values besides ``auto``;
:func:`ebkit_autoencoder.reconstruction.reconstruction_energy` implements each one."""

AUTOENCODER_ARCHITECTURES: tuple[str, ...] = (*ARCHITECTURES, "began")
"""Accepted ``arch`` values: the shared ones (:data:`ebkit.ARCHITECTURES`) and BEGAN's."""


@hookimpl
def ebkit_energies() -> list[Component]:
    return [
        Component(
            name="autoencoder",
            summary="EBGAN auto-encoder energy D(x) = ‖Dec(Enc(x)) − x‖₂ (MLP of the paper's "
            "MNIST grid or its DCGAN-style conv net) or BEGAN's ELU auto-encoder",
            factory="ebkit_autoencoder.factory:autoencoder_energy",
            options=(
                Option(
                    "arch",
                    str,
                    "auto",
                    "network: mlp (the paper's MNIST grid), conv (paper App. C, images only), "
                    "began (BEGAN's ELU auto-encoder, image sides 8·2^k) or auto = conv for "
                    "colour images (sides >= 16) or any image with sides >= 64, else mlp (the "
                    "paper's choice; never began)",
                    choices=AUTOENCODER_ARCHITECTURES,
                ),
                Option(
                    "n_layers",
                    int,
                    None,
                    "mlp only: weight layers in total, n_layers − 1 encoder layers plus one "
                    "decoder layer (the paper's nLayerD); auto = 2 for images, 4 for vectors "
                    "(one hidden layer on 2-D points makes a few wide valleys, not a well "
                    "at each mode)",
                    minimum=2,
                ),
                Option(
                    "width",
                    int,
                    None,
                    "mlp only: units per encoder layer, which is also the code size (the "
                    "paper's sizeD); auto = 1024 for images, 128 for vectors",
                    minimum=1,
                ),
                Option(
                    "channels",
                    list[int],
                    [64, 128, 256],
                    "conv only: output channels of each 4x4 stride-2 encoder convolution; the "
                    "decoder mirrors them; the input is zero-padded to a multiple of "
                    "2^len(channels) and the reconstruction cropped back",
                    minimum=1,
                ),
                Option(
                    "filters",
                    int,
                    64,
                    "began only: n, the filters of every decoder convolution; the encoder's "
                    "stages have n, 2n, 3n, … (the paper: 64 or 128)",
                    minimum=1,
                ),
                Option(
                    "embedding",
                    int,
                    64,
                    "began only: h, the size of the embedding at the 8×8 bottleneck (the "
                    "paper's 64); it is the energy's features",
                    minimum=1,
                ),
                Option(
                    "distance",
                    str,
                    "auto",
                    "per-sample reconstruction error r − x that is the energy: l2 = ‖r − x‖₂ "
                    "(EBGAN's), mse = mean of squares, l1 = sum of absolute values, mae = mean "
                    "of absolute values (BEGAN's L with η = 1); auto = l2 for mlp and conv, "
                    "mae for began; with the margin loss's automatic margin, set loss.units "
                    "to the same value (the began loss reads the residual, not this)",
                    choices=("auto", *DISTANCES),
                ),
                Option(
                    "dropout",
                    bool,
                    False,
                    "mlp only: dropout with p = 0.5 on the output of every encoder layer (the "
                    "paper's dropoutD)",
                ),
                Option(
                    "batchnorm",
                    bool,
                    None,
                    "mlp and conv: BatchNorm after every weight layer except the input layer "
                    "and the reconstruction (no effect on an mlp with n_layers = 2; began has "
                    "none); auto = on for images, off for vectors (a collapsed batch of fakes "
                    "would normalise to one code that the decoder reconstructs exactly)",
                ),
                Option(
                    "label_dim",
                    int,
                    None,
                    "mlp only, conditional runs only (--conditional): size of the learned "
                    "class embedding concatenated to the encoder's input; auto = the number "
                    "of classes (the size of a one-hot label). conv and began take the label "
                    "as one learned image channel instead",
                    minimum=1,
                ),
                Option(
                    "bottleneck",
                    int,
                    None,
                    "mlp only: size of a linear code between the encoder and a hidden "
                    "decoder layer of the same width; none: no bottleneck",
                    minimum=1,
                ),
                Option(
                    "features",
                    str,
                    "auto",
                    "mlp only: what the energy returns as features, which the pulling-away "
                    "term reads: code (the ReLU code the decoder reads) or linear (the "
                    "encoder output layer's values before that ReLU, which can be "
                    "orthogonal); auto = linear for vectors, code for images",
                    choices=("auto", "code", "linear"),
                ),
            ),
        )
    ]
