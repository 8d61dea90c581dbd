"""scikit-learn's 8×8 handwritten digits, embedded in ebkit: a dataset that always works.

The 1797 images (the UCI "Optical Recognition of Handwritten Digits" set as bundled with
scikit-learn, CC BY 4.0) ship as ``ebkit/builtins/data/digits.npz``, written once by
``scripts/make_digits_npz.py``, so neither scikit-learn nor a download is needed.
"""

from __future__ import annotations

import os
from importlib import resources

import numpy as np
import torch

from ebkit.core.data import TensorDataset
from ebkit.core.errors import EbkitError, UsageError
from ebkit.core.interfaces import DataSpec

__all__ = ["Digits"]

_RESOURCE = ("data", "digits.npz")
_COUNT = 1797
_MAX_VALUE = 16


class Digits(TensorDataset):
    """The 1797 8×8 digits as ``x: (N, 1, 8, 8)`` float32 in [-1, 1] (value/8 − 1, from
    integer intensities 0..16) and ``y: (N,)`` int64 labels 0..9, in shuffled epochs."""

    name = "digits"

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        if path is not None:
            raise UsageError(f"dataset {self.name!r} is embedded in ebkit and takes no --data-path")
        images, labels = _load_arrays()
        x = torch.from_numpy(images.astype(np.float32) / (_MAX_VALUE / 2) - 1).unsqueeze(1)
        y = torch.from_numpy(labels.astype(np.int64))
        super().__init__(x, y, DataSpec(event_shape=(1, 8, 8), low=-1.0, high=1.0, num_classes=10))


def _load_arrays() -> tuple[np.ndarray, np.ndarray]:
    """The embedded ``images`` (N, 8, 8) and ``labels`` (N,), both uint8, checked."""
    resource = resources.files("ebkit.builtins.datasets")
    for part in _RESOURCE:
        resource = resource / part
    try:
        with resource.open("rb") as handle, np.load(handle, allow_pickle=False) as arrays:
            images, labels = arrays["images"], arrays["labels"]
    except (OSError, KeyError, ValueError) as error:
        # A broken install, not a user mistake: say which file and how to rebuild it.
        raise EbkitError(
            f"cannot read the embedded digits data ({error}); reinstall ebkit or run "
            "scripts/make_digits_npz.py"
        ) from error
    if images.shape != (_COUNT, 8, 8) or labels.shape != (_COUNT,) or images.max() > _MAX_VALUE:
        raise EbkitError("the embedded digits data is corrupt; run scripts/make_digits_npz.py")
    return images, labels
