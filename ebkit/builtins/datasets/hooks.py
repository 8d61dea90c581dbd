"""The ``ebkit.datasets`` plugin: registers the core's datasets and declares their options.

Each record names its class by a ``"module:Class"`` string, so listing components never
imports torch; the options here are the keyword parameters of those classes
(``tests/builtins/test_registration.py`` checks that they match). A third-party plugin
writes the same module, importing ``Component``, ``Option`` and ``hookimpl`` from
``ebkit``.
"""

from __future__ import annotations

from ebkit.plugin.components import Component, Option
from ebkit.plugin.hookspecs import hookimpl

__all__ = ["ebkit_datasets"]

_TOY_NOISE_HELP = "standard deviation of the Gaussian noise around the shape"
_STREAM = Option(
    "stream",
    bool,
    False,
    "stream batches (memory-mapped, uint8 until the device, --workers N) "
    "instead of holding every image as float32",
)


@hookimpl
def ebkit_datasets() -> list[Component]:
    toys = [
        ("8gaussians", "EightGaussians", "8 Gaussians on a circle of radius 1", 0.01),
        ("25gaussians", "TwentyFiveGaussians", "25 Gaussians on a 5x5 grid", 0.05),
        ("moons", "Moons", "two interleaving half circles", 0.05),
        ("swissroll", "SwissRoll", "a 2-D swiss roll", 0.05),
        ("rings", "Rings", "concentric rings", 0.02),
        ("checkerboard", "Checkerboard", "the 8 dark squares of a 4x4 checkerboard", 0.0),
        ("pinwheel", "Pinwheel", "a pinwheel of 5 curved arms", 0.0),
        ("2spirals", "TwoSpirals", "two interleaved spirals", 0.03),
    ]
    records = [
        Component(
            name=name,
            summary=f"2-D toy: {summary}, generated on the fly (seeded)",
            factory=f"ebkit.builtins.datasets.toy:{class_name}",
            options=(Option("noise", float, noise, _TOY_NOISE_HELP, minimum=0.0),),
        )
        for name, class_name, summary, noise in toys
    ]
    records.append(
        Component(
            name="digits",
            summary="scikit-learn's 8x8 digits (1797 images, embedded), scaled to [-1, 1]",
            factory="ebkit.builtins.datasets.digits:Digits",
        )
    )
    records += [
        Component(
            name="mnist",
            summary="MNIST IDX files (raw or .gz) from --data-path DIR, scaled to [-1, 1]",
            factory="ebkit.builtins.datasets.mnist:mnist_dataset",
            options=(
                Option(
                    "split",
                    str,
                    "auto",
                    "train or test (the t10k files); auto: train if its files are there",
                    choices=("auto", "train", "test"),
                ),
                Option("pad", bool, False, "zero-pad 28x28 to 32x32 (the EBGAN MNIST grid)"),
                _STREAM,
            ),
        ),
        Component(
            name="cifar10",
            summary="CIFAR-10 binary version (data_batch_N.bin, test_batch.bin) from "
            "--data-path DIR, 32x32 RGB in [-1, 1], with labels",
            factory="ebkit.builtins.datasets.cifar10:cifar10_dataset",
            options=(
                Option(
                    "split",
                    str,
                    "auto",
                    "train (data_batch_1..5) or test (test_batch); auto: train if its files "
                    "are there",
                    choices=("auto", "train", "test"),
                ),
                Option(
                    "partial",
                    bool,
                    False,
                    "read the train batches that are present instead of requiring all five",
                ),
                _STREAM,
            ),
        ),
        Component(
            name="folder",
            summary="every image under --data-path DIR (Pillow), square-cropped and resized, "
            "decoded batch by batch (streamed, --workers N)",
            factory="ebkit.builtins.datasets.image_folder:ImageFolder",
            options=(
                Option("size", int, 32, "side of the square images after resizing", minimum=1),
                Option("channels", int, 3, "1 (grayscale) or 3 (RGB)", minimum=1, maximum=3),
                Option("labels", bool, False, "use the sub-folder names as class labels"),
            ),
        ),
        Component(
            name="shards",
            summary="images in WebDataset-style .tar shards under --data-path DIR, streamed "
            "shard by shard (--workers N; needs pip install 'ebkit[shards]')",
            factory="ebkit.builtins.datasets.shards:ImageShards",
            options=(
                Option("size", int, 32, "side of the square images after resizing", minimum=1),
                Option("channels", int, 3, "1 (grayscale) or 3 (RGB)", minimum=1, maximum=3),
                Option(
                    "classes",
                    int,
                    0,
                    "number of classes, read from each sample's .cls member; 0: no labels",
                    minimum=0,
                ),
            ),
        ),
        Component(
            name="npz",
            summary="arrays in an .npz file (--data-path FILE): vectors or images; uint8 "
            "images stored uncompressed (np.savez) are memory-mapped and streamed",
            factory="ebkit.builtins.datasets.npz:npz_dataset",
            options=(
                Option("key", str, "x", "name of the samples array in the file"),
                Option("label_key", str, "y", "name of the integer labels array, if present"),
                Option(
                    "scale",
                    str,
                    "auto",
                    "minmax: data range to [-1, 1]; none: keep values; auto: uint8 0..255 "
                    "to [-1, 1], data within [-1, 1] as is, else minmax",
                    choices=("auto", "none", "minmax"),
                ),
            ),
        ),
    ]
    return records
