"""The small offline CNN classifier behind the image metrics, and its training.

FD, KID, the inception scores and class coverage (:mod:`ebkit.metrics.images`) need a
classifier of the dataset's images. ebkit trains its own small CNN on the dataset's
training data instead of downloading Inception: seconds on the 8×8 digits, about a
minute on 10 000 MNIST images on 2 CPU cores. Trained classifiers are cached by dataset
(:mod:`ebkit.metrics.classifier_cache`).
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

__all__ = [
    "CLASSIFIER_VERSION",
    "Classifier",
    "ClassifierInfo",
    "ClassifierOutputs",
    "default_epochs",
    "split_indices",
    "train_classifier",
]

CLASSIFIER_VERSION = 1
"""Bumped whenever the architecture or training changes, which invalidates the cache."""

_logger = logging.getLogger(__name__)

_IMAGES_PER_TRAINING = 20_000
"""Default training length in images seen (see :func:`default_epochs`)."""

HELDOUT_SHARE = 0.2
"""Share of the labelled images held out to measure the classifier's accuracy."""

_POOL_FROM_SIDE = 16
"""Images with both sides at least this large are max-pooled once before the second
convolution: 28×28 and 32×32 MNIST then cost about as much as needed, 8×8 digits keep
their resolution."""


@dataclass(frozen=True)
class ClassifierInfo:
    """What a trained classifier is, as stored in its cache entry's JSON."""

    dataset_id: str
    image_shape: tuple[int, int, int]
    num_classes: int
    train_accuracy: float
    heldout_accuracy: float | None
    """Accuracy on the held-out share of the training data (``None`` without one)."""
    epochs: int
    seed: int
    num_train: int
    num_heldout: int
    options: dict[str, Any] = field(default_factory=dict)
    """The dataset's options, for the record (``{"pad": true}``)."""
    data_fingerprint: str = ""
    """SHA-256 of the training images and labels."""
    width: int = 32
    feature_dim: int = 128
    version: int = CLASSIFIER_VERSION

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "image_shape": list(self.image_shape)}

    @classmethod
    def from_json(cls, payload: Any) -> ClassifierInfo:
        """Parse the JSON written by :meth:`to_json`; ValueError names what is wrong."""
        if not isinstance(payload, dict):
            raise ValueError("the metadata is not a JSON object")
        names = set(cls.__dataclass_fields__)
        missing = sorted(name for name in names if name not in payload)
        if missing:
            raise ValueError(f"the metadata lacks {', '.join(missing)}")
        values = {name: payload[name] for name in names}
        shape = values["image_shape"]
        if (
            not isinstance(shape, list)
            or len(shape) != 3
            or not all(isinstance(side, int) and side > 0 for side in shape)
        ):
            raise ValueError(f"image_shape {shape!r} is not three positive integers")
        values["image_shape"] = tuple(shape)
        for name in ("num_classes", "epochs", "seed", "num_train", "num_heldout", "width"):
            if not isinstance(values[name], int):
                raise ValueError(f"{name} {values[name]!r} is not an integer")
        for name in ("train_accuracy", "heldout_accuracy"):
            if not isinstance(values[name], (int, float)) and values[name] is not None:
                raise ValueError(f"{name} {values[name]!r} is not a number")
        if not isinstance(values["options"], dict):
            raise ValueError("options is not a JSON object")
        return cls(**values)


@dataclass
class ClassifierOutputs:
    """A classifier's view of a batch: penultimate ``features: (N, F)`` float32 and class
    ``probabilities: (N, K)`` (softmax) float64, both on the CPU."""

    features: Tensor
    probabilities: Tensor

    @property
    def labels(self) -> Tensor:
        """Predicted classes, ``(N,)`` int64."""
        return self.probabilities.argmax(dim=1)


