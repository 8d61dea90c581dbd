"""The ebkit-estimation plugin: registers the ``dsm``, ``ssm`` and ``nce`` losses.

Score matching (``dsm``, ``ssm``) and noise-contrastive estimation with its own noise
(``nce``) train an energy without contrastive samples: pair them with ``--sampler none``.
``nce`` with ``noise=sampler`` takes the run's sampler's samples as its noise instead.
ebkit imports this module to list components, so it imports nothing heavy: the factories
are ``"module:Class"`` strings resolved only when a component is built.
"""

from __future__ import annotations

from ebkit import Component, Option, hookimpl

EBKIT_HOOK_VERSION = 1
"""The version of ebkit's plugin hooks this module implements (see ebkit.HOOK_VERSION)."""

PROJECTIONS: tuple[str, ...] = ("gaussian", "rademacher")
"""Distributions of ``ssm``'s projection vectors v; both have E[v vᵀ] = I."""

NOISES: tuple[str, ...] = ("gaussian", "uniform", "sampler")
"""Accepted ``noise`` of the ``nce`` loss."""


@hookimpl
def ebkit_losses() -> list[Component]:
    return [
        Component(
            name="dsm",
            summary="denoising score matching (Vincent 2011): ½‖σ·s(x + σε) + ε‖², "
            "s = −∇ₓE; with --sampler none",
            factory="ebkit_estimation.score_matching:DenoisingScoreMatching",
            options=(
                Option(
                    "sigmas",
                    list[float],
                    [0.1],
                    "noise levels σ (> 0); each sample draws one uniformly, its term "
                    "weighted by σ² (several levels: a compromise score over the scales)",
                    minimum=0.0,
                    minimum_inclusive=False,
                ),
            ),
        ),
        Component(
            name="ssm",
            summary="sliced score matching (Song et al. 2019): vᵀ∇ₓs v + ½‖s‖², "
            "s = −∇ₓE, random projections v; with --sampler none",
            factory="ebkit_estimation.score_matching:SlicedScoreMatching",
            options=(
                Option(
                    "projections",
                    int,
                    1,
                    "projection vectors v per sample (one Hessian-vector product each)",
                    minimum=1,
                ),
                Option(
                    "projection",
                    str,
                    "gaussian",
                    "distribution of v (both have E[v vᵀ] = I)",
                    choices=PROJECTIONS,
                ),
                Option(
                    "variance_reduced",
                    bool,
                    True,
                    "SSM-VR: ½‖s‖² in place of ½(vᵀs)², its expectation over v",
                ),
            ),
        ),
        Component(
            name="nce",
            summary="noise-contrastive estimation (Gutmann & Hyvärinen 2010): logistic "
            "regression of data against noise q, logit −E − c − log q, c learnt",
            factory="ebkit_estimation.nce:NoiseContrastiveEstimation",
            options=(
                Option(
                    "noise",
                    str,
                    "gaussian",
                    "q: gaussian (the first batch's mean and std) or uniform (the data's "
                    "range), with --sampler none; sampler: the run's samples, log q unknown "
                    "and left out (a GAN discriminator with offset c)",
                    choices=NOISES,
                ),
                Option(
                    "noise_ratio",
                    int,
                    1,
                    "ν, noise samples per data sample (gaussian and uniform noise only)",
                    minimum=1,
                ),
                Option(
                    "log_partition",
                    float,
                    0.0,
                    "initial value of c, the learnt log-partition constant",
                ),
            ),
        ),
    ]
