"""The core's own components, registered through the same hooks as any plugin.

Read this module as the reference example of a plugin: hook implementations that
return :class:`ebkit.Component` records with typed options and lazy factories. It must
stay free of torch imports; the factories load on first use.
"""

from __future__ import annotations

from ebkit import Component, Option, hookimpl

_TOY_NOISE_HELP = "standard deviation of the Gaussian noise around the shape"


@hookimpl
def ebkit_samplers() -> list[Component]:
    return [
        Component(
            name="generator",
            summary="trained generator G(z), z ~ N(0, I): the EBGAN sampler (MLP of the paper's "
            "grid, or DCGAN-style conv)",
            factory="ebkit.builtins.generator:GeneratorSampler",
            options=(
                Option(
                    "arch",
                    str,
                    "auto",
                    "network: mlp (the paper's MNIST grid), conv (DCGAN-style, images only) "
                    "or auto = conv for colour images (sides >= 16) or any image with sides >= 64, "
                    "else mlp (the paper's choice)",
                    choices=("auto", "mlp", "conv"),
                ),
                Option("latent_dim", int, 100, "dimension of the noise z", minimum=1),
                Option(
                    "n_layers", int, 3, "mlp only: number of Linear layers (nLayerG)", minimum=1
                ),
                Option(
                    "width", int, 512, "mlp only: width of the hidden layers (sizeG)", minimum=1
                ),
                Option(
                    "channels",
                    list[int],
                    [256, 128, 64],
                    "conv only: input channels of each 4x4 stride-2 transposed convolution; "
                    "z is projected to channels[0] maps of side ceil(side / 2^len(channels)) "
                    "and the output is cropped to the data's size",
                    minimum=1,
                ),
                Option(
                    "batchnorm",
                    bool,
                    True,
                    "BatchNorm after every weight layer but the output",
                ),
            ),
        ),
    ]


@hookimpl
def ebkit_datasets() -> list[Component]:
    toys = [
        ("8gaussians", "EightGaussians", "8 Gaussians on a circle of radius 1", 0.01),
        ("25gaussians", "TwentyFiveGaussians", "25 Gaussians on a 5x5 grid", 0.05),
        ("moons", "Moons", "two interleaving half circles", 0.05),
        ("swissroll", "SwissRoll", "a 2-D swiss roll", 0.05),
        ("rings", "Rings", "concentric rings", 0.02),
    ]
    records = [
        Component(
            name=name,
            summary=f"2-D toy: {summary}, generated on the fly (seeded)",
            factory=f"ebkit.builtins.toy:{class_name}",
            options=(Option("noise", float, noise, _TOY_NOISE_HELP, minimum=0.0),),
        )
        for name, class_name, summary, noise in toys
    ]
    records.append(
        Component(
            name="digits",
            summary="scikit-learn's 8x8 digits (1797 images, embedded), scaled to [-1, 1]",
            factory="ebkit.builtins.digits:Digits",
        )
    )
    records += [
        Component(
            name="mnist",
            summary="MNIST IDX files (raw or .gz) from --data-path DIR, scaled to [-1, 1]",
            factory="ebkit.builtins.mnist:MNIST",
            options=(
                Option(
                    "split",
                    str,
                    "auto",
                    "train or test (the t10k files); auto: train if its files are there",
                    choices=("auto", "train", "test"),
                ),
                Option("pad", bool, False, "zero-pad 28x28 to 32x32 (the EBGAN MNIST grid)"),
            ),
        ),
        Component(
            name="folder",
            summary="every image under --data-path DIR (Pillow), square-cropped and resized",
            factory="ebkit.builtins.image_folder:ImageFolder",
            options=(
                Option("size", int, 32, "side of the square images after resizing", minimum=1),
                Option("channels", int, 3, "1 (grayscale) or 3 (RGB)", minimum=1, maximum=3),
                Option("labels", bool, False, "use the sub-folder names as class labels"),
            ),
        ),
        Component(
            name="npz",
            summary="arrays in an .npz file (--data-path FILE): vectors or images",
            factory="ebkit.builtins.npz:NpzArrays",
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
