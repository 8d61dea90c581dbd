"""The ``generator-langevin`` sampler: G(z) refined by K Langevin steps on the energy.

A GAN–EBM hybrid: the energy is fitted with contrastive samples made by K steps of
short-run Langevin MCMC (Nijkamp et al. 2019) started at G(z), the generator is fitted as
in a GAN (Goodfellow et al. 2014), and sampling draws z ~ N(0, I) and applies the K
Langevin steps to G(z). So in training
(:meth:`GeneratorLangevinSampler.training_samples`) the energy's step sees the refined
samples x_K, while the generator's step sees the raw G(z) with its graph (the same z);
:meth:`~GeneratorLangevinSampler.sample` returns the refined samples, and
``-o sampler.steps=0 -o sampler.latent_steps=0`` gives the raw G(z) of a trained run
(``ebkit sample``), since the numbers of steps do not touch the weights.

When samples are drawn (:meth:`~GeneratorLangevinSampler.sample`, not the training
step), ``latent_steps`` Langevin steps in z on −log p₀(z) + E(G(z)) may come first
(discriminator-driven latent sampling, Che et al. 2020; off by default): they reweight
G's proposals towards p_g·exp(−E), the data's density when −E is an optimal
discriminator's logit, before the data-space steps sharpen them
(:mod:`ebkit.builtins.samplers.latent_langevin`).

In a conditional run both halves condition on the requested classes y: G(z, y) proposes
and the Langevin steps follow E(x | y).

``kernel`` names another chain kernel of the registry to refine G(z) with instead of
Langevin dynamics (:mod:`ebkit.plugin.kernels`), e.g. ``hmc``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from ebkit.builtins.samplers.chains import make_chain
from ebkit.builtins.samplers.generator import GeneratorSampler
from ebkit.builtins.samplers.langevin import (
    DEFAULT_GRAD_CLIP,
    LANGEVIN_OPTION_NAMES,
    LangevinSampler,
)
from ebkit.builtins.samplers.latent_langevin import check_latent_chain, latent_langevin
from ebkit.core.interfaces import ContrastiveSampler, DataSpec, EnergyFunction
from ebkit.nets import checked_labels
from ebkit.plugin.kernels import BUILTIN_KERNEL

__all__ = [
    "GENERATOR_PREFIX",
    "GeneratorLangevinSampler",
    "refinement_defaults",
]

GENERATOR_PREFIX = "generator_"
"""Prefix of a generator option whose name a Langevin option already takes
(``generator_noise``, the distribution of z, next to Langevin's ``noise``)."""


IMAGE_REFINE_STEPS = 20
"""Refinement steps K on images (``steps`` = auto)."""

VECTOR_REFINE_STEPS = 10
"""Refinement steps K on vectors (``steps`` = auto): with the step size annealed from
coarse to fine, 10 steps land G(z) on the energy's wells, at half the cost of 20 per
training step (the 2-D runs stay within 3 CPU-minutes)."""

VECTOR_FIRST_MOVE = 0.025
"""On vectors with independent noise, ``step_size`` = auto is chosen so that the first
step moves each coordinate by at most this share of the data range, η·c =
0.025·(high − low) with the clipping c = 0.03 (0.06 on the ring of 8 Gaussians, 0.235
on the 5×5 grid); the geometric anneal ends at a tenth of it."""

DEFAULT_LATENT_STEP_SIZE = 0.01
"""ε of the latent Langevin steps: 50 of them move z by about √(2·50·ε) = 1 standard
deviation of the prior, far enough to leave a region where the discriminator rates G's
samples low, short of mixing across the whole latent space."""


def refinement_defaults(
    spec: DataSpec,
    steps: int | None,
    step_size: float | None,
    noise: str,
    anneal: str,
    anneal_target: str,
) -> dict[str, Any]:
    """The Langevin options of the refinement with their ``auto`` values resolved for the
    data kind: images keep K = 20, η = 1, no annealing; vectors take K = 10 and, with
    independent noise, η = 0.025·(high − low)/c (:data:`VECTOR_FIRST_MOVE`), annealed
    geometrically down to a tenth (``anneal_final``) over the chain.

    Why: the clipped steps move each coordinate by η·c whatever the gradient's size, so
    a fixed η either travels too little to reach the wells from G(z) or jitters around
    them by more than a narrow mode's width (0.03 against the ring's σ = 0.01, which kept
    the refined samples at 65 % high quality); starting coarse and ending fine does both.
    """
    vectors = not spec.is_image
    if steps is None:
        steps = VECTOR_REFINE_STEPS if vectors else IMAGE_REFINE_STEPS
    if step_size is None:
        step_size = 1.0
        if vectors and noise == "independent":
            clip = DEFAULT_GRAD_CLIP["independent"]
            step_size = VECTOR_FIRST_MOVE * (spec.high - spec.low) / clip
    if anneal == "auto":
        anneal = "geometric" if vectors else "none"
    if anneal_target == "auto":
        anneal_target = "step_size" if vectors else "noise"
    return {
        "steps": steps,
        "step_size": step_size,
        "noise": noise,
        "anneal": anneal,
        "anneal_target": anneal_target,
    }


class GeneratorLangevinSampler(ContrastiveSampler):
    """A :class:`~ebkit.builtins.samplers.generator.GeneratorSampler` (``generator``) whose
    samples a :class:`~ebkit.builtins.samplers.langevin.LangevinSampler` (``langevin``) refines.

    ``options`` are the generator's (arch, latent_dim, n_layers, width, channels,
    batchnorm, ...; a name that Langevin also uses carries the prefix ``generator_``)
    and Langevin's (``noise`` default ``independent`` here, since G(z) starts near the
    data; ``steps``, ``step_size``, ``anneal`` and ``anneal_target`` auto by data kind,
    :func:`refinement_defaults`; noise_scale, grad_clip, clamp, mala...; ``init`` does not
    apply, the chains start at G(z)); ``weight_init`` is the generator's (auto: ``normal``
    for images, ``xavier`` for vectors).

    Trainable. The energy step trains on refined samples and the sampler step on raw
    G(z) (:meth:`training_samples`). :meth:`sample` returns the refined samples x_K; to
    honour the interface's contract that a trainable sampler's samples carry the graph to
    its parameters, they do so through a straight-through estimator,
    x_K + (G(z) − stop_gradient(G(z))) (the refinement counts as a constant shift),
    so a loss that trains G on :meth:`sample` trains it on the energies of refined
    samples. With ``steps`` = 0 and ``latent_steps`` = 0, :meth:`sample` is exactly G(z).

    Conditional runs (``spec.conditional``): ``labels: (n,)`` go to both halves, G(z, y)
    (``label_dim`` sizes its class embedding) and Langevin on E(x | y), in
    :meth:`sample` and :meth:`training_samples` alike.

    ``latent_steps`` (default 0) and ``latent_step_size`` ε: Langevin steps in z before
    the refinement, in :meth:`sample` only (drawing samples, not training; module
    docstring). The noise of both chains comes from the ``generator`` passed to
    :meth:`sample`.

    ``kernel`` other than ``langevin`` refines with that sampler of the registry, built
    with ``kernel_options`` (``NAME=VALUE`` pairs); the Langevin options must then keep
    their defaults. ``chain`` is the refining kernel either way.

    :meth:`metrics`: the kernel's diagnostics plus ``energy_raw`` and ``energy_refined``,
    the mean energy of G(z) and of the refined samples at the last call (one extra
    forward pass of the energy, without gradients, for ``energy_refined``).
    """

    trainable = True
    accepts_labels = True

    def __init__(
        self,
        spec: DataSpec,
        *,
        steps: int | None = None,
        step_size: float | None = None,
        noise: str = "independent",
        anneal: str = "auto",
        anneal_target: str = "auto",
        kernel: str = BUILTIN_KERNEL,
        kernel_options: str = "",
        latent_steps: int = 0,
        latent_step_size: float = DEFAULT_LATENT_STEP_SIZE,
        **options: Any,
    ) -> None:
        super().__init__(spec)
        check_latent_chain(latent_steps, latent_step_size)  # before anything is built
        self.latent_steps = latent_steps
        self.latent_step_size = latent_step_size
        # Independent noise by default on any data: G(z) starts near the data, and coupled
        # noise at this step size (σ = √2) would scatter it.
        resolved = refinement_defaults(spec, steps, step_size, noise, anneal, anneal_target)
        langevin: dict[str, Any] = dict(resolved)
        generator: dict[str, Any] = {}
        for name, value in options.items():
            if name == "init":
                raise ValueError("init does not apply: generator-langevin starts from G(z)")
            if name in LANGEVIN_OPTION_NAMES:
                langevin[name] = value
            elif name.startswith(GENERATOR_PREFIX) and name[len(GENERATOR_PREFIX) :] in (
                LANGEVIN_OPTION_NAMES
            ):
                generator[name[len(GENERATOR_PREFIX) :]] = value
            else:
                generator[name] = value
        # G's weight_init (auto: Glorot on vectors, the paper's N(0, 0.02) on images;
        # generator_nets.VECTOR_WEIGHT_INIT says why) is one of the generator's options.
        self.generator = GeneratorSampler(spec, **generator)
        self.weight_init = self.generator.weight_init
        self.kernel = kernel
        # The auto values count as unset next to another kernel: only a value the user
        # set away from them is an error there.
        own_defaults = refinement_defaults(spec, None, None, "independent", "auto", "auto")
        self.chain: Any = make_chain(spec, kernel, kernel_options, langevin, own_defaults)
        self._energy_refined: Tensor | None = None

    def training_samples(
        self,
        n: int,
        energy: EnergyFunction,
        generator: torch.Generator,
        labels: Tensor | None = None,
    ) -> tuple[Tensor, Tensor]:
        """(refined x_K, detached, for the energy step; raw G(z) with its graph, for the
        sampler step), from the same z (and the same ``labels: (n,)`` in a conditional
        run)."""
        raw = self.generator.sample(n, energy, generator, labels)
        return self._refine(raw, energy, generator, labels), raw

    def sample(
        self,
        n: int,
        energy: EnergyFunction,
        generator: torch.Generator,
        labels: Tensor | None = None,
    ) -> Tensor:
        """Refined samples ``(n, *event_shape)`` (of the classes ``labels: (n,)`` in a
        conditional run); their graph reaches G's parameters straight through the
        refinement (class docstring)."""
        raw = self._proposals(n, energy, generator, labels)
        if self.chain.steps == 0:
            self._refine(raw, energy, generator, labels)  # for the metrics
            return raw
        refined = self._refine(raw, energy, generator, labels)
        # Exactly the refined values (raw − raw is exactly 0), with ∂x_K/∂G(z) = I.
        return refined + (raw - raw.detach())

    def _proposals(
        self,
        n: int,
        energy: EnergyFunction,
        generator: torch.Generator,
        labels: Tensor | None,
    ) -> Tensor:
        """G(z), with z moved by the latent steps first when there are any (with its
        graph to G's parameters either way)."""
        if self.latent_steps == 0:
            return self.generator.sample(n, energy, generator, labels)
        labels = checked_labels(self.spec, labels, n)
        z = latent_langevin(
            self.generator.draw_latent(n, generator),
            self.generator,
            energy,
            generator,
            steps=self.latent_steps,
            step_size=self.latent_step_size,
            prior=self.generator.noise,
            labels=labels,
        )
        return self.generator(z, labels)

    def _refine(
        self,
        raw: Tensor,
        energy: EnergyFunction,
        generator: torch.Generator,
        labels: Tensor | None,
    ) -> Tensor:
        refined = self.chain.refine(raw, energy, generator, labels)
        if self.chain.steps:
            with torch.no_grad():
                self._energy_refined = energy.evaluate(refined, labels).energy.mean()
        else:
            self._energy_refined = None
        return refined

    def metrics(self) -> dict[str, Tensor | float]:
        metrics = self.chain.metrics()
        start = getattr(self.chain, "start_energy", None)
        if start is not None and self._energy_refined is not None:
            metrics["energy_raw"] = start.mean()
            metrics["energy_refined"] = self._energy_refined
        return metrics

    @property
    def langevin(self) -> LangevinSampler:
        """The Langevin refinement (``kernel`` = langevin only)."""
        if not isinstance(self.chain, LangevinSampler):
            raise TypeError(f"this sampler refines with kernel {self.kernel!r}, not langevin")
        return self.chain
