"""Checking and completing the ladder energy's options: the number of classes and the
per-layer denoising weights λ₁..λ_L (Rasmus et al. 2015). Torch-free."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ebkit import DataSpec

FIRST_HIDDEN_WEIGHT = 10.0
UPPER_WEIGHT = 0.1
"""Default λ_l of the full Ladder above the input: 10 for the first hidden layer and 0.1
above it, Rasmus et al.'s weights for MNIST with 100 labels ([1000, 10, 0.1, …, 0.1])."""


def resolve_num_classes(spec: DataSpec, num_classes: int | None) -> int:
    """The classifier's output size: ``num_classes`` if given (it must agree with the
    data's labels), else the dataset's; an error if neither says."""
    if num_classes is None:
        if spec.num_classes is None:
            raise ValueError(
                "the ladder energy needs a labelled dataset (num_classes); this dataset "
                "has no labels (choose a labelled one such as digits or mnist, or set "
                "energy.num_classes)"
            )
        return spec.num_classes
    if num_classes < 2:
        raise ValueError(f"num_classes must be at least 2, not {num_classes}")
    if spec.num_classes is not None and num_classes != spec.num_classes:
        raise ValueError(
            f"num_classes={num_classes} disagrees with the dataset's {spec.num_classes} "
            "classes (leave it unset to use the dataset's)"
        )
    return num_classes


def resolve_layer_weights(
    layer_weights: Sequence[float] | None, hidden_layers: int, costs: str
) -> tuple[float, ...]:
    """λ₁..λ_L for ``hidden_layers`` hidden layers and the top (L = hidden_layers + 1):
    the given ones, checked, or Rasmus et al.'s pattern 10, 0.1, …, 0.1."""
    if layer_weights is None:
        return (FIRST_HIDDEN_WEIGHT, *[UPPER_WEIGHT] * hidden_layers)
    weights = tuple(float(weight) for weight in layer_weights)
    if costs != "full":
        raise ValueError("layer_weights is used only with costs=full; set costs=full or drop it")
    if len(weights) != hidden_layers + 1:
        raise ValueError(
            f"layer_weights needs {hidden_layers + 1} values (λ₁..λ_L: one per hidden layer "
            f"and one for the top layer; λ₀ is bottom_weight), got {len(weights)}"
        )
    if not all(math.isfinite(weight) and weight >= 0 for weight in weights):
        raise ValueError(f"layer_weights must be finite numbers >= 0, not {list(weights)}")
    return weights
