"""Energies with known gradients and seeded generators, shared by the samplers' tests."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ebkit import DataSpec, EnergyFunction, EnergyOutput
from ebkit.nets import checked_labels

TOY = DataSpec((2,), -4.0, 4.0)
"""2-D points in [−4, 4]²."""


def seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


class Quadratic(EnergyFunction):
    """E(x) = ½·scale·‖x − centre‖², so ∇ₓE(x) = scale·(x − centre)."""

    def __init__(self, spec: DataSpec = TOY, centre: float = 0.0, scale: float = 1.0) -> None:
        super().__init__(spec)
        self.scale = torch.nn.Parameter(torch.tensor(scale))
        self.centre = centre
        self.seen_requires_grad: list[bool] = []

    def forward(self, x: torch.Tensor) -> EnergyOutput:
        self.seen_requires_grad.append(self.scale.requires_grad)
        return EnergyOutput(0.5 * self.scale * (x - self.centre).flatten(1).square().sum(1))


CONDITIONAL_TOY = DataSpec((2,), -4.0, 4.0, num_classes=3, conditional=True)
MEANS = torch.tensor([[-2.0, 1.0], [0.0, -2.0], [2.0, 2.0]])
"""μ_y of the three classes of CONDITIONAL_TOY."""


class ClassMeans(EnergyFunction):
    """E(x | y) = ½‖x − μ_y‖², so ∇ₓE(x | y) = x − μ_y; records the labels of every call.

    μ_y are the rows of :data:`MEANS` (for 2-D data) or zeros, trainable."""

    accepts_labels = True

    def __init__(self, spec: DataSpec = CONDITIONAL_TOY) -> None:
        super().__init__(spec)
        assert spec.num_classes is not None
        means = MEANS if spec.dim == 2 else torch.zeros(spec.num_classes, spec.dim)
        self.means = nn.Parameter(means[: spec.num_classes].clone())
        self.calls: list[Tensor | None] = []

    def forward(self, x: Tensor, labels: Tensor | None = None) -> EnergyOutput:
        self.calls.append(labels)
        labels = checked_labels(self.spec, labels, x.shape[0])
        centres = self.means[labels].view_as(x)
        return EnergyOutput(0.5 * (x - centres).flatten(1).square().sum(1))


def energy_by_hand(x: Tensor, labels: Tensor) -> Tensor:
    return 0.5 * (x - MEANS[labels]).square().sum(1)
