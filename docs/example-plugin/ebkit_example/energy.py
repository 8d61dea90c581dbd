"""The ``quadratic-mlp`` energy: a small MLP plus a quadratic confinement term."""

from __future__ import annotations

from ebkit import DataSpec, EnergyFunction, EnergyOutput
from torch import Tensor, nn


class QuadraticMLPEnergy(EnergyFunction):
    """E(x) = MLP(x) + ½·α·‖x‖², one scalar per sample.

    ``x: (B, *event_shape) -> EnergyOutput`` with ``energy: (B,)``; no other field, so
    ``provides`` stays empty. The MLP reads the flattened sample:
    Linear(d, width) -> SiLU -> Linear(width, width) -> SiLU -> Linear(width, 1).
    It grows at most linearly in ‖x‖, so for α > 0 the quadratic dominates far from the
    origin and exp(−E) is normalisable.
    """

    def __init__(self, spec: DataSpec, *, width: int = 64, alpha: float = 0.1) -> None:
        super().__init__(spec)
        if width < 1:
            raise ValueError(f"width must be at least 1, not {width}")
        if not alpha >= 0:
            raise ValueError(f"alpha must be a non-negative number, not {alpha!r}")
        self.alpha = float(alpha)
        self.mlp = nn.Sequential(
            nn.Linear(spec.dim, width),
            nn.SiLU(),
            nn.Linear(width, width),
            nn.SiLU(),
            nn.Linear(width, 1),
        )

    def forward(self, x: Tensor) -> EnergyOutput:
        flat = x.reshape(x.shape[0], -1)
        quadratic = 0.5 * self.alpha * flat.square().sum(dim=1)
        return EnergyOutput(energy=self.mlp(flat).squeeze(1) + quadratic)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha:g}"
