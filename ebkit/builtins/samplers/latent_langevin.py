"""Langevin dynamics in a generator's latent space: discriminator-driven latent sampling.

Che et al. (2020, §3, "DDLS") read a GAN as an energy-based model: with a discriminator of
logit d(x) = −E(x), the density p_g(x)·exp(−E(x)) is the data's when the discriminator is
optimal, however imperfect the generator is. Sampling it in data space would need p_g,
which a generator does not have; in latent space it is the Boltzmann density of

    U(z) = −log p₀(z) + E(G(z))

with p₀ the prior of z, and G(z) for z ~ exp(−U) is distributed as p_g·exp(−E). Langevin
dynamics samples exp(−U) as the step ε → 0:

    z ← z − ε·∇U(z) + √(2ε)·ξ,   ξ ~ N(0, I),

at temperature 1 (not the clipped, low-temperature steps of data-space refinement): the
point is to reweight G's samples by exp(−E), keeping their spread, not to settle them at
the energy's minima.

For a N(0, I) prior, −log p₀(z) = ½‖z‖² (up to a constant). For the uniform prior on
[−1, 1]^d, −log p₀ is constant inside the box; the chain is then projected back into the
box after each step (projected Langevin dynamics, Bubeck et al. 2018).

With energies that are not a discriminator's logit (an auto-encoder's reconstruction
error), exp(−E) is a tilt of G's distribution at temperature 1, not a correction with a
guarantee.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ebkit.core.chains import frozen
from ebkit.core.interfaces import EnergyFunction

__all__ = ["check_latent_chain", "latent_energy", "latent_langevin"]


def latent_energy(
    z: Tensor,
    generator: torch.nn.Module,
    energy: EnergyFunction,
    labels: Tensor | None,
    prior: str,
) -> Tensor:
    """U(z) = −log p₀(z) + E(G(z)) per sample, ``(n,)``: ½‖z‖² for ``prior="normal"``,
    0 for ``"uniform"`` (inside the box), plus the energy of G(z) (or of G(z, y) under
    E(x | y) for ``labels: (n,)``)."""
    value = energy.evaluate(generator(z, labels), labels).energy
    if prior == "normal":
        value = value + 0.5 * z.square().sum(1)
    return value


def check_latent_chain(steps: int, step_size: float) -> None:
    """Refuse a negative number of latent steps or a step size that is not positive
    (``ValueError`` naming both)."""
    if steps < 0 or not step_size > 0:
        raise ValueError(
            f"latent_steps {steps} and latent_step_size {step_size}: the steps must be "
            ">= 0 and the step size > 0"
        )


def latent_langevin(
    z: Tensor,
    generator: torch.nn.Module,
    energy: EnergyFunction,
    rng: torch.Generator,
    *,
    steps: int,
    step_size: float,
    prior: str,
    labels: Tensor | None = None,
) -> Tensor:
    """``steps`` Langevin steps of size ``step_size`` on :func:`latent_energy` from
    ``z: (n, latent_dim)``; returns the final z, detached.

    Gradients are taken with respect to z only: the parameters of ``generator`` and
    ``energy`` are frozen during the chain (no gradient reaches them) and restored after;
    both stay in the train/eval mode the caller set. The noise ξ comes from ``rng`` on
    z's device. ``prior="uniform"`` clamps z into [−1, 1] after each step.
    """
    check_latent_chain(steps, step_size)
    noise_scale = math.sqrt(2 * step_size)
    z = z.detach()
    with frozen(generator), frozen(energy), torch.enable_grad():
        for _ in range(steps):
            z.requires_grad_(True)
            total = latent_energy(z, generator, energy, labels, prior).sum()
            (gradient,) = torch.autograd.grad(total, z)
            noise = torch.randn(z.shape, generator=rng, device=z.device, dtype=z.dtype)
            z = (z.detach() - step_size * gradient + noise_scale * noise).detach()
            if prior == "uniform":
                z = z.clamp_(-1.0, 1.0)
    return z
