"""The ``ebkit.losses`` plugin: registers the core's losses and declares their options.

Each record names its class by a ``"module:Class"`` string, so listing components never
imports torch; the options here are the keyword parameters of those classes
(``tests/builtins/test_registration.py`` checks that they match). A third-party plugin
writes the same module, importing ``Component``, ``Option`` and ``hookimpl`` from
``ebkit``.
"""

from __future__ import annotations

from ebkit.plugin.components import Component, Option
from ebkit.plugin.hookspecs import hookimpl

__all__ = ["GAN_GENERATOR_LOSSES", "VECTOR_R1", "ebkit_losses"]

GAN_GENERATOR_LOSSES: tuple[str, ...] = ("non_saturating", "minimax")
"""Accepted ``generator_loss`` of the ``gan`` loss."""

VECTOR_R1 = 0.1
"""The ``gan`` loss's R1 weight γ on vectors when ``r1`` is auto."""


@hookimpl
def ebkit_losses() -> list[Component]:
    return [
        Component(
            name="none",
            summary="the data's mean energy, no contrastive term (with --sampler none; only "
            "for energies that cannot collapse, such as the Ladder's denoising cost)",
            factory="ebkit.builtins.losses.none:DataEnergyLoss",
        ),
        Component(
            name="cd",
            summary="contrastive divergence: L = mean E(x⁺) − mean E(x⁻) + "
            "α·(mean E(x⁺)² + mean E(x⁻)²); a trainable sampler gets mean E(G(z))",
            factory="ebkit.builtins.losses.cd:CDLoss",
            options=(
                Option(
                    "alpha",
                    float,
                    0.1,
                    "weight α of the energy-magnitude term mean E(x⁺)² + mean E(x⁻)²",
                    minimum=0.0,
                ),
            ),
        ),
        Component(
            name="gan",
            summary="standard GAN baseline with D(x) = σ(−E(x)): binary cross-entropy for "
            "the energy, non-saturating generator loss",
            factory="ebkit.builtins.losses.gan:GANLoss",
            options=(
                Option(
                    "generator_loss",
                    str,
                    "non_saturating",
                    "non_saturating: L_G = −mean log D(G(z)); minimax: L_G = mean "
                    "log(1 − D(G(z))) (the game's objective, weak gradients early on)",
                    choices=GAN_GENERATOR_LOSSES,
                ),
                Option(
                    "r1",
                    float,
                    None,
                    "weight γ of the R1 penalty γ/2 · mean ‖∇_x E(x)‖² on the data "
                    "(Mescheder et al. 2018, eq. 9), which makes the alternating updates "
                    f"converge; 0: none; auto = {VECTOR_R1:g} for vectors, 0 for images",
                    minimum=0.0,
                    saved_default=0.0,
                ),
            ),
        ),
    ]
