"""The small offline CNN classifier behind the image metrics, its training and its cache.

FD, KID, the inception scores and class coverage (:mod:`ebkit.metrics.images`) need a
classifier of the dataset's images. ebkit trains its own small CNN on the dataset's
training data instead of downloading Inception: seconds on the 8×8 digits, about a
minute on 10 000 MNIST images on 2 CPU cores. Trained classifiers are cached by dataset
as two files, written atomically, the JSON last (so a cache entry counts only once it
is complete):

    CACHE/classifiers/digits-3f2a…c1.safetensors   the weights
    CACHE/classifiers/digits-3f2a…c1.json          ClassifierInfo: dataset, options,
                                                   image shape, classes, accuracies, version

``CACHE`` is ``$EBKIT_CACHE_DIR`` if set, else ``$XDG_CACHE_HOME/ebkit`` or
``~/.cache/ebkit``. The file name holds a hash of everything that determines the
weights, the training data's bytes included, so a different ``--data-path`` never reuses
a stale classifier. Loading never unpickles: weights come from safetensors, the rest from
JSON; a damaged entry is an :class:`~ebkit.core.errors.EbkitError` of one line
(:func:`load_classifier`), and :func:`cached_classifier` retrains over it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import re
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from ebkit.core.errors import EbkitError
from ebkit.runs.checkpoints import atomic_write, write_json

__all__ = [
    "CLASSIFIER_VERSION",
    "Classifier",
    "ClassifierInfo",
    "ClassifierOutputs",
    "cached_classifier",
    "classifier_cache_dir",
    "default_epochs",
    "load_classifier",
    "save_classifier",
    "split_indices",
    "train_classifier",
]

CLASSIFIER_VERSION = 1
"""Bumped whenever the architecture or training changes, which invalidates the cache."""

_logger = logging.getLogger(__name__)

_IMAGES_PER_TRAINING = 20_000
"""Default training length in images seen (see :func:`default_epochs`)."""

_HELDOUT_SHARE = 0.2

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


def _check_training_data(x: Tensor, y: Tensor, num_classes: int | None) -> int:
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
    num_samples: int, *, seed: int = 0, heldout_share: float = _HELDOUT_SHARE
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
    heldout_share: float = _HELDOUT_SHARE,
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
    num_classes = _check_training_data(x, y, num_classes)
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


# -- the cache ------------------------------------------------------------------------


def classifier_cache_dir() -> Path:
    """Where trained classifiers are cached: ``$EBKIT_CACHE_DIR/classifiers``, else
    ``$XDG_CACHE_HOME/ebkit/classifiers``, else ``~/.cache/ebkit/classifiers``."""
    root = os.environ.get("EBKIT_CACHE_DIR")
    if root:
        return Path(root).expanduser() / "classifiers"
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "ebkit" / "classifiers"


def save_classifier(classifier: Classifier, weights: str | Path) -> Path:
    """Write ``weights`` (.safetensors) and its JSON sidecar (``info``), each atomically,
    the sidecar last; returns the weights' path."""
    from safetensors.torch import save_file

    if classifier.info is None:
        raise ValueError("only a trained classifier (with info) can be saved")
    weights = Path(weights)
    tensors = {
        key: value.detach().cpu().contiguous() for key, value in classifier.state_dict().items()
    }
    atomic_write(weights, lambda tmp: save_file(tensors, str(tmp)))
    write_json(weights.with_suffix(".json"), classifier.info.to_json())
    return weights


