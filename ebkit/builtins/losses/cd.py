"""The ``cd`` loss: contrastive divergence with the energy-magnitude regulariser of IGEBM
(Du & Mordatch 2019, Algorithm 1)."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ebkit.core.interfaces import DataSpec, EnergyOutput, LossFunctional, LossOutput, energy_metrics

__all__ = ["CDLoss", "cd_energy_loss", "cd_sampler_loss", "energy_magnitude"]

DEFAULT_ALPHA = 0.1
"""α, the weight of the energy-magnitude regulariser (Du & Mordatch 2019, Algorithm 1)."""


def energy_magnitude(real_energy: Tensor, fake_energy: Tensor) -> Tensor:
    """The regulariser L_RG of IGEBM (Du & Mordatch 2019, Algorithm 1)::

        L_RG = 1/N Σ_i ( E(x⁺_i)² + E(x⁻_i)² ) = mean E(x⁺)² + mean E(x⁻)²

    a mean of squares per batch (not the square of the mean energy), each term averaged
    over its own batch so that the batches may differ in size. It keeps the energies
    near 0; CD alone fixes them only up to a constant.

    ``real_energy: (B,)``, ``fake_energy: (B',)`` -> a scalar.
    """
    return real_energy.square().mean() + fake_energy.square().mean()


def cd_energy_loss(
    real_energy: Tensor, fake_energy: Tensor, alpha: float = DEFAULT_ALPHA
) -> Tensor:
    """Contrastive divergence (Hinton 2002) with energy-magnitude regularisation, the loss
    of IGEBM (Du & Mordatch 2019, Algorithm 1)::

        L = mean E(x⁺) − mean E(x⁻) + α·(mean E(x⁺)² + mean E(x⁻)²)

    x⁺ are data, x⁻ the (detached) MCMC samples. Minimising it pushes the energy down on
    data and up on samples; the α term is :func:`energy_magnitude`.

    ``real_energy: (B,)``, ``fake_energy: (B',)`` -> a scalar.
    """
    divergence = real_energy.mean() - fake_energy.mean()
    return divergence + alpha * energy_magnitude(real_energy, fake_energy)


def cd_sampler_loss(fake_energy: Tensor) -> Tensor:
    """The loss of a trainable sampler paired with CD: the mean energy of its samples,
    ``L_G = mean E(G(z))``, so the sampler moves its samples to where the energy is low.

    ``fake_energy: (B,)`` -> a scalar.
    """
    return fake_energy.mean()


class CDLoss(LossFunctional):
    """Contrastive divergence (:func:`cd_energy_loss`) with α = ``alpha`` ≥ 0.

    CD itself trains no sampler: with MCMC samplers (``langevin``, ``replay``) only the
    energy learns. Paired with a trainable sampler (a ``generator``, or the generator of
    ``generator-langevin``) the sampler is trained to lower the energy of its samples,
    L_G = mean E(G(z)) (:func:`cd_sampler_loss`), as in the GAN+EBM hybrid's step "fit G
    as in the GAN training pipeline" with the energy as the critic.

    Metrics of ``energy_loss``: ``loss_energy`` (L), ``energy_real`` and
    ``energy_fake`` (batch means of E), ``energy_gap`` (fake − real) and
    ``energy_magnitude`` (the unweighted L_RG); ``sampler_loss`` adds ``loss_sampler``.
    All are detached tensors (no device sync per step).

    The loss keeps no state. A non-finite loss is never replaced by a number: the engine
    stops training with an error naming the step.
    """

    def __init__(self, spec: DataSpec, *, alpha: float = DEFAULT_ALPHA) -> None:
        super().__init__(spec)
        if not (math.isfinite(alpha) and alpha >= 0):
            raise ValueError(f"alpha must be a finite number >= 0, not {alpha!r}")
        self.alpha = float(alpha)

    def energy_loss(self, real: EnergyOutput, fake: EnergyOutput) -> LossOutput:
        loss = cd_energy_loss(real.energy, fake.energy, self.alpha)
        with torch.no_grad():
            metrics: dict[str, Tensor | float] = {
                "loss_energy": loss.detach(),
                **energy_metrics(real.energy, fake.energy),
                "energy_magnitude": energy_magnitude(real.energy, fake.energy),
            }
        return LossOutput(loss, metrics)

    def sampler_loss(self, fake: EnergyOutput) -> LossOutput:
        loss = cd_sampler_loss(fake.energy)
        return LossOutput(loss, {"loss_sampler": loss.detach()})

    def extra_repr(self) -> str:
        return f"alpha={self.alpha:g}"
