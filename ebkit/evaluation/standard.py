"""``ebkit evaluate --metrics standard``: FID, KID and IS with the published Inception
weights (:mod:`ebkit.metrics.standard`), next to or instead of the offline classifier.

:func:`prepare_standard` checks everything the user supplies (the extra, an image run
with one or three channels, the weights file) before any sample is drawn; the real
images' features are computed once and shared by every sample set.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torch import Tensor

from ebkit.core.errors import UsageError
from ebkit.core.interfaces import DataSpec
from ebkit.metrics.inception import (
    PUBLISHED_SHA256_PREFIX,
    FIDInception,
    find_inception_weights,
    load_inception,
)
from ebkit.metrics.standard import (
    InceptionFeatures,
    inception_features,
    require_torchmetrics,
    standard_metrics,
    to_uint8_rgb,
)

METRIC_CHOICES = ("offline", "standard", "all")
"""``--metrics``: the offline classifier's (default), the standard Inception ones, both."""


@dataclass
class StandardBackend:
    """The loaded network and what eval.json records about it."""

    network: FIDInception
    weights: Path
    sha256: str
    library: str
    spec: DataSpec
    real: InceptionFeatures | None = field(default=None, repr=False)
    kid_subset_size: int = 0
    is_splits: int = 0

    def provenance(self) -> dict[str, Any]:
        """Which weights and library made the numbers, for eval.json: ``published`` is
        true when the file is byte for byte the one pytorch-fid and torch-fidelity use."""
        return {
            "weights": str(self.weights),
            "weights_sha256": self.sha256,
            "published_weights": self.sha256.startswith(PUBLISHED_SHA256_PREFIX),
            "library": self.library,
            "num_real": len(self.real) if self.real is not None else 0,
            "kid_subset_size": self.kid_subset_size,
            "is_splits": self.is_splits,
        }


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def check_metric_choice(metrics: str, inception_weights: str | None) -> None:
    if metrics not in METRIC_CHOICES:
        raise UsageError(f"--metrics {metrics}: choose one of {', '.join(METRIC_CHOICES)}")
    if inception_weights is not None and metrics == "offline":
        raise UsageError("--inception-weights is used with --metrics standard or all")


def prepare_standard(
    spec: DataSpec, weights: str | None, device: Any, *, metrics: str = "standard"
) -> StandardBackend:
    """The extra installed, an image run of 1 or 3 channels, the weights found, read
    and checked; a :class:`UsageError` (one line) otherwise."""
    version = require_torchmetrics()
    if not spec.is_image or spec.event_shape[0] not in (1, 3):
        raise UsageError(
            f"--metrics {metrics}: the standard metrics are for grey or RGB images, and "
            f"the run's samples have shape {tuple(spec.event_shape)}"
        )
    path = find_inception_weights(weights)
    network = load_inception(path, device=device)
    return StandardBackend(network, path, file_sha256(path), f"torchmetrics {version}", spec)


def standard_set_metrics(
    backend: StandardBackend,
    real: Tensor,
    samples: Tensor,
    *,
    seed: int,
    progress: Callable[[str], None] | None = None,
) -> dict[str, float]:
    """``standard_fid``, ``standard_kid`` (± std), ``standard_is`` (± std) of
    ``samples`` against ``real`` (both in the run's value range)."""
    report = progress or (lambda message: None)
    low, high = backend.spec.low, backend.spec.high

    def features(images: Tensor, name: str) -> InceptionFeatures:
        def tell(done: int, total: int) -> None:
            report(f"Inception features of the {name} images: {done}/{total}")

        return inception_features(backend.network, to_uint8_rgb(images, low, high), progress=tell)

    if backend.real is None:
        backend.real = features(real, "real")
    scores = standard_metrics(backend.real, features(samples, "generated"), seed=seed)
    backend.kid_subset_size, backend.is_splits = scores.kid_subset_size, scores.is_splits
    values = scores.as_dict()
    return {key: values[key] for key in values if key.startswith("standard_")}
