"""The ``none`` sampler: no contrastive samples, for training on the data alone.

Some energies cannot collapse when their value is simply minimised on the data: a
denoising cost (the Ladder network's) is low only where the network reconstructs, and
a supervised term anchors it further. Such a model is trained with
``--sampler none --loss none`` (the Ladder baseline of EBGAN-LN, Zhao et al. 2017 §4.2);
the ``none`` loss is :class:`ebkit.builtins.losses.none.DataEnergyLoss`.
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor

from ebkit.core.interfaces import ContrastiveSampler, EnergyFunction

__all__ = ["NoSampler"]


class NoSampler(ContrastiveSampler):
    """No contrastive samples: the engine never calls :meth:`sample` of this sampler."""

    draws_samples: ClassVar[bool] = False
    accepts_labels: ClassVar[bool] = True  # it draws nothing, so conditioning asks nothing of it

    def sample(self, n: int, energy: EnergyFunction, generator: torch.Generator) -> Tensor:
        raise RuntimeError("the none sampler draws no samples (pair it with --loss none)")
