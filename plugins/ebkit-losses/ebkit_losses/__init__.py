"""ebkit plugin registering the loss functionals of energy-based GANs: EBGAN's margin
loss and BEGAN's boundary-equilibrium loss.

This module is imported to list components and build ``ebkit --help``, so it must not
import torch; the losses live in :mod:`ebkit_losses.margin` and :mod:`ebkit_losses.began`.
"""

from __future__ import annotations

from ebkit import Component, Option, hookimpl

F_VARIANTS: tuple[str, ...] = ("identity", "square")
"""Accepted ``f`` of the generalised margin loss; each is strictly increasing, convex and
has f(0) = 0, as LeCun's slides require."""

UNITS: tuple[str, ...] = ("l2", "mse", "l1", "mae")
"""Energy units the automatic margin knows, named like the ``autoencoder`` energy's
``distance`` option; :func:`ebkit_losses.margin.auto_margin` has the rule for each."""

SCHEDULES: tuple[str, ...] = ("constant", "linear", "cosine")
"""Accepted margin schedules; :func:`ebkit_losses.margin.margin_at` computes each."""

MARGIN_REFERENCES: tuple[str, ...] = ("zero", "data")
"""Accepted ``relative_to`` of the margin loss: the margin in the energy's units (zero) or
as a multiple of the batch's mean data energy (data)."""

GENERATOR_OBJECTIVES: tuple[str, ...] = ("energy", "feature-matching")
"""Accepted ``generator`` objectives of the margin loss: EBGAN's E(G(z)) (eq. 2) or
Salimans et al.'s (2016, §3.1) feature matching on the energy's ``features``."""

AUTO_MARGIN_FACTOR = 0.3
"""The automatic margin assumes a typical per-scalar reconstruction error of
``AUTO_MARGIN_FACTOR`` times the data's half-range (so 0.3·√d for the L2 energy on
[-1, 1] data; see :func:`ebkit_losses.margin.auto_margin`)."""


MARGIN_VECTOR_R1 = 0.1
"""The margin loss's R1 weight γ on vectors when ``r1`` is auto (images: none). The
margin loss raises the energy under a mode the generator crowds and leaves an empty one at
the data's energy; the steep walls between them move the generator's whole crowd from mode
to mode. The zero-centred penalty at the data (Mescheder, Geiger & Nowozin 2018, eq. 9)
flattens them (docs/quality.md)."""


