"""ebkit plugin registering the loss functionals of LeCun et al. (2006), "A tutorial on
energy-based learning", §2.2 and Table 1, for data against contrastive samples:
square-square, square-exponential, hinge, log and MCE.

Each works with any sampler. With a trainable one (the ``generator``) it also trains the
generator, which makes it an EBGAN variant, as the outlook of Zhao, Mathieu & LeCun
(2017) suggests.

This module is imported to list components and build ``ebkit --help``, so it must not
import torch: the formulas live in :mod:`ebkit_lecun.formulas`, the loss classes in
:mod:`ebkit_lecun.losses`.
"""

from __future__ import annotations

from ebkit import Component, Option, hookimpl

EBKIT_HOOK_VERSION = 1
"""The version of ebkit's plugin hooks this module implements (see ebkit.HOOK_VERSION)."""

PAIRING_CHOICES: tuple[str, ...] = ("all", "hardest")
"""Mirrors :data:`ebkit_lecun.formulas.PAIRINGS` without importing torch."""

_PAIRING_HELP = (
    "which contrastive energy each data sample is compared with: all (every contrastive "
    "sample of the batch, the mean over all pairs) or hardest (the batch's lowest "
    "contrastive energy, the most offending incorrect answer)"
)


def _margin(meaning: str) -> Option:
    return Option("margin", float, 1.0, f"m, in the energy's units: {meaning}", minimum=0.0)


def _pairing() -> Option:
    return Option("pairing", str, "all", _PAIRING_HELP, choices=PAIRING_CHOICES)


@hookimpl
def ebkit_losses() -> list[Component]:
    return [
        Component(
            name="square-square",
            summary="LeCun et al. 2006 square-square loss: L = E(x⁺)² + [m − E(x⁻)]⁺², "
            "L_G = E(G(z))²",
            factory="ebkit_lecun.losses:SquareSquareLoss",
            options=(_margin("contrastive samples are pushed above m, data down to 0"),),
        ),
        Component(
            name="square-exponential",
            summary="LeCun et al. 2006 square-exponential loss: L = E(x⁺)² + γ·exp(−E(x⁻)), "
            "L_G = E(G(z))²",
            factory="ebkit_lecun.losses:SquareExponentialLoss",
            options=(
                Option(
                    "gamma",
                    float,
                    1.0,
                    "γ, the weight of the push exp(−E(x⁻)) on contrastive samples",
                    minimum=0.0,
                    minimum_inclusive=False,
                ),
            ),
        ),
        Component(
            name="pair-hinge",
            summary="LeCun et al. 2006 hinge loss on (data, contrastive) pairs: "
            "L = [m + E(x⁺) − E(x⁻)]⁺, L_G = E(G(z))",
            factory="ebkit_lecun.losses:HingeLoss",
            options=(
                _margin("the gap E(x⁻) − E(x⁺) beyond which a pair gives no gradient"),
                _pairing(),
            ),
        ),
        Component(
            name="log-loss",
            summary="LeCun et al. 2006 log loss on (data, contrastive) pairs: "
            "L = log(1 + exp(E(x⁺) − E(x⁻))), L_G = E(G(z))",
            factory="ebkit_lecun.losses:LogLoss",
            options=(_pairing(),),
        ),
        Component(
            name="mce",
            summary="LeCun et al. 2006 minimum-classification-error loss on (data, "
            "contrastive) pairs: L = σ(E(x⁺) − E(x⁻)), L_G = E(G(z))",
            factory="ebkit_lecun.losses:MCELoss",
            options=(_pairing(),),
        ),
    ]
