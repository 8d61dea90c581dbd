"""Langevin dynamics as plain tensor functions: one step, MALA's acceptance, annealing
schedules, and the small helpers every chain of the Langevin samplers shares (those any
chain sampler needs, plugins' too, are public in :mod:`ebkit.core.chains`).

:class:`~ebkit.builtins.samplers.langevin.LangevinSampler` adds the options, the chain
loop and its diagnostics around these; ``replay`` and ``generator-langevin`` reuse it.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = [
    "ANNEAL_SCHEDULES",
    "DIAGNOSTIC_STEPS",
    "anneal_factors",
    "diagnostic_steps",
    "gaussian_noise",
    "langevin_step",
    "mala_log_acceptance",
    "per_sample_norm",
]

ANNEAL_SCHEDULES = ("none", "linear", "geometric")

DIAGNOSTIC_STEPS = 5
"""How many steps of an unadjusted chain its diagnostics observe (see :class:`LangevinSampler`)."""


def diagnostic_steps(steps: int) -> frozenset[int]:
    """The 0-based steps, at most :data:`DIAGNOSTIC_STEPS` of them evenly spread from the
    first to the last, whose gradient norm and step distance the diagnostics record."""
    if steps <= DIAGNOSTIC_STEPS:
        return frozenset(range(steps))
    last = steps - 1
    return frozenset(round(i * last / (DIAGNOSTIC_STEPS - 1)) for i in range(DIAGNOSTIC_STEPS))


def langevin_step(
    x: Tensor,
    grad: Tensor,
    noise: Tensor | None,
    *,
    step_size: float,
    grad_clip: float = 0.0,
    low: float | None = None,
    high: float | None = None,
) -> Tensor:
    """One unadjusted Langevin step, x' = clip(x − η·clip(∇ₓE(x), ±c) + σ·ξ, [lo, hi]).

    ``x``, ``grad`` = ∇ₓE(x) and ``noise`` = σ·ξ (already scaled; ``None`` for σ = 0) are
    ``(B, *event_shape)``; returns x' of the same shape. ``grad_clip`` c = 0 leaves the
    gradient as it is; ``low``/``high`` ``None`` leaves x' unclamped.
    """
    drift = grad.clamp(-grad_clip, grad_clip) if grad_clip > 0 else grad
    moved = torch.add(x, drift, alpha=-step_size)
    if noise is not None:
        moved = moved.add_(noise)
    if low is not None and high is not None:
        moved = moved.clamp_(low, high)
    return moved


def mala_log_acceptance(
    x: Tensor,
    proposal: Tensor,
    energy_x: Tensor,
    energy_proposal: Tensor,
    drift_x: Tensor,
    drift_proposal: Tensor,
    *,
    step_size: float,
    noise_std: float,
) -> Tensor:
    """Log Metropolis–Hastings acceptance of a Langevin proposal y from x (MALA).

    With the proposal density q(b | a) = N(b; a − η·d(a), σ²I), the drift d the
    (possibly clipped) gradient, and the target exp(−E/T) at T = σ²/(2η)::

        log α = −(E(y) − E(x))/T + log q(x | y) − log q(y | x)
              = −(E(y) − E(x))·2η/σ² − (‖x − y + η·d(y)‖² − ‖y − x + η·d(x)‖²)/(2σ²)

    ``x``, ``proposal`` y and the drifts are ``(B, *event_shape)``; the energies are
    ``(B,)``; returns ``(B,)`` (not capped at 0: compare log u < log α). Clipping the
    drift keeps the correction exact, since the same clipped drift defines q both ways.
    """
    inverse_variance = 1.0 / (noise_std * noise_std)
    forward = (proposal - x + step_size * drift_x).flatten(1).square().sum(1)
    backward = (x - proposal + step_size * drift_proposal).flatten(1).square().sum(1)
    log_target = (energy_x - energy_proposal) * (2.0 * step_size * inverse_variance)
    return log_target - 0.5 * inverse_variance * (backward - forward)


def anneal_factors(schedule: str, final: float, steps: int) -> list[float]:
    """The factor of each of ``steps`` steps: 1 at the first, ``final`` at the last.

    ``linear``: 1 + (f − 1)·k/(K − 1); ``geometric``: f^(k/(K − 1)); ``none``: 1.
    """
    if schedule not in ANNEAL_SCHEDULES:
        raise ValueError(f"anneal must be one of {', '.join(ANNEAL_SCHEDULES)}, not {schedule!r}")
    last = max(steps - 1, 1)
    if schedule == "linear":
        return [1.0 + (final - 1.0) * k / last for k in range(steps)]
    if schedule == "geometric":
        return [final ** (k / last) for k in range(steps)]
    return [1.0] * steps


def gaussian_noise(like: Tensor, std: float, generator: torch.Generator) -> Tensor:
    """σ·ξ, ξ ~ N(0, I), shaped like ``like``: one call, no separate scaling."""
    return torch.normal(
        0.0, std, like.shape, generator=generator, device=like.device, dtype=like.dtype
    )


def per_sample_norm(x: Tensor) -> Tensor:
    """``x: (B, *event_shape) -> (B,)``: the Euclidean norm of each sample."""
    return torch.linalg.vector_norm(x.flatten(1), dim=1)