class Classifier(nn.Module):
    """A small CNN for ``(B, C, H, W)`` images in [-1, 1]:

    conv3×3(C→w) → ReLU → [maxpool 2 if H, W ≥ 16] → conv3×3(w→2w) → ReLU →
    adaptive average pool to 4×4 → linear(32w → F) → ReLU  = ``features`` ``(B, F)``
    → linear(F → K)                                         = ``logits`` ``(B, K)``

    The adaptive pooling makes one architecture fit 8×8 digits and 28×28 or 32×32 MNIST.
    No dropout or batch norm: evaluation is deterministic and needs no global RNG.
    ``info`` describes how it was trained (``None`` until it is).
    """

    def __init__(
        self,
        image_shape: tuple[int, int, int],
        num_classes: int,
        *,
        width: int = 32,
        feature_dim: int = 128,
    ) -> None:
        super().__init__()
        if len(image_shape) != 3 or min(image_shape) < 1:
            raise ValueError(f"image_shape must be (C, H, W), not {tuple(image_shape)}")
        if num_classes < 2:
            raise ValueError(f"a classifier needs at least 2 classes, not {num_classes}")
        channels, height, width_px = image_shape
        pool = [nn.MaxPool2d(2)] if min(height, width_px) >= _POOL_FROM_SIDE else []
        self.image_shape = tuple(image_shape)
        self.num_classes = num_classes
        self.body = nn.Sequential(
            nn.Conv2d(channels, width, 3, padding=1),
            nn.ReLU(),
            *pool,
            nn.Conv2d(width, 2 * width, 3, padding=1),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(4),
            nn.Flatten(),
            nn.Linear(2 * width * 16, feature_dim),
            nn.ReLU(),
        )
        self.head = nn.Linear(feature_dim, num_classes)
        self.info: ClassifierInfo | None = None

    def features(self, x: Tensor) -> Tensor:
        """Penultimate features, ``(B, C, H, W) -> (B, F)``."""
        if x.ndim != 4 or tuple(x.shape[1:]) != self.image_shape:
            raise ValueError(
                f"the classifier takes images of shape (B, {', '.join(map(str, self.image_shape))})"
                f", not {tuple(x.shape)}"
            )
        return self.body(x)

    def forward(self, x: Tensor) -> Tensor:
        """Class logits, ``(B, C, H, W) -> (B, K)``."""
        return self.head(self.features(x))

    @torch.no_grad()
    def embed(self, x: Tensor, *, batch_size: int = 512) -> ClassifierOutputs:
        """Features and probabilities of ``x: (N, C, H, W)`` in eval mode, batch by
        batch, on the classifier's device; results on the CPU."""
        was_training = self.training
        self.eval()
        device = next(self.parameters()).device
        features, probabilities = [], []
        try:
            for start in range(0, len(x), batch_size):
                chunk = x[start : start + batch_size].to(device=device, dtype=torch.float32)
                hidden = self.features(chunk)
                features.append(hidden.float().cpu())
                # float64: float32 softmax underflows to exact zeros, which make I′ infinite.
                probabilities.append(self.head(hidden).double().softmax(dim=1).cpu())
        finally:
            self.train(was_training)
        if not features:
            raise ValueError("no images given to the classifier")
        return ClassifierOutputs(torch.cat(features), torch.cat(probabilities))


def check_training_data(x: Tensor, y: Tensor, num_classes: int | None) -> int:
    """The number of classes of labelled images ``x: (N, C, H, W)``, ``y: (N,)``, after
    checking that they can train a classifier (``ValueError`` naming what is wrong)."""
    if not isinstance(x, Tensor) or x.ndim != 4:
        raise ValueError(f"x must be images of shape (N, C, H, W), not {getattr(x, 'shape', x)}")
    if not isinstance(y, Tensor) or y.shape != (len(x),):
        raise ValueError(f"y must be ({len(x)},) integer labels, not {getattr(y, 'shape', y)}")
    if y.is_floating_point() or (len(y) and int(y.min()) < 0):
        raise ValueError("y must hold non-negative integer class labels")
    classes = num_classes if num_classes is not None else int(y.max()) + 1 if len(y) else 0
    if len(y) and int(y.max()) >= classes:
        raise ValueError(f"labels go up to {int(y.max())} but num_classes is {classes}")
    if classes < 2:
        raise ValueError(f"a classifier needs labels of at least 2 classes, got {classes}")
    return classes


