"""ebkit plugin registering regularised auto-encoder energies: denoising, contractive and
sparse (LeCun et al. 2006's ways to shape an energy without contrastive samples).

This module is imported to list components and build ``ebkit --help``, so it must not
import torch; the energies live in :mod:`ebkit_rae.energies` and :mod:`ebkit_rae.denoising`.
"""

from __future__ import annotations

from ebkit import Component, Option, hookimpl

EBKIT_HOOK_VERSION = 1
"""The version of ebkit's plugin hooks this module implements (see ebkit.HOOK_VERSION)."""

ACTIVATION_CHOICES: tuple[str, ...] = ("tanh", "softplus", "sigmoid")
"""The smooth activations of :mod:`ebkit_rae.network` (kept here so no torch is imported)."""


def _network_options() -> tuple[Option, ...]:
    return (
        Option("width", int, 128, "units in each hidden layer of encoder and decoder", minimum=1),
        Option(
            "depth", int, 2, "hidden layers in the encoder, and again in the decoder", minimum=1
        ),
        Option(
            "code",
            int,
            64,
            "size of the code h between encoder and decoder (the features); the decoder reads "
            "it through unit-norm columns",
            minimum=1,
        ),
        Option(
            "activation",
            str,
            "tanh",
            "the smooth activation of every hidden layer and of the code (the sparse code is "
            "rectified instead)",
            choices=ACTIVATION_CHOICES,
        ),
        Option(
            "distance",
            str,
            "mse",
            "the reconstruction error that is the energy: mse = (1/d)·‖r − x‖² (set "
            "loss.units=mse for the margin loss's automatic margin) or l2 = ‖r − x‖ (EBGAN's)",
            choices=("mse", "l2"),
        ),
    )


@hookimpl
def ebkit_energies() -> list[Component]:
    return [
        Component(
            name="denoising-ae",
            summary="denoising auto-encoder energy E(x) = E_ε (1/d)·‖r(x + σε) − x‖² "
            "(Vincent et al. 2008); trains with --sampler none --loss none or in EBGAN",
            factory="ebkit_rae.denoising:DenoisingAutoEncoderEnergy",
            options=(
                *_network_options(),
                Option(
                    "noise_std",
                    float,
                    None,
                    "σ of the Gaussian corruption, in the data's units; auto = 0.1·(high − "
                    "low)/2 of the data's range",
                    minimum=0.0,
                    minimum_inclusive=False,
                ),
                Option(
                    "eval_draws",
                    int,
                    16,
                    "fixed corruptions averaged over in evaluation mode (pictures, scores); "
                    "training draws one per sample per step",
                    minimum=1,
                ),
            ),
        ),
        Component(
            name="contractive-ae",
            summary="contractive auto-encoder energy E(x) = (1/d)·‖r(x) − x‖², + λ·‖∂r/∂x‖_F² "
            "on the data (Rifai et al. 2011); --sampler none --loss none or in EBGAN",
            factory="ebkit_rae.energies:ContractiveAutoEncoderEnergy",
            options=(
                *_network_options(),
                Option(
                    "weight",
                    float,
                    0.1,
                    "λ, the weight of the Jacobian penalty on the data's loss",
                    minimum=0.0,
                ),
                Option(
                    "jacobian",
                    str,
                    "reconstruction",
                    "what the penalty differentiates: reconstruction = ‖∂r/∂x‖_F² (Alain & "
                    "Bengio 2014) or code = ‖∂h/∂x‖_F² (Rifai et al. 2011)",
                    choices=("reconstruction", "code"),
                ),
            ),
        ),
        Component(
            name="sparse-ae",
            summary="sparse auto-encoder energy E(x) = (1/d)·‖r(x) − x‖², + λ·‖h(x)‖₁ on the "
            "data (Ranzato et al. 2007); --sampler none --loss none or in EBGAN",
            factory="ebkit_rae.energies:SparseAutoEncoderEnergy",
            options=(
                *_network_options(),
                Option(
                    "weight",
                    float,
                    0.01,
                    "λ, the weight of the code's L1 norm on the data's loss",
                    minimum=0.0,
                ),
            ),
        ),
    ]
