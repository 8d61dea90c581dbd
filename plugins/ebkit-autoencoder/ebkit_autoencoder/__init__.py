"""ebkit plugin registering the EBGAN auto-encoder energy (reconstruction error as energy).

This module is imported to list components and build ``ebkit --help``, so it must not
import torch; the energy itself lives in :mod:`ebkit_autoencoder.mlp`.
"""

from __future__ import annotations

from ebkit import Component, Option, hookimpl

DISTANCES: tuple[str, ...] = ("l2", "mse", "l1")
"""Accepted ``distance`` values; :func:`ebkit_autoencoder.reconstruction.reconstruction_energy`
implements each one."""


@hookimpl
def ebkit_energies() -> list[Component]:
    return [
        Component(
            name="autoencoder",
            summary="EBGAN auto-encoder energy D(x) = ‖Dec(Enc(x)) − x‖₂ (MLP of the paper's "
            "MNIST grid)",
            factory="ebkit_autoencoder.mlp:MLPAutoEncoderEnergy",
            options=(
                Option(
                    "n_layers",
                    int,
                    2,
                    "weight layers in total: n_layers − 1 encoder layers plus one decoder "
                    "layer (the paper's nLayerD)",
                    minimum=2,
                ),
                Option(
                    "width",
                    int,
                    1024,
                    "units per encoder layer, which is also the code size (the paper's sizeD)",
                    minimum=1,
                ),
                Option(
                    "distance",
                    str,
                    "l2",
                    "per-sample reconstruction error: l2 = ‖r − x‖₂ (the paper's), mse = mean "
                    "of squares, l1 = sum of absolute values; the loss margin must match it",
                    choices=DISTANCES,
                ),
                Option(
                    "dropout",
                    bool,
                    False,
                    "dropout with p = 0.5 on the output of every encoder layer (the paper's "
                    "dropoutD)",
                ),
                Option(
                    "batchnorm",
                    bool,
                    True,
                    "BatchNorm after every weight layer except the input layer and the "
                    "reconstruction (no effect when n_layers = 2)",
                ),
            ),
        )
    ]