@hookimpl
def ebkit_losses() -> list[Component]:
    return [
        Component(
            name="margin",
            summary="EBGAN hinge loss: L_D = f(D(x)) + f([m − D(G(z))]⁺), L_G = f(D(G(z))), "
            "with margin schedules",
            factory="ebkit_losses.margin:MarginLoss",
            options=(
                Option(
                    "margin",
                    float,
                    None,
                    "the margin m (at step 0 when scheduled); auto = the scale of the paper's "
                    "margins in the energy's units (loss.units): for l2, "
                    f"{AUTO_MARGIN_FACTOR}·√d·(high − low)/2 with d scalars per sample, "
                    "≈ 10 for 32×32 MNIST in [-1, 1]",
                    minimum=0.0,
                ),
                Option(
                    "units",
                    str,
                    "l2",
                    "what the automatic margin assumes the energy measures: l2 (the "
                    "non-squared L2 reconstruction error, the paper's), mse, l1 or mae; set it to "
                    "the autoencoder's energy.distance (ignored when margin is set)",
                    choices=UNITS,
                ),
                Option(
                    "f",
                    str,
                    "identity",
                    "the increasing convex f applied to both terms: identity (the paper's "
                    "eq. 1–2) or square",
                    choices=F_VARIANTS,
                ),
                Option(
                    "schedule",
                    str,
                    "constant",
                    "how the margin moves from margin to final_margin over schedule_steps "
                    "steps: constant (never), linear or cosine; it stays at final_margin after",
                    choices=SCHEDULES,
                ),
                Option(
                    "final_margin",
                    float,
                    0.0,
                    "the margin reached at step schedule_steps (linear and cosine schedules "
                    "only); the paper's EBGAN-LN decays 16 → 0",
                    minimum=0.0,
                ),
                Option(
                    "schedule_steps",
                    int,
                    10000,
                    "steps over which a linear or cosine schedule moves the margin (EBGAN-LN: "
                    "60000)",
                    minimum=1,
                ),
                Option(
                    "relative_to",
                    str,
                    "zero",
                    "zero = the margin m_t is in the energy's units; data = m_t times the "
                    "batch's mean data energy mean E(x) (not differentiated), so the hinge "
                    "acts on the contrastive samples the energy ranks below m_t·E(x) however "
                    "fast E(x) falls (EBGAN-LN's benchmarks/semi_supervised.py)",
                    choices=MARGIN_REFERENCES,
                ),
                Option(
                    "generator",
                    str,
                    "energy",
                    "the generator's objective: energy = f(D(G(z))) (EBGAN eq. 2); "
                    "feature-matching = ‖mean f(x) − mean f(G(z))‖² on the energy's "
                    "features (Salimans et al. 2016, §3.1), for an energy that provides them",
                    choices=GENERATOR_OBJECTIVES,
                ),
                Option(
                    "r1",
                    float,
                    None,
                    "weight γ of the R1 penalty γ/2 · mean ‖∇_x E(x)‖² on the data "
                    "(Mescheder et al. 2018, eq. 9), which flattens the energy's walls at "
                    "the data so that the generator stops hopping between modes; 0: none; "
                    f"auto = {MARGIN_VECTOR_R1:g} for vectors, 0 for images",
                    minimum=0.0,
                    saved_default=0.0,
                ),
                Option(
                    "hinge_weight",
                    float,
                    1.0,
                    "weight λ of the hinge term: L_D = mean f(E(x)) + λ·mean f([m − E(G(z))]⁺) "
                    "(Zhao et al. 2017, eq. 1: λ = 1); below 1 the contrastive term is a weak "
                    "regulariser, 0 leaves the data term alone",
                    minimum=0.0,
                ),
            ),
        ),
        Component(
            name="began",
            summary="BEGAN loss: L_D = L(x) − k_t·L(G(z_D)), L_G = L(G(z_G)), with the k_t "
            "control and M_global; L(v) = mean |v − D(v)|^η from the energy's residual",
            factory="ebkit_losses.began:BEGANLoss",
            options=(
                Option(
                    "eta",
                    float,
                    1.0,
                    "η in L(v) = mean over pixels of |v − D(v)|^η: 1 (the paper's) or 2, or "
                    "any positive number",
                    minimum=0.0,
                ),
                Option(
                    "gamma",
                    float,
                    None,
                    "γ, the diversity ratio E[L(G(z))] / E[L(x)] that k_t steers to; lower "
                    "→ sharper but less diverse samples; auto = 1 (the paper's CelebA runs use "
                    "0.5; below 1 k_t stayed low and the generator collapsed onto one class of "
                    "digits, one mode of 2-D points)",
                    minimum=0.0,
                ),
                Option(
                    "lambda_k",
                    float,
                    None,
                    "λ_k, the gain of k_{t+1} = clip(k_t + λ_k·(γ·L(x) − L(G(z_G))), k_min, 1); "
                    "auto = 0.001 on images (the paper's), 0 on vectors (k_t stays at k0: "
                    "the control steers 2-D points to a partial collapse)",
                    minimum=0.0,
                ),
                Option(
                    "k_min",
                    float,
                    0.0,
                    "floor of k_t (the paper's clip is [0, 1]: 0): the energy keeps pushing "
                    "on any region the generator draws at more than 1/k_min times its share "
                    "of the data; auto k0 is at least k_min",
                    minimum=0.0,
                    maximum=1.0,
                ),
                Option(
                    "k0",
                    float,
                    None,
                    "k_0, the value of k_t at step 0; auto = 0.8 on images (the paper's is 0; "
                    "the energy pushes on a class only where k_t times its share of the "
                    "samples exceeds the data's), 1 on vectors",
                    minimum=0.0,
                    maximum=1.0,
                ),
                Option(
                    "bound",
                    float,
                    None,
                    "cap on each generated sample's L in the energy's loss, "
                    "−k_t·min(L(G(z)), bound): D raises it up to the bound and no further "
                    "(EBGAN's hinge weighted by k_t); 0 = none (the paper's); auto = 0 on images, "
                    "(high − low)^eta on vectors (the data's box width)",
                    minimum=0.0,
                ),
                Option(
                    "r1",
                    float,
                    None,
                    "γ of the R1 penalty γ/2·E‖∇_x E(x)‖² on the data (Mescheder et al. 2018, "
                    "eq. 9), which keeps the energy's error from running away at k_t = 1; "
                    "0: none; auto = 1 on vectors, 0 on images",
                    minimum=0.0,
                    saved_default=0.0,
                ),
                Option(
                    "constraint",
                    float,
                    0.0,
                    "α of BEGAN-CS's latent constraint α·mean|Enc(G(z)) − z| in the energy's "
                    "loss (Chang et al. 2018; 0.1 there): the auto-encoder's code of a "
                    "generated sample must recover its z (code size = sampler.latent_dim)",
                    minimum=0.0,
                ),
                Option(
                    "constraint_generator",
                    float,
                    0.0,
                    "the same constraint in the generator's loss, weight α_G: G is trained "
                    "to be invertible by the auto-encoder's encoder (0 = off)",
                    minimum=0.0,
                ),
            ),
        ),
    ]
