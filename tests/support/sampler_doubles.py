"""Energies with known gradients and seeded generators, shared by the samplers' tests."""

from __future__ import annotations

import torch

from ebkit import DataSpec, EnergyFunction, EnergyOutput

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
