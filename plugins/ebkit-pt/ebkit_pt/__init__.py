"""ebkit plugin registering EBGAN's pulling-away term (PT), a regularizer for the generator.

This module is imported to list components and build ``ebkit --help``, so it must not
import torch; the term lives in :mod:`ebkit_pt.pulling_away`.
"""

from __future__ import annotations

from ebkit import Component, Option, hookimpl


@hookimpl
def ebkit_regularizers() -> list[Component]:
    return [
        Component(
            name="pt",
            summary="EBGAN pulling-away term: mean squared cosine similarity between the "
            "codes of generated samples (generator loss only)",
            factory="ebkit_pt.pulling_away:PullingAwayTerm",
            options=(
                Option(
                    "weight",
                    float,
                    0.1,
                    "λ_PT, the weight of the term in the generator's loss (0.1 in the paper)",
                    minimum=0.0,
                ),
            ),
        )
    ]
