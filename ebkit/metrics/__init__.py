"""Metrics for energy-based generative models: mode coverage, distances, image quality
and anomaly AUROC, importable on their own.

- 2-D Gaussian mixtures (``8gaussians``, ``25gaussians``): :func:`mode_coverage`,
  :func:`mixture_mode_coverage` -> modes covered, high-quality share, reverse KL.
- Any 2-D (or D-dimensional) point sets: :func:`sliced_wasserstein` (SW₂²) and
  :func:`rbf_mmd2` (multi-bandwidth unbiased MMD²).
- Images, through a small CNN trained on the dataset and cached
  (:func:`cached_classifier`): :func:`image_metrics` (FD, KID, IS, I′, class coverage),
  and the formulas one by one.
- Anomaly scoring: :func:`energy_auroc` (outliers should get the higher energy).
- Standard FID, KID and IS with the published Inception-v3 weights
  (:class:`FIDInception`, :func:`load_inception`, :func:`standard_metrics`); the
  formulas come from torchmetrics, the ``standard-metrics`` extra, imported only when used.

This package imports torch, numpy and safetensors only: no CLI, plugins or matplotlib.
See ``docs/metrics.md`` for the definitions and reference numbers.
"""

from __future__ import annotations

from ebkit.metrics.anomaly import average_ranks, energy_auroc
from ebkit.metrics.classifier import (
    CLASSIFIER_VERSION,
    Classifier,
    ClassifierInfo,
    ClassifierOutputs,
    default_epochs,
    split_indices,
    train_classifier,
)
from ebkit.metrics.classifier_cache import (
    cached_classifier,
    classifier_cache_dir,
    load_classifier,
    save_classifier,
)
from ebkit.metrics.distances import (
    DEFAULT_RBF_SCALES,
    frechet_distance,
    frechet_distance_of_features,
    gaussian_fit,
    kernel_inception_distance,
    median_pairwise_distance,
    mmd2_unbiased,
    pairwise_squared_distances,
    polynomial_kernel,
    random_directions,
    rbf_kernel,
    rbf_mmd2,
    sliced_wasserstein,
    standardize_features,
    trace_sqrt_product,
)
from ebkit.metrics.images import (
    ClassCoverage,
    ImageMetrics,
    class_coverage,
    class_match_share,
    ebgan_inception_score,
    image_metrics,
    inception_score,
)
from ebkit.metrics.inception import (
    FIDInception,
    find_inception_weights,
    inception_input,
    load_inception,
    resize_bilinear_tf1,
)
from ebkit.metrics.standard import (
    InceptionFeatures,
    StandardMetrics,
    inception_features,
    standard_metrics,
    to_uint8_rgb,
)
from ebkit.metrics.toy import (
    GAUSSIAN_MIXTURES,
    PERFECT_HIGH_QUALITY_SHARE,
    GaussianMixture,
    ModeCoverage,
    gaussian_mixture,
    mixture_mode_coverage,
    mode_coverage,
)

__all__ = [
    "CLASSIFIER_VERSION",
    "DEFAULT_RBF_SCALES",
    "GAUSSIAN_MIXTURES",
    "PERFECT_HIGH_QUALITY_SHARE",
    "ClassCoverage",
    "Classifier",
    "ClassifierInfo",
    "ClassifierOutputs",
    "FIDInception",
    "GaussianMixture",
    "ImageMetrics",
    "InceptionFeatures",
    "ModeCoverage",
    "StandardMetrics",
    "average_ranks",
    "cached_classifier",
    "class_coverage",
    "class_match_share",
    "classifier_cache_dir",
    "default_epochs",
    "ebgan_inception_score",
    "energy_auroc",
    "find_inception_weights",
    "frechet_distance",
    "frechet_distance_of_features",
    "gaussian_fit",
    "gaussian_mixture",
    "image_metrics",
    "inception_features",
    "inception_input",
    "inception_score",
    "kernel_inception_distance",
    "load_classifier",
    "load_inception",
    "median_pairwise_distance",
    "mixture_mode_coverage",
    "mmd2_unbiased",
    "mode_coverage",
    "pairwise_squared_distances",
    "polynomial_kernel",
    "random_directions",
    "rbf_kernel",
    "rbf_mmd2",
    "resize_bilinear_tf1",
    "save_classifier",
    "sliced_wasserstein",
    "split_indices",
    "standard_metrics",
    "standardize_features",
    "to_uint8_rgb",
    "trace_sqrt_product",
    "train_classifier",
]
