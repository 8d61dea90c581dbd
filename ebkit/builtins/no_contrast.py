"""Training without contrastive samples: the ``none`` sampler and the ``none`` loss.

Some energies cannot collapse when their value is simply minimised on the data: a
denoising cost (the Ladder network's) is low only where the network reconstructs, and
a supervised term anchors it further. Such a model is trained with
``--sampler none --loss none`` (the Ladder baseline of EBGAN-LN, Zhao et al. 2017 §4.2).
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor

from ebkit.core.interfaces import (
    ContrastiveSampler,
    EnergyFunction,
    EnergyOutput,
    LossFunctional,
    LossOutput,
)


class NoSampler(ContrastiveSampler):
    """No contrastive samples: the engine never calls :meth:`sample` of this sampler."""

    draws_samples: ClassVar[bool] = False
    accepts_labels: ClassVar[bool] = True  # it draws nothing, so conditioning asks nothing of it

    def sample(self, n: int, energy: EnergyFunction, generator: torch.Generator) -> Tensor:
        raise RuntimeError("the none sampler draws no samples (pair it with --loss none)")


def data_energy_loss(real: Tensor) -> Tensor:
    """L = mean_b E(x_b): the energy of the data alone. ``real: (B,) -> ()``."""
    return real.mean()


class DataEnergyLoss(LossFunctional):
    """The data's mean energy, with no contrastive term (:func:`data_energy_loss`).

    Only sound for energies that cannot collapse (see the module docstring); used with
    the ``none`` sampler, and ``fake`` is always ``None``.
    """

    needs_contrastive: ClassVar[bool] = False

    def energy_loss(self, real: EnergyOutput, fake: EnergyOutput | None) -> LossOutput:
        loss = data_energy_loss(real.energy)
        return LossOutput(loss, {"loss_energy": loss.detach()})
