"""The ``hinge`` loss: the hinge GAN loss written for energies (D's logit is −E)."""

from __future__ import annotations

import torch
from ebkit import DataSpec, EnergyOutput, LossFunctional, LossOutput
from torch import Tensor


def hinge_energy_loss(real_energy: Tensor, fake_energy: Tensor, margin: float = 1.0) -> Tensor:
    """L_E = mean_b [m + E(x⁺_b)]⁺ + mean_b [m − E(x⁻_b)]⁺,  [·]⁺ = max(0, ·).

    The hinge loss of Lim & Ye (2017) and Miyato et al. (2018) with the discriminator's
    logit D(x) = −E(x): data is pushed to E ≤ −m, contrastive samples to E ≥ m, and
    neither term has a gradient once it is satisfied.
    ``real_energy: (B,)``, ``fake_energy: (B',)`` -> a scalar.
    """
    return torch.relu(margin + real_energy).mean() + torch.relu(margin - fake_energy).mean()


def hinge_sampler_loss(fake_energy: Tensor) -> Tensor:
    """L_G = mean_b E(G(z_b)): the generator lowers the energy of its samples.
    ``fake_energy: (B,)`` -> a scalar."""
    return fake_energy.mean()


class HingeLoss(LossFunctional):
    """:func:`hinge_energy_loss` for the energy, :func:`hinge_sampler_loss` for a
    trainable sampler. Stateless: ``update_state`` keeps the default (no metrics)."""

    def __init__(self, spec: DataSpec, *, margin: float = 1.0) -> None:
        super().__init__(spec)
        if not margin >= 0:
            raise ValueError(f"margin must be a non-negative number, not {margin!r}")
        self.margin = float(margin)

    def energy_loss(self, real: EnergyOutput, fake: EnergyOutput) -> LossOutput:
        loss = hinge_energy_loss(real.energy, fake.energy, self.margin)
        with torch.no_grad():  # metrics stay tensors; the engine reads them when it logs
            metrics: dict[str, Tensor | float] = {
                "loss_energy": loss.detach(),
                "energy_real": real.energy.mean(),
                "energy_fake": fake.energy.mean(),
            }
        return LossOutput(loss, metrics)

    def sampler_loss(self, fake: EnergyOutput) -> LossOutput:
        loss = hinge_sampler_loss(fake.energy)
        return LossOutput(loss, {"loss_sampler": loss.detach()})

    def extra_repr(self) -> str:
        return f"margin={self.margin:g}"