def split_indices(
    num_samples: int, *, seed: int = 0, heldout_share: float = HELDOUT_SHARE
) -> tuple[Tensor, Tensor]:
    """The training and held-out indices that :func:`train_classifier` uses: a
    permutation of ``range(num_samples)`` seeded with ``seed``, the first
    ``int(num_samples · heldout_share)`` held out, ``-> (train, heldout)`` int64."""
    order = torch.randperm(num_samples, generator=torch.Generator().manual_seed(seed))
    num_heldout = int(num_samples * heldout_share)
    return order[num_heldout:], order[:num_heldout]


def default_epochs(num_train: int) -> int:
    """Epochs when none are given: about 20 000 images seen, between 2 and 20 epochs
    (14 on the 1437 training digits, 3 on 8000 MNIST images)."""
    return min(20, max(2, math.ceil(_IMAGES_PER_TRAINING / max(num_train, 1))))


def _accuracy(classifier: Classifier, x: Tensor, y: Tensor) -> float:
    labels = classifier.embed(x).labels
    return float((labels == y.cpu()).double().mean())


def train_classifier(
    x: Tensor,
    y: Tensor,
    *,
    num_classes: int | None = None,
    epochs: int | None = None,
    seed: int = 0,
    batch_size: int = 64,
    learning_rate: float = 1e-3,
    heldout_share: float = HELDOUT_SHARE,
    width: int = 32,
    feature_dim: int = 128,
    device: str | torch.device = "cpu",
    dataset_id: str = "",
    options: dict[str, Any] | None = None,
) -> Classifier:
    """Train a :class:`Classifier` on images ``x: (N, C, H, W)`` in [-1, 1] with labels
    ``y: (N,)``; returns it in eval mode with ``info`` filled.

    A seeded random ``heldout_share`` of the data is held out to measure accuracy; the
    rest trains with Adam (``learning_rate``) and cross-entropy for ``epochs`` epochs of
    shuffled batches (default: :func:`default_epochs`). Everything random derives from
    ``seed`` (initial weights from the global RNG, forked and restored; batch order from
    a generator), so the same data and settings give the same classifier on the same
    machine.
    """
    num_classes = check_training_data(x, y, num_classes)
    if not 0 <= heldout_share < 1:
        raise ValueError(f"heldout_share must be in [0, 1), not {heldout_share}")
    num_heldout = int(len(x) * heldout_share)
    epochs = default_epochs(len(x) - num_heldout) if epochs is None else epochs
    if epochs < 1 or batch_size < 1:
        raise ValueError(f"epochs and batch_size must be >= 1, got {epochs} and {batch_size}")
    generator = torch.Generator().manual_seed(seed)
    train, heldout = split_indices(len(x), seed=seed, heldout_share=heldout_share)
    if len(train) == 0:
        raise ValueError("no training images left after holding out the held-out share")
    device = torch.device(device)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        classifier = Classifier(
            tuple(x.shape[1:]), num_classes, width=width, feature_dim=feature_dim
        ).to(device)
    x_train = x[train].to(device=device, dtype=torch.float32)
    y_train = y[train].to(device=device, dtype=torch.int64)
    optimizer = torch.optim.Adam(classifier.parameters(), lr=learning_rate)
    classifier.train()
    for _ in range(epochs):
        for batch in torch.randperm(len(train), generator=generator).split(batch_size):
            batch = batch.to(device)
            loss = nn.functional.cross_entropy(classifier(x_train[batch]), y_train[batch])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    classifier.eval()
    classifier.info = ClassifierInfo(
        dataset_id=dataset_id,
        options=dict(options or {}),
        image_shape=classifier.image_shape,
        num_classes=num_classes,
        train_accuracy=_accuracy(classifier, x[train], y[train]),
        heldout_accuracy=_accuracy(classifier, x[heldout], y[heldout]) if num_heldout else None,
        epochs=epochs,
        seed=seed,
        num_train=len(train),
        num_heldout=num_heldout,
        width=width,
        feature_dim=feature_dim,
    )
    return classifier
