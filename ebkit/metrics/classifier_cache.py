"""The cache of trained metric classifiers: saved as safetensors + JSON, never unpickled.

Trained classifiers (:mod:`ebkit.metrics.classifier`) are cached by dataset as two
files, written atomically, the JSON last (so a cache entry counts only once it is
complete):

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
import os
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ebkit.core.errors import EbkitError
from ebkit.core.files import atomic_write, write_json
from ebkit.metrics.classifier import (
    CLASSIFIER_VERSION,
    HELDOUT_SHARE,
    Classifier,
    ClassifierInfo,
    check_training_data,
    default_epochs,
    train_classifier,
)

__all__ = ["cached_classifier", "classifier_cache_dir", "load_classifier", "save_classifier"]

_logger = logging.getLogger(__name__)


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
    num_classes = check_training_data(x, y, num_classes)
    if epochs is None:
        epochs = default_epochs(len(x) - int(len(x) * HELDOUT_SHARE))
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