def load_classifier(weights: str | Path, *, device: str | torch.device = "cpu") -> Classifier:
    """Load a classifier saved by :func:`save_classifier`, in eval mode. Anything wrong
    with the files is an :class:`~ebkit.core.errors.EbkitError` of one line; nothing is
    unpickled."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    weights = Path(weights)
    sidecar = weights.with_suffix(".json")
    try:
        info = ClassifierInfo.from_json(json.loads(sidecar.read_text()))
    except (OSError, ValueError, TypeError) as error:
        raise EbkitError(f"classifier cache {sidecar} is unreadable ({error})") from None
    if info.version != CLASSIFIER_VERSION:
        raise EbkitError(
            f"classifier cache {sidecar} has version {info.version}, this ebkit writes "
            f"{CLASSIFIER_VERSION}"
        )
    try:
        tensors = load_file(str(weights))
    except (OSError, SafetensorError) as error:
        raise EbkitError(f"classifier cache {weights} is damaged ({error})") from None
    try:
        classifier = Classifier(
            info.image_shape, info.num_classes, width=info.width, feature_dim=info.feature_dim
        )
        classifier.load_state_dict(tensors, strict=True)
    except (RuntimeError, ValueError) as error:
        first_line = str(error).strip().splitlines()[0]
        raise EbkitError(
            f"classifier cache {weights} does not fit its metadata ({first_line})"
        ) from None
    if not all(torch.isfinite(value).all() for value in tensors.values()):
        raise EbkitError(f"classifier cache {weights} holds non-finite weights")
    classifier.info = info
    return classifier.to(device).eval()


def _fingerprint(x: Tensor, y: Tensor) -> str:
    digest = hashlib.sha256()
    for tensor in (x.detach().to("cpu", torch.float32), y.detach().to("cpu", torch.int64)):
        digest.update(str(tuple(tensor.shape)).encode())
        digest.update(tensor.contiguous().numpy().tobytes())
    return digest.hexdigest()


def cached_classifier(
    dataset_id: str,
    x: Tensor,
    y: Tensor,
    *,
    options: dict[str, Any] | None = None,
    num_classes: int | None = None,
    epochs: int | None = None,
    seed: int = 0,
    cache_dir: str | Path | None = None,
    device: str | torch.device = "cpu",
    retrain: bool = False,
) -> Classifier:
    """The classifier of dataset ``dataset_id`` (images ``x``, labels ``y``), from the
    cache when an entry for exactly this data and these settings exists, else trained
    with :func:`train_classifier` and cached.

    ``options`` (the dataset's options) are recorded and part of the key. A cache entry
    that cannot be read is logged as a warning and replaced by a fresh one; ``retrain``
    always trains anew. ``cache_dir`` defaults to :func:`classifier_cache_dir`.
    """
    num_classes = _check_training_data(x, y, num_classes)
    if epochs is None:
        epochs = default_epochs(len(x) - int(len(x) * _HELDOUT_SHARE))
    options = dict(options or {})
    fingerprint = _fingerprint(x, y)
    key = {
        "version": CLASSIFIER_VERSION,
        "dataset_id": dataset_id,
        "options": options,
        "image_shape": list(x.shape[1:]),
        "num_classes": num_classes,
        "epochs": epochs,
        "seed": seed,
        "data": fingerprint,
    }
    digest = hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", dataset_id).strip("._") or "dataset"
    folder = Path(cache_dir) if cache_dir is not None else classifier_cache_dir()
    weights = folder / f"{slug}-{digest[:16]}.safetensors"
    if not retrain and weights.with_suffix(".json").exists():
        try:
            cached = load_classifier(weights, device=device)
            if cached.info is None or cached.info.data_fingerprint != fingerprint:
                raise EbkitError(f"classifier cache {weights} was trained on other data")
            return cached
        except EbkitError as error:
            _logger.warning("%s; training a new classifier", error)
    classifier = train_classifier(
        x,
        y,
        num_classes=num_classes,
        epochs=epochs,
        seed=seed,
        device=device,
        dataset_id=dataset_id,
        options=options,
    )
    classifier.info = replace(classifier.info, data_fingerprint=fingerprint)
    try:
        save_classifier(classifier, weights)
    except OSError as error:
        raise EbkitError(f"cannot write the classifier cache in {folder} ({error})") from None
    return classifier
