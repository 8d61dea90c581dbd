"""Embed scikit-learn's 8×8 digits in ebkit, so the ``digits`` dataset needs no sklearn.

Run once from the repository root (scikit-learn must be installed)::

    python scripts/make_digits_npz.py

It writes ``ebkit/builtins/datasets/data/digits.npz`` with ``images``: uint8 (1797, 8, 8), values
0..16, and ``labels``: uint8 (1797,), digits 0..9. The data is the UCI "Optical
Recognition of Handwritten Digits" test set as bundled with scikit-learn (CC BY 4.0).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits

DEFAULT_OUT = (
    Path(__file__).resolve().parents[1] / "ebkit" / "builtins" / "datasets" / "data" / "digits.npz"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where to write the .npz")
    args = parser.parse_args()

    digits = load_digits()
    images = digits.images
    # The bundled values are integer counts 0..16 stored as float64; refuse anything else
    # rather than silently round it.
    if images.shape != (1797, 8, 8) or not np.array_equal(images, np.round(images)):
        raise SystemExit(f"unexpected digits images: shape {images.shape}, non-integer values")
    if images.min() < 0 or images.max() > 16:
        raise SystemExit(f"digits values outside 0..16: {images.min()}..{images.max()}")
    labels = digits.target
    if labels.shape != (1797,) or labels.min() < 0 or labels.max() > 9:
        raise SystemExit("unexpected digits labels")

    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out, images=images.astype(np.uint8), labels=labels.astype(np.uint8))
    print(f"wrote {args.out} ({args.out.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
