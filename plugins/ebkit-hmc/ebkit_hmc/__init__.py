"""ebkit plugin registering ``hmc``, a Hamiltonian Monte Carlo sampler (Neal 2011) that is
also a chain kernel for ``replay`` and ``generator-langevin`` (``-o sampler.kernel=hmc``).

This module is imported to list components and build ``ebkit --help``, so it must not
import torch; the sampler lives in :mod:`ebkit_hmc.sampler`.
"""

from __future__ import annotations

from ebkit import Component, Option, hookimpl

EBKIT_HOOK_VERSION = 1
"""The version of ebkit's plugin hooks this module implements (see ebkit.HOOK_VERSION)."""


@hookimpl
def ebkit_samplers() -> list[Component]:
    return [
        Component(
            name="hmc",
            summary="Hamiltonian Monte Carlo on exp(−E/T) (Neal 2011): leapfrog steps, "
            "Metropolis correction, step size adapted towards a target acceptance; a chain "
            "kernel for replay and generator-langevin (kernel=hmc)",
            factory="ebkit_hmc.sampler:HMCSampler",
            options=(
                Option(
                    "init",
                    str,
                    "uniform",
                    "start of the chains: uniform in the data range [low, high], or gaussian "
                    "with mean (low + high)/2 and standard deviation (high − low)/4",
                    choices=("uniform", "gaussian"),
                ),
                Option("steps", int, 15, "HMC transitions per call (0: none)", minimum=0),
                Option(
                    "leapfrog_steps",
                    int,
                    4,
                    "L, leapfrog steps per transition (one energy gradient each)",
                    minimum=1,
                ),
                Option(
                    "step_size",
                    float,
                    0.005,
                    "ε, the leapfrog step (> 0); with adapt, the first one",
                    minimum=0.0,
                    minimum_inclusive=False,
                ),
                Option(
                    "mass",
                    float,
                    1.0,
                    "m, the scalar mass: momentum p ~ N(0, m·I), kinetic energy ‖p‖²/(2m)",
                    minimum=0.0,
                    minimum_inclusive=False,
                ),
                Option(
                    "temperature",
                    float,
                    None,
                    "T of the target exp(−E/T) (> 0); auto = the langevin sampler's "
                    "default temperature for the data: 0.0025 on vectors, 1.25e-6 on images",
                    minimum=0.0,
                    minimum_inclusive=False,
                ),
                Option(
                    "clamp",
                    bool,
                    True,
                    "reject proposals that leave the data range [low, high] (exact for the "
                    "target restricted to it)",
                ),
                Option(
                    "adapt",
                    bool,
                    True,
                    "adapt ε by dual averaging towards target_acceptance while training "
                    "(Hoffman & Gelman 2014); ε stays fixed in eval mode and when off",
                ),
                Option(
                    "target_acceptance",
                    float,
                    0.65,
                    "δ, the mean acceptance probability the adaptation aims at, in (0, 1)",
                    minimum=0.0,
                    maximum=1.0,
                    minimum_inclusive=False,
                    maximum_inclusive=False,
                ),
            ),
        )
    ]
