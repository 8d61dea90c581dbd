"""The R1 gradient penalty of the ``gan`` loss: a zero-centred penalty on the
discriminator's gradient at the data (Mescheder, Geiger & Nowozin 2018, "Which training
methods for GANs do actually converge?", eq. 9)::

    R1 = γ/2 · E_{x ~ data} ‖∇_x D(x)‖²

D is the discriminator's logit, here −E(x), so ‖∇_x D‖ = ‖∇_x E‖. Without it the
discriminator keeps a non-zero slope on the data at the equilibrium and the generator
oscillates around it (the paper's Dirac-GAN, §2); with it, the alternating updates
converge locally. On a mixture of narrow modes the oscillation moves the generator's
mass from mode to mode, and a mode it leaves late in training stays empty.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import Tensor

from ebkit.core.extensions import StepExtension
from ebkit.core.interfaces import DataSpec, EnergyFunction, EnergyOutput, LossOutput

if TYPE_CHECKING:
    from ebkit.core.engine import Trainer

__all__ = ["R1Penalty", "r1_penalty"]


def r1_penalty(
    energy: EnergyFunction, x: Tensor, labels: Tensor | None = None, *, gamma: float
) -> Tensor:
    """γ/2 · mean over the batch of ‖∇_x E(x)‖², differentiable in the energy's
    parameters (the gradient is taken with ``create_graph``).

    ``x: (B, *event_shape)`` -> a scalar.
    """
    x = x.detach().requires_grad_(True)
    # Eagerly, even in a run with --compile: a graph compiled by torch.compile cannot be
    # differentiated twice (create_graph), and the penalty needs the second derivative.
    with torch.compiler.set_stance("force_eager"):
        output = energy(x) if labels is None else energy(x, labels)
    values = output.in_full_precision().energy
    (gradient,) = torch.autograd.grad(values.sum(), x, create_graph=True)
    return 0.5 * gamma * gradient.flatten(1).pow(2).sum(dim=1).mean()


class R1Penalty(StepExtension):
    """Adds :func:`r1_penalty` on the step's data batch to the energy's loss (the
    ``r1`` option of the ``gan``, ``margin`` and ``began`` losses brings it). Metric:
    ``penalty_r1`` (weighted)."""

    name = "r1-penalty"

    def __init__(self, gamma: float) -> None:
        if not gamma > 0:
            raise ValueError(f"the R1 weight must be positive, not {gamma!r}")
        self.gamma = float(gamma)

    @staticmethod
    def weight_of(option: float | None, spec: DataSpec, *, on_vectors: float) -> float:
        """A loss's ``r1`` option as the weight γ: ``None`` (auto) is ``on_vectors`` on
        vector data and 0 (no penalty) on images; a negative number or NaN is a
        ``ValueError``."""
        if option is None:
            option = 0.0 if spec.is_image else on_vectors
        if not option >= 0:
            raise ValueError(f"r1 must be a non-negative number (0: none), not {option!r}")
        return float(option)

    @classmethod
    def extensions(cls, gamma: float) -> list[StepExtension]:
        """What a loss's ``step_extensions()`` returns for the weight γ: the penalty, or
        nothing when γ is 0."""
        return [cls(gamma)] if gamma > 0 else []

    def energy_terms(
        self, trainer: Trainer, real: EnergyOutput, fake: EnergyOutput | None
    ) -> LossOutput:
        assert trainer.batch is not None  # the step sets its data batch first
        labels = trainer.batch.y if trainer.conditional else None
        # Under the run's autocast, as the step's other forward passes (the energy's
        # output, and so the penalty, comes back in float32).
        with trainer.precision.autocast():
            penalty = r1_penalty(
                trainer.components.energy, trainer.batch.x, labels, gamma=self.gamma
            )
        return LossOutput(penalty, {"penalty_r1": penalty.detach()})
