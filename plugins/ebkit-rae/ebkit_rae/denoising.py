"""The denoising auto-encoder energy: the expected error of reconstructing x from x + σ·ε."""

from __future__ import annotations

import torch
from torch import Tensor

from ebkit import DataSpec, EnergyOutput
from ebkit_rae.energies import EVAL_NOISE_SEED, RegularisedAutoEncoderEnergy
from ebkit_rae.penalties import denoising_error

AUTO_NOISE_FRACTION = 0.1
"""σ when ``noise_std`` is not set: this fraction of the data's half-range (high − low)/2,
0.1 on [−1, 1] images and 0.23 on the ring of 8 Gaussians (radius 2, modes 1.5 apart)."""


class DenoisingAutoEncoderEnergy(RegularisedAutoEncoderEnergy):
    """The denoising auto-encoder (Vincent et al. 2008, §2.3), its cost as the energy::

        E(x) = E_ε (1/d)·‖r(x + σ·ε) − x‖²,   ε ~ N(0, I)      (mse; l2: the norm)

    (:func:`~ebkit_rae.penalties.denoising_error`). In training mode each call estimates it
    with one draw of ε per sample, from the generator :class:`~ebkit_rae.energies.AutoEncoderStep`
    hands it (the trainer's), else torch's global RNG; in evaluation mode with ``eval_draws``
    fixed draws (seeded with :data:`~ebkit_rae.energies.EVAL_NOISE_SEED` at every call),
    so a point's energy is deterministic. The clean reconstruction error alone would be low
    at the density's minima too (there r(x) = x as well, Alain & Bengio 2014, §3.2); the
    expected error is not, because r pulls x + σ·ε away from them.

    ``features`` and ``reconstruction`` are those of the corrupted input (averaged over the
    draws in evaluation mode); ``residual`` = reconstruction − x. There is no penalty term:
    the noise is the regulariser.
    """

    def __init__(
        self,
        spec: DataSpec,
        *,
        width: int = 128,
        depth: int = 2,
        code: int = 64,
        activation: str = "tanh",
        distance: str = "mse",
        noise_std: float | None = None,
        eval_draws: int = 16,
    ) -> None:
        super().__init__(
            spec, width=width, depth=depth, code=code, activation=activation, distance=distance
        )
        if noise_std is None:
            noise_std = AUTO_NOISE_FRACTION * (spec.high - spec.low) / 2
        if not (noise_std > 0 and noise_std < float("inf")):
            raise ValueError(f"noise_std must be a finite number > 0, not {noise_std!r}")
        if eval_draws < 1:
            raise ValueError(f"eval_draws must be at least 1, not {eval_draws}")
        self.noise_std = float(noise_std)
        self.eval_draws = int(eval_draws)

    def forward(self, x: Tensor) -> EnergyOutput:
        if tuple(x.shape[1:]) != tuple(self.spec.event_shape):
            raise ValueError(
                f"expected samples of shape {tuple(self.spec.event_shape)}, "
                f"got a batch of shape {tuple(x.shape)}"
            )
        batch = x.shape[0]
        flat = x.reshape(batch, -1)
        draws = 1 if self.training else self.eval_draws
        clean = flat.expand(draws, *flat.shape)  # (draws, B, d)
        corrupted = clean + self.noise_std * self._noise(clean)
        code, reconstruction = self.network(corrupted.reshape(draws * batch, -1))
        energy = denoising_error(reconstruction, clean.reshape(draws * batch, -1), self.distance)
        code, reconstruction = (
            code.reshape(draws, batch, -1).mean(0),
            reconstruction.reshape(draws, batch, -1).mean(0),
        )
        return EnergyOutput(
            energy=energy.reshape(draws, batch).mean(0),
            features=code,
            reconstruction=reconstruction.reshape(x.shape),
            residual=(reconstruction - flat).reshape(x.shape),
        )

    def _noise(self, like: Tensor) -> Tensor:
        """ε for ``like: (draws, B, d)``: one draw per sample in training mode; in
        evaluation mode the same ``draws`` fixed vectors for every sample, so a point's
        energy depends neither on its batch nor on its place in it (smooth landscapes)."""
        draws, _, dim = like.shape
        options = {"dtype": like.dtype, "device": like.device}
        if not self.training:
            generator = torch.Generator(like.device).manual_seed(EVAL_NOISE_SEED)
            return torch.randn((draws, 1, dim), generator=generator, **options).expand_as(like)
        generator = None if self.generator_source is None else self.generator_source()
        if generator is not None and generator.device.type != like.device.type:
            generator = None  # a trainer on another device: fall back to the global RNG
        return torch.randn(like.shape, generator=generator, **options)

    def extra_repr(self) -> str:
        return (
            f"distance={self.distance!r}, noise_std={self.noise_std:g}, "
            f"eval_draws={self.eval_draws}"
        )
