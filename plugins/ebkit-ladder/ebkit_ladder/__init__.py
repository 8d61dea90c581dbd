"""ebkit plugin registering the ``ladder`` energy: a Ladder network whose denoising cost
is the energy and whose clean path classifies, for EBGAN-LN semi-supervised training.

This module is imported to list components and build ``ebkit --help``, so it must not
import torch; the energy lives in :mod:`ebkit_ladder.ladder` (with its combinator in
:mod:`ebkit_ladder.combinator` and its normalisation in :mod:`ebkit_ladder.normalization`)
and is imported only when it is built.
"""

from __future__ import annotations

from ebkit import Component, Option, hookimpl

INPUT_RANGES: tuple[str, ...] = ("unit", "data")
"""Accepted ``input_range`` of the ladder energy."""

CONTRASTIVE_NOISES: tuple[str, ...] = ("own", "shared")
"""Accepted ``contrastive_noise`` of the ladder energy (see
:class:`ebkit_ladder.ladder.LadderEnergy`)."""

CONTRASTIVE_NORMALIZATIONS: tuple[str, ...] = ("data", "batch")
"""Accepted ``contrastive_normalization`` of the ladder energy (see
:class:`ebkit_ladder.ladder.LadderEnergy`)."""


@hookimpl
def ebkit_energies() -> list[Component]:
    return [
        Component(
            name="ladder",
            summary="Ladder network (Rasmus et al. 2015) as in EBGAN-LN: energy = denoising "
            "cost λ₀/d·‖x − ẑ⁽⁰⁾‖² (or all layers'), class logits for semi-supervised training",
            factory="ebkit_ladder.ladder:LadderEnergy",
            options=(
                Option(
                    "sizes",
                    list[int],
                    [1000, 500, 250, 250, 250],
                    "hidden layer sizes between the flattened input and the num_classes "
                    "outputs (the permutation-invariant MNIST Ladder's)",
                    minimum=1,
                ),
                Option(
                    "num_classes",
                    int,
                    None,
                    "classifier outputs; auto = the dataset's number of classes (an unlabelled "
                    "dataset is an error unless this is set)",
                    minimum=2,
                ),
                Option(
                    "noise_std",
                    float,
                    0.3,
                    "σ of the Gaussian noise the corrupted path adds to the input and to every "
                    "normalised pre-activation",
                    minimum=0.0,
                ),
                Option(
                    "costs",
                    str,
                    "bottom",
                    "which denoising costs make the energy: bottom = only the input "
                    "reconstruction (EBGAN-LN's bottom-layer cost), full = every layer's, "
                    "weighted by bottom_weight and layer_weights",
                    choices=("bottom", "full"),
                ),
                Option(
                    "bottom_weight",
                    float,
                    1000.0,
                    "λ₀, the weight of the input reconstruction cost λ₀/d·‖x − ẑ⁽⁰⁾‖² "
                    "(EBGAN's tuned value, for inputs in [0, 1]: see input_range)",
                    minimum=0.0,
                ),
                Option(
                    "input_range",
                    str,
                    "unit",
                    "unit = map the data range [low, high] onto [0, 1] before the network, "
                    "the range λ₀ and noise_std were tuned for (MNIST pixels in the Ladder "
                    "papers); data = feed the data as it is",
                    choices=INPUT_RANGES,
                    # Ladder runs saved before the option existed were trained on the data.
                    saved_default="data",
                ),
                Option(
                    "contrastive_normalization",
                    str,
                    "data",
                    "how training normalises contrastive samples (EBGAN-LN's G(z)): data = "
                    "with the running statistics of the data, so the energy sees how they "
                    "differ from data; batch = with their own batch's statistics",
                    choices=CONTRASTIVE_NORMALIZATIONS,
                    saved_default="batch",
                ),
                Option(
                    "contrastive_noise",
                    str,
                    "own",
                    "where the corrupted path's noise for contrastive samples comes from: "
                    "own = a stream of its own, so the data's passes draw the same noise with "
                    "or without contrastive samples (EBGAN-LN and the Ladder then differ only "
                    "by the margin term); shared = torch's global stream, after the data's",
                    choices=CONTRASTIVE_NOISES,
                    # EBGAN-LN runs saved before the option existed drew from the shared stream.
                    saved_default="shared",
                ),
                Option(
                    "layer_weights",
                    list[float],
                    None,
                    "full only: λ₁..λ_L, one per hidden layer plus the top; auto = 10 for "
                    "the first hidden layer and 0.1 above (Rasmus et al.'s MNIST weights)",
                    minimum=0.0,
                ),
            ),
        )
    ]
