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
            summary="trained generator G(z), z ~ N(0, I): the EBGAN sampler (MLP, paper App. C)",
            factory="ebkit.builtins.generator:GeneratorSampler",
            options=(
                Option("latent_dim", int, 100, "dimension of the noise z", minimum=1),
                Option("n_layers", int, 3, "number of Linear layers (nLayerG)", minimum=1),
                Option("width", int, 512, "width of the hidden layers (sizeG)", minimum=1),
                Option("batchnorm", bool, True, "BatchNorm after every layer but the output"),
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
    return records
