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
                    None,
                    "λ_PT, the weight of the term in the generator's loss; auto = 0.1 for "
                    "images (the paper's), 0.02 for vectors (on 2-D points 0.1 spreads the "
                    "samples within each mode)",
                    minimum=0.0,
                ),
            ),
        )
    ]
