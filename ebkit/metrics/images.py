"""Image-quality metrics from a dataset's own classifier: FD, KID, IS, I′, class coverage.

The formulas here take class probabilities ``(N, K)`` (or features, through
:mod:`ebkit.metrics.distances`); :func:`image_metrics` runs a
:class:`~ebkit.metrics.classifier.Classifier` over real and generated images and
computes them all. The numbers depend on the classifier, so they compare runs measured
with the same cached classifier, not papers that used Inception.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import Tensor

from ebkit.metrics.classifier import Classifier
from ebkit.metrics.distances import (
    frechet_distance_of_features,
    kernel_inception_distance,
    standardize_features,
)

__all__ = [
    "ClassCoverage",
    "ImageMetrics",
    "class_coverage",
    "class_match_share",
    "ebgan_inception_score",
    "image_metrics",
    "inception_score",
]


def _probabilities(probabilities: Tensor) -> Tensor:
    """``probabilities`` as float64 ``(N, K)`` rows on the simplex, or a ValueError."""
    if not isinstance(probabilities, Tensor) or probabilities.ndim != 2:
        shape = getattr(probabilities, "shape", type(probabilities).__name__)
        raise ValueError(f"probabilities must be a tensor of shape (N, K), not {shape}")
    if len(probabilities) == 0:
        raise ValueError("probabilities is empty: the metric needs at least one sample")
    probabilities = probabilities.detach().to(torch.float64)
    if not torch.isfinite(probabilities).all() or (probabilities < 0).any():
        raise ValueError("probabilities must be finite and non-negative")
    if not torch.allclose(probabilities.sum(dim=1), probabilities.new_ones(()), atol=1e-4):
        raise ValueError("each row of probabilities must sum to 1 (pass softmax outputs)")
    return probabilities


def _kl_rows(p: Tensor, q: Tensor) -> Tensor:
    """KL(p_i ‖ q_i) = Σ_k p_ik log(p_ik / q_ik) per row, with 0 log 0 = 0 and +inf where
    q_ik = 0 < p_ik; ``p``, ``q`` broadcast to ``(N, K) -> (N,)``."""
    p, q = torch.broadcast_tensors(p, q)
    terms = torch.where(p > 0, p * (p.log() - q.log()), torch.zeros_like(p))
    return terms.sum(dim=1)


def inception_score(probabilities: Tensor) -> Tensor:
    """Inception score IS = exp(E_x KL(p(y|x) ‖ p(y))) (Salimans et al. 2016), higher is
    better, between 1 and K.

    ``probabilities: (N, K)`` are p(y|x) for N samples; p(y) is their mean. IS = 1 when
    every prediction is the same distribution (uniform, or a collapse onto one class);
    IS = K for confident predictions spread evenly over the K classes. One set, no
    splits (the original averages over 10 splits). ``-> ()`` float64.
    """
    p_y_given_x = _probabilities(probabilities)
    p_y = p_y_given_x.mean(dim=0, keepdim=True)
    return _kl_rows(p_y_given_x, p_y).mean().exp()


def ebgan_inception_score(probabilities: Tensor) -> Tensor:
    """The EBGAN paper's modified inception score I′ = E_x KL(p(y) ‖ p(y|x))
    (Zhao et al. 2017, §4.1 and App. C): the pair swapped, no exponential. Higher is
    "better" in the paper's reading; 0 when every prediction equals p(y).

    ``probabilities: (N, K) -> ()`` float64. It is +inf as soon as one p(y|x) puts
    exactly zero mass on a class that p(y) uses (softmax outputs never do, but confident
    ones make it large and dominated by the tiny probabilities), so it grows with the
    classifier's confidence more than with diversity. **Caveat:** I′ rates a collapse
    onto two classes almost as high as real data; never report it alone —
    report it beside :func:`inception_score` and :func:`class_coverage`.
    """
    p_y_given_x = _probabilities(probabilities)
    p_y = p_y_given_x.mean(dim=0, keepdim=True)
    return _kl_rows(p_y, p_y_given_x).mean()


@dataclass(frozen=True)
class ClassCoverage:
    """How the predicted classes of a sample set spread over the K classes.

    - ``classes_covered`` (higher is better, at most K): classes that receive at least
      ``min_share`` of the predicted labels (argmax of p(y|x)).
    - ``entropy`` (higher is better, at most log K nats): entropy of the histogram of
      predicted labels; ``normalized_entropy`` = entropy / log K, 1 for a perfectly even
      spread, 0 for a single class.
    - ``histogram``: share of the predicted labels per class.
    """

    classes_covered: int
    num_classes: int
    min_share: float
    entropy: float
    normalized_entropy: float
    histogram: tuple[float, ...]


def class_coverage(probabilities: Tensor, *, min_share: float | None = None) -> ClassCoverage:
    """Class coverage of ``probabilities: (N, K)`` (p(y|x) of generated samples).

    A class is covered when at least ``min_share`` of the samples are predicted as it;
    the default is a tenth of its fair share, 0.1/K (1 % for 10 classes), so a few
    misclassified samples do not count as a covered class while a class generated at a
    tenth of its real frequency still does. See :class:`ClassCoverage`.
    """
    p_y_given_x = _probabilities(probabilities)
    classes = p_y_given_x.shape[1]
    min_share = 0.1 / classes if min_share is None else min_share
    if not 0 < min_share <= 1:
        raise ValueError(f"min_share must be in (0, 1], not {min_share}")
    counts = torch.bincount(p_y_given_x.argmax(dim=1), minlength=classes).to(torch.float64)
    share = counts / counts.sum()
    present = share[share > 0]
    entropy = float(-(present * present.log()).sum())
    return ClassCoverage(
        classes_covered=int((share >= min_share).sum()),
        num_classes=classes,
        min_share=min_share,
        entropy=entropy,
        normalized_entropy=entropy / math.log(classes) if classes > 1 else 0.0,
        histogram=tuple(float(value) for value in share),
    )


def class_match_share(probabilities: Tensor, requested_labels: Tensor) -> float:
    """Share of samples that the classifier assigns to the class they were generated
    for (higher is better, 1 for a perfect conditional sampler), for conditional runs:
    mean over i of [argmax_k p(k|x_i) = requested_labels_i].

    ``probabilities: (N, K)`` from :meth:`Classifier.embed`, ``requested_labels: (N,)``
    integers in [0, K).
    """
    p_y_given_x = _probabilities(probabilities)
    if not isinstance(requested_labels, Tensor) or requested_labels.shape != (len(p_y_given_x),):
        shape = getattr(requested_labels, "shape", type(requested_labels).__name__)
        raise ValueError(f"requested_labels must have shape ({len(p_y_given_x)},), not {shape}")
    labels = requested_labels.detach().cpu()
    if labels.is_floating_point() or labels.min() < 0 or labels.max() >= p_y_given_x.shape[1]:
        raise ValueError(f"requested_labels must be integers in [0, {p_y_given_x.shape[1]})")
    return float((p_y_given_x.argmax(dim=1).cpu() == labels).double().mean())


@dataclass(frozen=True)
class ImageMetrics:
    """All image metrics of one generated set against the real set (one classifier).

    Lower is better: ``frechet_distance``, ``kid`` (± ``kid_std`` over subsets).
    Higher is better: ``inception_score`` (1..K), ``classes_covered``,
    ``class_entropy``. ``largest_class_share`` (lower is better, at least 1/K) is the
    share of the samples predicted as the most frequent class: a collapse onto one class
    shows there even where every class still gets the 1 % that counts as covered.
    ``ebgan_inception_score`` is I′ (read it with the others).
    ``real_inception_score`` is the IS of the real images, the ceiling to compare with.
    ``class_match_share`` (higher is better, chance 1/K) is set for samples drawn for
    requested classes (conditional runs), else ``None`` and left out of :meth:`as_dict`.
    """

    frechet_distance: float
    kid: float
    kid_std: float
    inception_score: float
    ebgan_inception_score: float
    classes_covered: int
    class_entropy: float
    largest_class_share: float
    real_inception_score: float
    num_real: int
    num_fake: int
    class_match_share: float | None = None

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of the fields that are set."""
        return {key: value for key, value in asdict(self).items() if value is not None}


