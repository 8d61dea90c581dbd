"""The ``none`` loss: the data's mean energy, with no contrastive term.

Only sound for energies that cannot collapse when minimised on the data alone (a
denoising cost, such as the Ladder network's); trained with ``--sampler none --loss none``
(the Ladder baseline of EBGAN-LN, Zhao et al. 2017 §4.2), where the ``none`` sampler is
:class:`ebkit.builtins.samplers.none.NoSampler`.
"""

from __future__ import annotations

from typing import ClassVar

from torch import Tensor

from ebkit.core.interfaces import EnergyOutput, LossFunctional, LossOutput

__all__ = ["DataEnergyLoss", "data_energy_loss"]


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
