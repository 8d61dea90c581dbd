"""Hamiltonian Monte Carlo as plain tensor functions (Neal 2011, "MCMC using Hamiltonian
dynamics", in the Handbook of Markov Chain Monte Carlo).

The target is π(x) ∝ exp(−E(x)/T) at temperature T, so the potential energy is
U(x) = E(x)/T. A momentum p ~ N(0, m·I) of scalar mass m gives the kinetic energy
K(p) = ‖p‖²/(2m) and the Hamiltonian H(x, p) = U(x) + K(p) (Neal 2011, §2.1 and §3.1).
:func:`leapfrog` integrates Hamilton's equations (§2.3.3), :func:`log_acceptance` is
the Metropolis correction of the end point (§3.2), and :func:`dual_averaging_step` adapts
the step size towards a target acceptance (Hoffman & Gelman 2014, §3.2).

Everything here works on batches of chains: ``x`` and ``p`` are ``(B, *event_shape)``,
energies and Hamiltonians are ``(B,)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

__all__ = [
    "DUAL_AVERAGING_GAMMA",
    "DUAL_AVERAGING_T0",
    "dual_averaging_step",
    "hamiltonian",
    "kinetic_energy",
    "leapfrog",
    "log_acceptance",
]

DUAL_AVERAGING_GAMMA = 0.05
"""γ, how strongly the step size is pulled towards its shrinkage point (Hoffman & Gelman
2014, §3.2, their recommended value)."""

DUAL_AVERAGING_T0 = 10.0
"""t₀, which damps the first iterations of the adaptation (Hoffman & Gelman 2014, §3.2)."""


def kinetic_energy(p: Tensor, mass: float) -> Tensor:
    """K(p) = ‖p‖²/(2m) per chain: ``(B, *event_shape) -> (B,)``."""
    return p.flatten(1).square().sum(1) / (2.0 * mass)


def hamiltonian(potential: Tensor, p: Tensor, mass: float) -> Tensor:
    """H(x, p) = U(x) + K(p) per chain, from U(x): ``(B,)`` and p: ``(B, *event_shape)``."""
    return potential + kinetic_energy(p, mass)


def leapfrog(
    x: Tensor,
    p: Tensor,
    grad: Tensor,
    potential_and_grad: Callable[[Tensor], tuple[Tensor, Tensor]],
    *,
    step_size: float | Tensor,
    steps: int,
    mass: float,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """``steps`` leapfrog steps of size ε from (x, p), Neal 2011 §2.3.3:

        p ← p − (ε/2)·∇U(x);   x ← x + ε·p/m;   p ← p − (ε/2)·∇U(x)

    with the two half steps of momentum between full steps merged into one full step.
    ``grad`` is ∇U(x) at the start (the caller keeps it from the previous transition);
    ``potential_and_grad(x) -> (U(x): (B,), ∇U(x))``. Returns ``(x', p', U(x'), ∇U(x'))``
    after ``steps`` ≥ 1 steps, one call of ``potential_and_grad`` per step. The map
    (x, p) ↦ (x', p') preserves volume and is reversible: negating p' and integrating
    again returns (x, −p) (Neal 2011, §2.3.3), which makes the Metropolis correction of
    :func:`log_acceptance` exact.
    """
    if steps < 1:
        raise ValueError(f"leapfrog needs at least one step, not {steps}")
    p = p - 0.5 * step_size * grad
    for _ in range(steps - 1):
        x = x + step_size * p / mass
        _, grad = potential_and_grad(x)
        p = p - step_size * grad
    x = x + step_size * p / mass
    potential, grad = potential_and_grad(x)
    return x, p - 0.5 * step_size * grad, potential, grad


def log_acceptance(start_hamiltonian: Tensor, end_hamiltonian: Tensor) -> Tensor:
    """log α = H(x, p) − H(x', p'), Neal 2011 §3.2: the proposal (x', p') is accepted with
    probability min(1, exp(log α)). Not capped at 0 (compare log u < log α); a non-finite
    end point (a diverging trajectory) gets −∞, so it is always rejected."""
    log_alpha = start_hamiltonian - end_hamiltonian
    return torch.where(torch.isfinite(log_alpha), log_alpha, torch.full_like(log_alpha, -math.inf))


def dual_averaging_step(
    error_mean: Tensor,
    iteration: int | Tensor,
    acceptance: Tensor,
    *,
    target: float,
    shrink_towards: float,
    gamma: float = DUAL_AVERAGING_GAMMA,
    t0: float = DUAL_AVERAGING_T0,
) -> tuple[Tensor, Tensor]:
    """One iteration m ≥ 1 of dual averaging on log ε (Hoffman & Gelman 2014, §3.2):

        H̄_m = (1 − 1/(m + t₀))·H̄_{m−1} + (δ − α_m)/(m + t₀)
        log ε_m = μ − (√m/γ)·H̄_m

    with δ the ``target`` acceptance, α_m the ``acceptance`` probability of iteration m
    (its mean over the chains), μ = ``shrink_towards`` (log of ten times the first step
    size, their choice) and H̄_0 = 0. Returns ``(H̄_m, log ε_m)``. Acceptance above the
    target lowers H̄ and so lengthens the step; below it shortens it. The iterate ε_m
    itself is used (not their average of the iterates, meant for a fixed target), so the
    step size keeps following an energy that changes during training.
    """
    weight = 1.0 / (iteration + t0)
    error_mean = (1.0 - weight) * error_mean + weight * (target - acceptance)
    log_step = shrink_towards - (iteration**0.5 / gamma) * error_mean
    return error_mean, log_step
