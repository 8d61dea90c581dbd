"""The ``ebkit.energies`` plugin: registers the core's energies and declares their options.

Each record names its class by a ``"module:Class"`` string, so listing components never
imports torch; the options here are the keyword parameters of those classes
(``tests/builtins/test_registration.py`` checks that they match). A third-party plugin
writes the same module, importing ``Component``, ``Option`` and ``hookimpl`` from
``ebkit``.
"""

from __future__ import annotations

from ebkit.plugin.components import Component, Option
from ebkit.plugin.hookspecs import hookimpl

__all__ = ["CONV_ENERGY_ARCHITECTURES", "ENERGY_ACTIVATIONS", "ebkit_energies"]

ENERGY_ACTIVATIONS: tuple[str, ...] = ("swish", "relu", "leaky_relu", "elu")
"""Accepted ``activation`` of the ``mlp`` and ``conv`` energies; swish (SiLU) is smooth,
which suits the gradients MCMC samplers follow."""

CONV_ENERGY_ARCHITECTURES: tuple[str, ...] = ("auto", "plain", "deck")
"""Accepted ``arch`` of the ``conv`` energy: ``plain`` (no BatchNorm, for MCMC), ``deck``
(the conditional CIFAR-10 EBGAN discriminator, :data:`ebkit.core.architectures.DECK_SHAPE`)
or ``auto``."""

_ACTIVATION_HELP = (
    "non-linearity after every hidden layer; swish = SiLU (smooth input gradients for "
    "MCMC), leaky_relu has slope 0.2"
)
_SPECTRAL_NORM_HELP = "spectral normalisation of every weight layer (bounds the Lipschitz constant)"


@hookimpl
def ebkit_energies() -> list[Component]:
    return [
        Component(
            name="mlp",
            summary="scalar energy network E(x): MLP on the flattened sample (vectors, 2-D "
            "toys, small images), for CD-trained EBMs and the GAN baseline",
            factory="ebkit.builtins.energies.networks:MLPEnergy",
            options=(
                Option("width", int, 128, "units per hidden layer", minimum=1),
                Option("n_layers", int, 3, "number of hidden layers", minimum=1),
                Option(
                    "activation",
                    str,
                    "auto",
                    _ACTIVATION_HELP + "; auto = swish for images, leaky_relu for vectors "
                    "(SiLU energies smooth narrow modes away)",
                    choices=("auto", *ENERGY_ACTIVATIONS),
                ),
                Option("spectral_norm", bool, False, _SPECTRAL_NORM_HELP),
                Option(
                    "label_dim",
                    int,
                    None,
                    "conditional runs only (--conditional): size of the learned class "
                    "embedding concatenated to the input; auto = the number of classes (the "
                    "size of a one-hot label)",
                    minimum=1,
                ),
                Option(
                    "input_scale",
                    str,
                    "auto",
                    "unit: map the data range [low, high] onto [-1, 1] before the first "
                    "layer; none: raw values; auto = unit for images, none for vectors",
                    choices=("auto", "unit", "none"),
                    # Runs saved before the option existed mapped every input to [-1, 1].
                    saved_default="unit",
                ),
                Option(
                    "dropout",
                    bool,
                    False,
                    "dropout with p = 0.5 after every hidden layer in training (the GAN "
                    "grid's dropoutD, Zhao et al. 2017, EBGAN, Table 1)",
                ),
            ),
        ),
        Component(
            name="conv",
            summary="scalar energy network E(x): strided convolutions and a linear head, "
            "for images of any size (CD-trained EBMs, the GAN baseline), or a conditional "
            "CIFAR-10 EBGAN discriminator (DCGAN-style, Radford et al. 2016)",
            factory="ebkit.builtins.energies.networks:ConvEnergy",
            options=(
                Option(
                    "arch",
                    str,
                    "auto",
                    "network: plain (convolutions and a linear head, no BatchNorm: use it "
                    "with MCMC samplers), deck (a conditional CIFAR-10 EBGAN discriminator: "
                    "BatchNorm after every convolution but the first, Dense 64, E = "
                    "softplus(·) >= 0 for the margin loss; for generator-trained EBGAN) or "
                    "auto = deck for conditional runs on 3x32x32 data (CIFAR-10), else plain",
                    choices=CONV_ENERGY_ARCHITECTURES,
                ),
                Option(
                    "channels",
                    list[int],
                    None,
                    "output channels of each 3x3 stride-2 convolution (each halves the "
                    "sides, rounding up); auto = 32,64,128 for plain, 128,128,64 for deck",
                    minimum=1,
                ),
                Option(
                    "activation",
                    str,
                    "auto",
                    _ACTIVATION_HELP + "; auto = swish for plain, leaky_relu for deck",
                    choices=("auto", *ENERGY_ACTIVATIONS),
                ),
                Option("spectral_norm", bool, False, _SPECTRAL_NORM_HELP),
            ),
        ),
    ]
