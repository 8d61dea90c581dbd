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
    from dataclasses import replace

    samplers = [
        Component(
            name="generator",
            summary="trained generator G(z), z ~ N(0, I) or U[-1, 1]: the EBGAN and BEGAN "
            "sampler (MLP of the paper's grid, DCGAN-style conv, BEGAN's ELU decoder, or "
            "the conditional EBGAN deck's net); G(z, class) in conditional runs",
            factory="ebkit.builtins.samplers.generator:GeneratorSampler",
            options=(
                Option(
                    "arch",
                    str,
                    "auto",
                    "network: mlp (the paper's MNIST grid), conv (DCGAN-style, images only), "
                    "began (BEGAN's decoder architecture, image sides 8·2^k, no tanh), deck "
                    "(the conditional EBGAN deck's 5x5 transposed convs, image sides "
                    "divisible by 4) or auto = deck for conditional runs on 3x32x32 images, "
                    "conv for colour images (sides >= 16) or any image with sides >= 64, "
                    "else mlp (the paper's choice; never began)",
                    choices=("auto", "mlp", "conv", "began", "deck"),
                ),
                Option(
                    "latent_dim",
                    int,
                    None,
                    "dimension of the noise z; auto = 64 (BEGAN's h) for arch=began, else "
                    "100 (EBGAN's and the deck's)",
                    minimum=1,
                ),
                Option(
                    "label_dim",
                    int,
                    None,
                    "conditional runs only (--conditional): size of the learned class "
                    "embedding concatenated to z; auto = the number of classes (the deck's "
                    "one-hot class info)",
                    minimum=1,
                ),
                Option(
                    "noise",
                    str,
                    "auto",
                    "distribution of z: normal = N(0, I), uniform = U[-1, 1]; auto = uniform "
                    "for arch=began (BEGAN's), else normal (EBGAN's)",
                    choices=("auto", "normal", "uniform"),
                ),
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
                    "filters",
                    int,
                    64,
                    "began only: n, the filters of every 3x3 convolution (BEGAN: 64 or 128)",
                    minimum=1,
                ),
                Option(
                    "batchnorm",
                    bool,
                    True,
                    "mlp, conv and deck: BatchNorm after every weight layer but the output "
                    "(deck: after its hidden transposed convolutions; began has none)",
                ),
            ),
        ),
    ]

    def langevin_options(*, steps: int, step_size: float | None, noise: str) -> tuple[Option, ...]:
        # Keep in step with LangevinSampler's keywords (tests/builtins/samplers/test_langevin.py).
        return (
            Option(
                "init",
                str,
                "uniform",
                "start of the chains: uniform in the data range [low, high], or gaussian "
                "with mean (low + high)/2 and standard deviation (high − low)/4",
                choices=("uniform", "gaussian"),
            ),
            Option("steps", int, steps, "Langevin steps K per call (0: no refinement)", minimum=0),
            Option(
                "step_size",
                float,
                step_size,
                "step size η (> 0); auto = 10 for independent noise, 0.005 for coupled",
                minimum=0.0,
            ),
            Option(
                "noise",
                str,
                noise,
                "noise convention: independent = σ is noise_scale (IGEBM); coupled = "
                "σ = noise_scale·√(2·step_size), exact Langevin for exp(−E/noise_scale²); "
                "auto = independent for images, coupled for vectors (the 2-D toys)",
                choices=("auto", "independent", "coupled"),
            ),
            Option(
                "noise_scale",
                float,
                None,
                "σ (independent) or s (coupled); auto = 0.005 for independent, 1 for "
                "coupled. Effective temperature: σ²/(2·step_size)",
                minimum=0.0,
            ),
            Option(
                "grad_clip",
                float,
                None,
                "clip every gradient coordinate to [−grad_clip, grad_clip]; 0 = off; "
                "auto = 0.03 for independent noise, off for coupled",
                minimum=0.0,
            ),
            Option(
                "clamp",
                bool,
                True,
                "keep the chains in the data range (with mala: reject proposals outside it)",
            ),
            Option(
                "mala",
                bool,
                False,
                "Metropolis-adjusted Langevin: accept or reject each step so that the chain "
                "samples exp(−E/T), T = σ²/(2·step_size), without step-size bias",
            ),
            Option(
                "anneal",
                str,
                "none",
                "schedule of anneal_target over the steps: none, or linear or geometric from "
                "its value at the first step to anneal_final times it at the last",
                choices=("none", "linear", "geometric"),
            ),
            Option(
                "anneal_target",
                str,
                "noise",
                "what anneal scales: noise (σ, or s when coupled) or step_size (η; when "
                "coupled, σ follows)",
                choices=("noise", "step_size"),
            ),
            Option(
                "anneal_final",
                float,
                0.1,
                "factor on anneal_target at the last step (> 0)",
                minimum=0.0,
            ),
        )

    langevin = langevin_options(steps=60, step_size=None, noise="auto")
    langevin_names = {option.name for option in langevin}
    # A generator option named like a Langevin one (noise) keeps its meaning under a prefix.
    generator_options = tuple(
        replace(option, name=f"generator_{option.name}")
        if option.name in langevin_names
        else option
        for option in samplers[0].options
    )
    samplers += [
        Component(
            name="none",
            summary="no contrastive samples: train the energy on the data alone (with --loss "
            "none; the Ladder baseline)",
            factory="ebkit.builtins.no_contrast:NoSampler",
        ),
        Component(
            name="langevin",
            summary="Langevin MCMC on the energy from uniform or Gaussian noise (seed 001, "
            "Algorithm 1): gradient clipping, clamping, optional MALA and annealing",
            factory="ebkit.builtins.samplers.langevin:LangevinSampler",
            options=langevin,
        ),
        Component(
            name="replay",
            summary="persistent Langevin chains in a replay buffer (IGEBM; seed 001, "
            "Algorithm 2): starts from the buffer, or fresh noise with probability reinit",
            factory="ebkit.builtins.samplers.replay:ReplaySampler",
            options=(
                Option(
                    "capacity",
                    int,
                    8192,
                    "slots in the buffer; it costs capacity × event size × 4 bytes of memory "
                    "and of every checkpoint",
                    minimum=1,
                ),
                Option(
                    "reinit",
                    float,
                    0.05,
                    "probability that a chain restarts from fresh init noise",
                    minimum=0.0,
                    maximum=1.0,
                ),
                *langevin,
            ),
        ),
        Component(
            name="generator-langevin",
            summary="trained generator G(z) refined by K Langevin steps on the energy (GAN+EBM "
            "hybrid, seed 001): the energy trains on refined samples, G on raw G(z)",
            factory="ebkit.builtins.samplers.generator_langevin:GeneratorLangevinSampler",
            options=(
                *generator_options,
                *langevin_options(steps=20, step_size=1.0, noise="independent")[
                    1:
                ],  # no init: chains start at G(z)
            ),
        ),
    ]
    return samplers


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
            factory="ebkit.builtins.datasets.mnist:MNIST",
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
            name="cifar10",
            summary="CIFAR-10 binary version (data_batch_N.bin, test_batch.bin) from "
            "--data-path DIR, 32x32 RGB in [-1, 1], with labels",
            factory="ebkit.builtins.datasets.cifar10:CIFAR10",
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
            ),
        ),
        Component(
            name="folder",
            summary="every image under --data-path DIR (Pillow), square-cropped and resized",
            factory="ebkit.builtins.datasets.image_folder:ImageFolder",
            options=(
                Option("size", int, 32, "side of the square images after resizing", minimum=1),
                Option("channels", int, 3, "1 (grayscale) or 3 (RGB)", minimum=1, maximum=3),
                Option("labels", bool, False, "use the sub-folder names as class labels"),
            ),
        ),
        Component(
            name="npz",
            summary="arrays in an .npz file (--data-path FILE): vectors or images",
            factory="ebkit.builtins.datasets.npz:NpzArrays",
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


ENERGY_ACTIVATIONS: tuple[str, ...] = ("swish", "relu", "leaky_relu", "elu")
"""Accepted ``activation`` of the ``mlp`` and ``conv`` energies; swish (SiLU) is smooth,
which suits the gradients MCMC samplers follow."""

CONV_ENERGY_ARCHITECTURES: tuple[str, ...] = ("auto", "plain", "deck")
"""Accepted ``arch`` of the ``conv`` energy: ``plain`` (no BatchNorm, for MCMC), ``deck``
(the conditional EBGAN deck's discriminator) or ``auto``."""

GAN_GENERATOR_LOSSES: tuple[str, ...] = ("non_saturating", "minimax")
"""Accepted ``generator_loss`` of the ``gan`` loss."""

_ACTIVATION_HELP = (
    "non-linearity after every hidden layer; swish = SiLU (smooth input gradients for "
    "MCMC), leaky_relu has slope 0.2"
)
_SPECTRAL_NORM_HELP = "spectral normalisation of every weight layer (bounds the Lipschitz constant)"


@hookimpl
def ebkit_energies() -> list[Component]:
    return [
        Component(
            name="mlp",
            summary="scalar energy network E(x): MLP on the flattened sample (vectors, 2-D "
            "toys, small images), for CD-trained EBMs and the GAN baseline",
            factory="ebkit.builtins.energies.networks:MLPEnergy",
            options=(
                Option("width", int, 128, "units per hidden layer", minimum=1),
                Option("n_layers", int, 3, "number of hidden layers", minimum=1),
                Option("activation", str, "swish", _ACTIVATION_HELP, choices=ENERGY_ACTIVATIONS),
                Option("spectral_norm", bool, False, _SPECTRAL_NORM_HELP),
                Option(
                    "label_dim",
                    int,
                    None,
                    "conditional runs only (--conditional): size of the learned class "
                    "embedding concatenated to the input; auto = the number of classes (the "
                    "size of a one-hot label)",
                    minimum=1,
                ),
            ),
        ),
        Component(
            name="conv",
            summary="scalar energy network E(x): strided convolutions and a linear head, "
            "for images of any size (CD-trained EBMs, the GAN baseline), or the conditional "
            "EBGAN deck's discriminator",
            factory="ebkit.builtins.energies.networks:ConvEnergy",
            options=(
                Option(
                    "arch",
                    str,
                    "auto",
                    "network: plain (convolutions and a linear head, no BatchNorm: use it "
                    "with MCMC samplers), deck (the conditional EBGAN deck's discriminator: "
                    "BatchNorm after every convolution but the first, Dense 64, E = "
                    "softplus(·) >= 0 for the margin loss; for generator-trained EBGAN) or "
                    "auto = deck for conditional runs on 3x32x32 data (CIFAR-10), else plain",
                    choices=CONV_ENERGY_ARCHITECTURES,
                ),
                Option(
                    "channels",
                    list[int],
                    None,
                    "output channels of each 3x3 stride-2 convolution (each halves the "
                    "sides, rounding up); auto = 32,64,128 for plain, 128,128,64 for deck",
                    minimum=1,
                ),
                Option(
                    "activation",
                    str,
                    "auto",
                    _ACTIVATION_HELP + "; auto = swish for plain, leaky_relu for deck",
                    choices=("auto", *ENERGY_ACTIVATIONS),
                ),
                Option("spectral_norm", bool, False, _SPECTRAL_NORM_HELP),
            ),
        ),
    ]


@hookimpl
def ebkit_losses() -> list[Component]:
    return [
        Component(
            name="none",
            summary="the data's mean energy, no contrastive term (with --sampler none; only "
            "for energies that cannot collapse, such as the Ladder's denoising cost)",
            factory="ebkit.builtins.no_contrast:DataEnergyLoss",
        ),
        Component(
            name="cd",
            summary="contrastive divergence: L = mean E(x⁺) − mean E(x⁻) + "
            "α·(mean E(x⁺)² + mean E(x⁻)²); a trainable sampler gets mean E(G(z))",
            factory="ebkit.builtins.losses.cd:CDLoss",
            options=(
                Option(
                    "alpha",
                    float,
                    0.1,
                    "weight α of the energy-magnitude term mean E(x⁺)² + mean E(x⁻)²",
                    minimum=0.0,
                ),
            ),
        ),
        Component(
            name="gan",
            summary="standard GAN baseline with D(x) = σ(−E(x)): binary cross-entropy for "
            "the energy, non-saturating generator loss",
            factory="ebkit.builtins.losses.gan:GANLoss",
            options=(
                Option(
                    "generator_loss",
                    str,
                    "non_saturating",
                    "non_saturating: L_G = −mean log D(G(z)); minimax: L_G = mean "
                    "log(1 − D(G(z))) (the game's objective, weak gradients early on)",
                    choices=GAN_GENERATOR_LOSSES,
                ),
            ),
        ),
    ]