def image_metrics(
    classifier: Classifier,
    real: Tensor,
    fake: Tensor,
    *,
    kid_subsets: int = 100,
    kid_subset_size: int = 1000,
    generator: torch.Generator | None = None,
    requested_labels: Tensor | None = None,
) -> ImageMetrics:
    """Every image metric of generated images ``fake: (M, C, H, W)`` against real images
    ``real: (N, C, H, W)``, both in [-1, 1], through ``classifier``.

    FD and KID use the penultimate features standardised with the real set's mean and
    std (:func:`~ebkit.metrics.distances.standardize_features`); IS, I′ and
    class coverage use the fake set's class probabilities. ``generator`` draws KID's
    subsets (default: seeded with 0). Use a few hundred images per set or more: the
    covariances are F × F (F = 128). ``requested_labels: (M,)``, the classes ``fake`` was
    drawn for (a conditional run), adds :func:`class_match_share`.
    """
    real_outputs = classifier.embed(real)
    fake_outputs = classifier.embed(fake)
    real_features, fake_features = standardize_features(
        real_outputs.features, fake_outputs.features
    )
    kid, kid_std = kernel_inception_distance(
        real_features,
        fake_features,
        num_subsets=kid_subsets,
        subset_size=kid_subset_size,
        generator=generator,
    )
    coverage = class_coverage(fake_outputs.probabilities)
    return ImageMetrics(
        frechet_distance=float(frechet_distance_of_features(real_features, fake_features)),
        kid=float(kid),
        kid_std=float(kid_std),
        inception_score=float(inception_score(fake_outputs.probabilities)),
        ebgan_inception_score=float(ebgan_inception_score(fake_outputs.probabilities)),
        classes_covered=coverage.classes_covered,
        class_entropy=coverage.entropy,
        largest_class_share=max(coverage.histogram),
        real_inception_score=float(inception_score(real_outputs.probabilities)),
        num_real=len(real),
        num_fake=len(fake),
        class_match_share=None
        if requested_labels is None
        else class_match_share(fake_outputs.probabilities, requested_labels),
    )
