"""The ``ebkit.samplers`` plugin: registers the core's samplers and declares their options.

Each record names its class by a ``"module:Class"`` string, so listing components never
imports torch; the options here are the keyword parameters of those classes
(``tests/builtins/test_registration.py`` checks that they match). A third-party plugin
writes the same module, importing ``Component``, ``Option`` and ``hookimpl`` from
``ebkit``.
"""

from __future__ import annotations

from ebkit.plugin.components import Component, Option
from ebkit.plugin.hookspecs import hookimpl

__all__ = ["ebkit_samplers"]


@hookimpl
def ebkit_samplers() -> list[Component]:
    from dataclasses import replace

    samplers = [
        Component(
            name="generator",
            summary="trained generator G(z), z ~ N(0, I) or U[-1, 1]: the EBGAN and BEGAN "
            "sampler (MLP of the paper's grid, DCGAN-style conv, BEGAN's ELU decoder, or "
            "a conditional CIFAR-10 DCGAN); G(z, class) in conditional runs",
            factory="ebkit.builtins.samplers.generator:GeneratorSampler",
            options=(
                Option(
                    "arch",
                    str,
                    "auto",
                    "network: mlp (the paper's MNIST grid), conv (DCGAN-style, images only), "
                    "began (BEGAN's decoder architecture, image sides 8·2^k, no tanh), deck "
                    "(a conditional CIFAR-10 DCGAN: 5x5 transposed convs, image sides "
                    "divisible by 4) or auto = deck for conditional runs on 3x32x32 images, "
                    "conv for colour images (sides >= 16) or any image with sides >= 64, "
                    "else mlp (the paper's choice; never began)",
                    choices=("auto", "mlp", "conv", "began", "deck"),
                ),
                Option(
                    "latent_dim",
                    int,
                    None,
                    "dimension of the noise z; auto = 64 (BEGAN's h) for arch=began, the "
                    "data's dimension (at least 2) for vectors, else 100 (EBGAN's)",
                    minimum=1,
                ),
                Option(
                    "label_dim",
                    int,
                    None,
                    "conditional runs only (--conditional): size of the learned class "
                    "embedding concatenated to z; auto = the number of classes (the size "
                    "of a one-hot class input, as in conditional GANs)",
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
                    "width",
                    int,
                    None,
                    "mlp only: width of the hidden layers (sizeG); auto = 512 for images, "
                    "128 for vectors",
                    minimum=1,
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
                    None,
                    "mlp, conv and deck: BatchNorm after every weight layer but the output "
                    "(deck: after its hidden transposed convolutions; began has none); auto "
                    "= on for images, off for vectors (it couples the samples of a batch)",
                ),
                Option(
                    "output",
                    str,
                    "auto",
                    "mlp only: tanh (outputs within the data range) or linear (unbounded, no "
                    "saturation at the range's edges); auto = tanh for images, linear for "
                    "vectors",
                    choices=("auto", "tanh", "linear"),
                    # Runs saved before the option existed always ended in tanh.
                    saved_default="tanh",
                ),
                Option(
                    "weight_init",
                    str,
                    "auto",
                    "mlp, conv and deck: the initial weights, normal = N(0, 0.02) (EBGAN's, "
                    "DCGAN's) or xavier = Glorot-uniform, zero biases either way; auto = "
                    "normal for images, xavier for vectors (N(0, 0.02) starts every sample "
                    "at one point, which a mode of the data may occupy); began: always Glorot",
                    choices=("auto", "normal", "xavier"),
                    # Runs saved before the option existed started from N(0, 0.02).
                    saved_default="normal",
                ),
            ),
        ),
    ]

    def langevin_options(
        *, steps: int | None, step_size: float | None, noise: str
    ) -> tuple[Option, ...]:
        # LangevinSampler's keywords; replay and generator-langevin pass them on to it.
        return (
            Option(
                "init",
                str,
                "uniform",
                "start of the chains: uniform in the data range [low, high], or gaussian "
                "with mean (low + high)/2 and standard deviation (high − low)/4",
                choices=("uniform", "gaussian"),
            ),
            Option(
                "steps",
                int,
                steps,
                "Langevin steps K per call (0: no refinement)"
                + ("" if steps is not None else "; auto = 60 for images, 20 for vectors"),
                minimum=0,
            ),
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
                "σ (independent) or s (coupled); auto = 0.005 for independent, "
                "coupled_noise_scale for coupled. Effective temperature: σ²/(2·step_size)",
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
            Option(
                "coupled_noise_scale",
                float,
                0.05,
                "s of coupled noise when noise_scale is auto: temperature s² = 0.0025, sharp "
                "enough for the narrow modes of the 2-D toys (at 1 the chains scatter over "
                "modes narrower than about 0.1)",
                minimum=0.0,
                # Runs saved before the option existed sampled coupled noise at s = 1.
                saved_default=1.0,
            ),
        )

    def refinement_options(options: tuple[Option, ...]) -> tuple[Option, ...]:
        # generator-langevin's Langevin options, without init (the chains start at G(z)),
        # with its own auto rules (ebkit.builtins.samplers.generator_langevin).
        help_by_name = {
            "steps": "refinement steps K per call (0: raw G(z)); auto = 20 for images, 10 for "
            "vectors",
            "step_size": "step size η (> 0); auto = 1 for images (and with coupled noise), for "
            "vectors with independent noise 0.025·(high − low)/0.03, so that the first "
            "clipped step moves each coordinate by at most 2.5 % of the data range",
            "anneal": "schedule of anneal_target over the steps: none, or linear or geometric "
            "from its value at the first step to anneal_final times it at the last; auto = "
            "none for images, geometric for vectors (coarse steps reach the energy's wells "
            "from G(z), fine ones settle in them)",
            "anneal_target": "what anneal scales: noise (σ, or s when coupled) or step_size (η; "
            "when coupled, σ follows); auto = noise for images, step_size for vectors",
        }
        refined = []
        for option in options[1:]:
            if option.name in ("anneal", "anneal_target"):
                option = replace(option, default="auto", choices=("auto", *option.choices))
            if option.name in help_by_name:
                option = replace(option, help=help_by_name[option.name])
            refined.append(option)
        return tuple(refined)

    # replay's and generator-langevin's choice of chain (ebkit.plugin.kernels).
    kernel_choice = (
        Option(
            "kernel",
            str,
            "langevin",
            "the sampler that moves the chains: langevin (the Langevin options here) or "
            "another chain kernel of the registry, e.g. hmc from ebkit-hmc, configured by "
            "kernel_options (see docs/plugins.md, chain kernels)",
        ),
        Option(
            "kernel_options",
            str,
            "",
            "options of a kernel other than langevin, as NAME=VALUE pairs separated by "
            "spaces, e.g. 'steps=5 leapfrog_steps=4 step_size=0.05'",
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
            factory="ebkit.builtins.samplers.none:NoSampler",
        ),
        Component(
            name="langevin",
            summary="Langevin MCMC on the energy from uniform or Gaussian noise (short-run, "
            "as in Du & Mordatch 2019): gradient clipping, clamping, optional MALA and "
            "annealing",
            factory="ebkit.builtins.samplers.langevin:LangevinSampler",
            options=langevin,
        ),
        Component(
            name="replay",
            summary="persistent Langevin chains in a replay buffer (IGEBM, Du & Mordatch "
            "2019): starts from the buffer, or fresh noise with probability reinit; "
            "another chain kernel with kernel=NAME",
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
                Option(
                    "sample_rounds",
                    int,
                    None,
                    "when samples are drawn from the trained model (ebkit sample, evaluate, "
                    "the pictures): the chains continue for this many times steps steps; "
                    "auto = 1, as in training (0: the buffer as it is; more: sharper "
                    "samples, nearer the energy's own equilibrium)",
                    minimum=0,
                ),
                Option(
                    "sample_reinit",
                    float,
                    None,
                    "when samples are drawn from the trained model: probability that a chain "
                    "starts from fresh init noise instead of the buffer; auto = 0 for vectors "
                    "(samples are the persistent chains), reinit for images",
                    minimum=0.0,
                    maximum=1.0,
                ),
                *langevin_options(steps=None, step_size=None, noise="auto"),
                *kernel_choice,
            ),
        ),
        Component(
            name="generator-langevin",
            summary="trained generator G(z) refined by K Langevin steps on the energy (a "
            "GAN-EBM hybrid): the energy trains on refined samples, G on raw G(z); another "
            "chain kernel with kernel=NAME",
            factory="ebkit.builtins.samplers.generator_langevin:GeneratorLangevinSampler",
            options=(
                *generator_options,
                *refinement_options(
                    langevin_options(steps=None, step_size=None, noise="independent")
                ),
                *kernel_choice,
                Option(
                    "latent_steps",
                    int,
                    0,
                    "when samples are drawn (not in training): Langevin steps in z on "
                    "−log p₀(z) + E(G(z)) before the refinement (discriminator-driven latent "
                    "sampling, Che et al. 2020; 50 at the default step size move z by about "
                    "one prior standard deviation); 0: none",
                    minimum=0,
                ),
                Option(
                    "latent_step_size",
                    float,
                    0.01,
                    "step size ε of the latent steps (noise √(2ε): temperature 1)",
                    minimum=0.0,
                    minimum_inclusive=False,
                ),
            ),
        ),
    ]
    return samplers
