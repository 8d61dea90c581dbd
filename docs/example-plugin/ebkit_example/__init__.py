"""Example ebkit plugin: registers the ``quadratic-mlp`` energy and the ``hinge`` loss.

ebkit imports this module to list components and to build ``ebkit --help``, so it
imports nothing heavy: the factories are ``"module:Class"`` strings that ebkit resolves
only when it builds a component.
"""

from __future__ import annotations

from ebkit import Component, Option, hookimpl

EBKIT_HOOK_VERSION = 1
"""The version of ebkit's plugin hooks this module implements (see ebkit.HOOK_VERSION)."""


@hookimpl
def ebkit_energies() -> list[Component]:
    return [
        Component(
            name="quadratic-mlp",
            summary="E(x) = MLP(x) + ½·α·‖x‖²: a scalar MLP energy confined by a quadratic",
            factory="ebkit_example.energy:QuadraticMLPEnergy",
            options=(
                Option("width", int, 64, "units in each of the two hidden layers", minimum=1),
                Option(
                    "alpha",
                    float,
                    0.1,
                    "α, the weight of ½‖x‖²; α > 0 keeps exp(−E) normalisable",
                    minimum=0.0,
                ),
            ),
        )
    ]


@hookimpl
def ebkit_losses() -> list[Component]:
    return [
        Component(
            name="hinge",
            summary="hinge loss: L_E = [m + E(x⁺)]⁺ + [m − E(x⁻)]⁺, L_G = E(G(z))",
            factory="ebkit_example.loss:HingeLoss",
            options=(
                Option(
                    "margin",
                    float,
                    1.0,
                    "m: data is pushed below −m, contrastive samples above +m",
                    minimum=0.0,
                ),
            ),
        )
    ]
