"""ebkit plugin registering the loss functionals of energy-based GANs (EBGAN's margin loss).

This module is imported to list components and build ``ebkit --help``, so it must not
import torch; the losses live in :mod:`ebkit_losses.margin`.
"""

from __future__ import annotations

from ebkit import Component, Option, hookimpl

F_VARIANTS: tuple[str, ...] = ("identity", "square")
"""Accepted ``f`` of the generalised margin loss; each is strictly increasing, convex and
has f(0) = 0, as LeCun's slides require."""

AUTO_MARGIN_FACTOR = 0.3
"""The automatic margin is ``AUTO_MARGIN_FACTOR * sqrt(spec.dim)``."""


@hookimpl
def ebkit_losses() -> list[Component]:
    return [
        Component(
            name="margin",
            summary="EBGAN hinge loss: L_D = f(D(x)) + f([m − D(G(z))]⁺), L_G = f(D(G(z)))",
            factory="ebkit_losses.margin:MarginLoss",
            options=(
                Option(
                    "margin",
                    float,
                    None,
                    f"the margin m; auto = {AUTO_MARGIN_FACTOR}·√(scalars per sample) "
                    "(≈ 10 for 32×32 MNIST), the scale of the paper's margins for the "
                    "non-squared L2 reconstruction energy; set it for other energies",
                    minimum=0.0,
                ),
                Option(
                    "f",
                    str,
                    "identity",
                    "the increasing convex f applied to both terms: identity (the paper's "
                    "eq. 1–2) or square",
                    choices=F_VARIANTS,
                ),
            ),
        )
    ]
