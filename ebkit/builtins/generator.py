"""The ``generator`` sampler: a trained MLP generator G(z), z ~ N(0, I), as in EBGAN.

Architecture from the EBGAN paper's MNIST grid (App. C; SPEC §2): ``n_layers`` Linear
layers (nLayerG), hidden width ``width`` (sizeG), BatchNorm after every weight layer
except the output, ReLU, tanh on the output; weights N(0, 0.02), biases 0. The tanh
range [-1, 1] is then mapped affinely onto the data range ``[spec.low, spec.high]``
(the paper's data is already in [-1, 1], where the map is the identity), so the same
generator serves images and the 2-D toys whose range is wider.
"""

from __future__ import annotations

import itertools

import torch
from torch import Tensor, nn

from ebkit.interfaces import ContrastiveSampler, DataSpec, EnergyFunction

__all__ = ["GeneratorSampler"]

_INIT_STD = 0.02


class GeneratorSampler(ContrastiveSampler):
    """G: ``z: (n, latent_dim) -> x: (n, *spec.event_shape)`` in ``[spec.low, spec.high]``.

    Trainable: :meth:`sample` returns samples that keep their graph to G's parameters
    (the engine detaches them for the energy's update and trains G through
    ``LossFunctional.sampler_loss``).

    With ``batchnorm=True`` (the paper's setting), G in training mode normalises over
    the batch, so it needs ``n >= 2``; in ``eval()`` mode it uses running statistics.
    """

    trainable = True

    def __init__(
        self,
        spec: DataSpec,
        *,
        latent_dim: int = 100,
        n_layers: int = 3,
        width: int = 512,
        batchnorm: bool = True,
    ) -> None:
        super().__init__(spec)
        for option, value in (("latent_dim", latent_dim), ("n_layers", n_layers), ("width", width)):
            if value < 1:
                raise ValueError(f"{option} must be >= 1, not {value}")
        if not spec.high > spec.low:
            raise ValueError(f"the data range [{spec.low}, {spec.high}] is empty")
        self.latent_dim = latent_dim

        layers: list[nn.Module] = []
        sizes = [latent_dim] + [width] * (n_layers - 1) + [spec.dim]
        for index, (size_in, size_out) in enumerate(itertools.pairwise(sizes)):
            layers.append(nn.Linear(size_in, size_out))
            if index < n_layers - 1:
                if batchnorm:
                    layers.append(nn.BatchNorm1d(size_out))
                layers.append(nn.ReLU())
        layers.append(nn.Tanh())
        self.net = nn.Sequential(*layers)
        self._reset_parameters()

    def _reset_parameters(self) -> None:
        # Uses the default RNG, which the engine seeds before building components.
        # BatchNorm keeps its own init (γ = 1, β = 0): the paper only fixes weight layers.
        for module in self.net.modules():
            if isinstance(module, nn.Linear):
                nn.init.normal_(module.weight, mean=0.0, std=_INIT_STD)
                nn.init.zeros_(module.bias)

    def forward(self, z: Tensor) -> Tensor:
        """``z: (n, latent_dim) -> (n, *event_shape)`` in ``[spec.low, spec.high]``."""
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"z has shape {tuple(z.shape)}, expected (n, {self.latent_dim})")
        unit = self.net(z)
        low, high = self.spec.low, self.spec.high
        x = low + (unit + 1) * (0.5 * (high - low))
        return x.reshape(z.shape[0], *self.spec.event_shape)

    def generate(self, z: Tensor) -> Tensor:
        """G(z) for a given ``z: (n, latent_dim)`` (fixed noise for sample grids):
        ``(n, *event_shape)``, with its graph."""
        return self(z)

    def sample(self, n: int, energy: EnergyFunction, generator: torch.Generator) -> Tensor:
        """Draw z ~ N(0, I), ``(n, latent_dim)``, from ``generator`` on the parameters'
        device and return G(z), ``(n, *event_shape)``, with its graph. ``energy`` is not
        used: a generator proposes samples without reading the energy."""
        parameter = next(self.parameters())
        z = torch.randn(
            n, self.latent_dim, generator=generator, device=parameter.device, dtype=parameter.dtype
        )
        return self(z)
