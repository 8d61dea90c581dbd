"""Noise-contrastive estimation (``nce``; Gutmann & Hyvärinen 2010) with a learnt
log-partition constant.

NCE fits an unnormalised model p_θ(u) = exp(−E(u) − c), c ≈ log Z learnt like any other
parameter, by logistic regression between the data and samples of a noise distribution q
whose density is known. With ν noise samples per data sample the classifier's logit is

    G(u) = log p_θ(u) − log q(u) − log ν = −E(u) − c − log q(u) − log ν

and the loss (the negative of Gutmann & Hyvärinen 2010, eq. 3, with the ratio ν of their
2012 JMLR paper, §2.3) is

    L = mean_x softplus(−G(x)) + ν · mean_y softplus(G(y)),   x ~ data, y ~ q.

Its minimum is at −E − c = log p_data, so the learnt c is the log-partition function.
``noise`` picks q: ``gaussian`` (a diagonal Gaussian with the mean and standard deviation
of the first training batch) or ``uniform`` (uniform on the data's range), drawn by the
loss's own step extension with ``--sampler none``; or ``sampler``, the run's contrastive
sampler, whose density is unknown (see :class:`NoiseContrastiveEstimation`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ebkit import (
    DataSpec,
    EnergyOutput,
    LossFunctional,
    LossOutput,
    StepExtension,
    Trainer,
    UsageError,
    energy_metrics,
    world_size,
)
from ebkit_estimation import NOISES

__all__ = [
    "NOISES",
    "NoiseContrastiveEstimation",
    "NoiseStep",
    "OneProcess",
    "gaussian_log_density",
    "nce_loss",
    "nce_sampler_loss",
    "uniform_log_density",
]


STD_FLOOR = 1e-3
"""Least standard deviation of the fitted Gaussian noise: a constant coordinate in the
first batch would otherwise give a density of zero width."""


def nce_loss(
    real_energy: Tensor,
    noise_energy: Tensor,
    log_partition: Tensor,
    real_log_q: Tensor | float = 0.0,
    noise_log_q: Tensor | float = 0.0,
    noise_ratio: int = 1,
) -> Tensor:
    """L = mean_x softplus(−G(x)) + ν·mean_y softplus(G(y)), with the logit
    G(u) = −E(u) − c − log q(u) − log ν (module docstring).

    ``real_energy: (B,)`` and ``real_log_q`` (``(B,)`` or a number) on the data,
    ``noise_energy: (νB,)`` and ``noise_log_q`` on the noise, ``log_partition``: c, a
    scalar. Returns a scalar. ``softplus`` keeps it exact for any logit.
    """
    log_ratio = math.log(noise_ratio)
    real_logit = -real_energy - log_partition - real_log_q - log_ratio
    noise_logit = -noise_energy - log_partition - noise_log_q - log_ratio
    return F.softplus(-real_logit).mean() + noise_ratio * F.softplus(noise_logit).mean()


def nce_sampler_loss(fake_energy: Tensor, log_partition: Tensor) -> Tensor:
    """A trainable sampler's loss with ``noise=sampler``: the non-saturating generator loss
    on the classifier's logit −E − c, L_G = mean softplus(E(G(z)) + c) (Goodfellow et al.
    2014, §3): the generator makes its samples look like data. ``fake_energy: (B,)``."""
    return F.softplus(fake_energy + log_partition).mean()


def gaussian_log_density(x: Tensor, mean: Tensor, std: Tensor) -> Tensor:
    """log N(x; mean, diag std²) per sample, summed over the event's coordinates.
    ``x: (B, *event_shape)``, ``mean``, ``std``: ``event_shape`` -> ``(B,)``."""
    z = (x - mean) / std
    per_coordinate = -0.5 * z.square() - std.log() - 0.5 * math.log(2 * math.pi)
    return per_coordinate.flatten(1).sum(dim=1)


def uniform_log_density(spec: DataSpec) -> float:
    """log q of the uniform distribution on [low, high]^d: −d·log(high − low)."""
    return -spec.dim * math.log(spec.high - spec.low)


class NoiseContrastiveEstimation(LossFunctional):
    """:func:`nce_loss` with a learnt log-partition constant c (``log_partition``, an
    ``nn.Parameter`` the energy's optimiser trains) and the noise q chosen by ``noise``:

    - ``gaussian``: N(μ, diag σ²) with the mean and standard deviation (at least
      :data:`STD_FLOOR`) of the first training batch, kept in buffers so resumed runs use
      the same q; ``noise_ratio`` ν samples per data sample. Pairs with ``--sampler none``.
    - ``uniform``: uniform on the data's range [low, high]^d; pairs with ``--sampler none``.
    - ``sampler``: the run's contrastive samples (``generator``, ``langevin``, ``replay``,
      ...), ν = 1. Their density is unknown, so log q is left out of the logit, which
      becomes −E − c: the GAN discriminator's loss (Goodfellow et al. 2014) with the
      offset c. The energy then estimates log q − log p_data + c rather than
      −log p_data; with MCMC samples of the model itself (q = p_θ) that classifier's
      optimum is E = −log p_data + const, so p_θ = p_data is the fixed point. A trainable
      sampler gets :func:`nce_sampler_loss`.

    Metrics: ``loss_energy`` (L), ``log_partition`` (c), ``energy_real``,
    ``energy_fake`` (mean E on data and noise), ``energy_gap`` (noise − data) and
    ``accuracy`` (the share of data and noise samples the classifier labels right);
    ``sampler_loss`` adds ``loss_sampler``.
    """

    def __init__(
        self,
        spec: DataSpec,
        *,
        noise: str = "gaussian",
        noise_ratio: int = 1,
        log_partition: float = 0.0,
    ) -> None:
        super().__init__(spec)
        if noise not in NOISES:
            raise ValueError(f"noise must be one of {', '.join(NOISES)}, not {noise!r}")
        if noise_ratio < 1:
            raise ValueError(f"noise_ratio must be at least 1, not {noise_ratio}")
        if noise == "sampler" and noise_ratio != 1:
            raise ValueError(
                f"noise_ratio {noise_ratio} needs noise drawn by the loss (gaussian or "
                "uniform); with noise=sampler the sampler draws one sample per data sample"
            )
        if not math.isfinite(log_partition):
            raise ValueError(f"log_partition must be a finite number, not {log_partition!r}")
        self.noise: Literal["gaussian", "uniform", "sampler"] = noise  # type: ignore[assignment]
        self.noise_ratio = int(noise_ratio)
        # With its own noise the loss takes no contrastive samples (--sampler none).
        self.needs_contrastive = noise == "sampler"  # type: ignore[misc]
        self.log_partition = nn.Parameter(torch.tensor(float(log_partition)))
        self.register_buffer("noise_mean", torch.zeros(spec.event_shape))
        self.register_buffer("noise_std", torch.ones(spec.event_shape))
        self.register_buffer("noise_fitted", torch.tensor(False))

    # -- the noise distribution -------------------------------------------------------

    def fit_noise(self, x: Tensor) -> None:
        """Fit the Gaussian noise to the batch ``x`` once (the first training batch)."""
        if self.noise != "gaussian" or bool(self.noise_fitted):
            return
        with torch.no_grad():
            self.noise_mean.copy_(x.mean(dim=0))
            self.noise_std.copy_(x.std(dim=0).clamp_min(STD_FLOOR) if len(x) > 1 else 1.0)
            self.noise_fitted.fill_(True)

    def draw_noise(self, n: int, generator: torch.Generator) -> Tensor:
        """``n`` samples of q, ``(n, *event_shape)``, on the loss's device."""
        shape, device = (n, *self.spec.event_shape), self.noise_mean.device
        if self.noise == "gaussian":
            unit = torch.randn(shape, generator=generator, device=device)
            return self.noise_mean + self.noise_std * unit
        uniform = torch.rand(shape, generator=generator, device=device)
        return self.spec.low + (self.spec.high - self.spec.low) * uniform

    def log_q(self, x: Tensor) -> Tensor | float:
        """log q(x) per sample, ``(B,)``, or a number when it is the same everywhere
        (uniform), or 0 for the sampler's unknown density."""
        if self.noise == "gaussian":
            return gaussian_log_density(x, self.noise_mean, self.noise_std)
        if self.noise == "uniform":
            return uniform_log_density(self.spec)
        return 0.0

    # -- the interface ------------------------------------------------------------------

    def energy_loss(self, real: EnergyOutput, fake: EnergyOutput | None) -> LossOutput:
        """With ``noise=sampler``: L on the data and the sampler's samples. With the loss's
        own noise the engine passes ``fake=None``; :class:`NoiseStep` then adds L, and
        this only reports the data's energy."""
        if fake is None:
            zero = torch.zeros((), device=real.energy.device)
            return LossOutput(zero, {"energy_real": real.energy.detach().mean()})
        return self.contrast(real.energy, fake.energy)

    def contrast(
        self,
        real_energy: Tensor,
        noise_energy: Tensor,
        real_log_q: Tensor | float = 0.0,
        noise_log_q: Tensor | float = 0.0,
    ) -> LossOutput:
        """:func:`nce_loss` with this loss's c and ν, and its metrics."""
        c = self.log_partition
        loss = nce_loss(real_energy, noise_energy, c, real_log_q, noise_log_q, self.noise_ratio)
        with torch.no_grad():
            log_ratio = math.log(self.noise_ratio)
            real_right = (-real_energy - c - real_log_q - log_ratio) > 0
            noise_right = (-noise_energy - c - noise_log_q - log_ratio) <= 0
            accuracy = torch.cat([real_right, noise_right]).float().mean()
            metrics: dict[str, Tensor | float] = {
                "loss_energy": loss.detach(),
                "log_partition": c.detach().clone(),
                **energy_metrics(real_energy, noise_energy),
                "accuracy": accuracy,
            }
        return LossOutput(loss, metrics)

    def sampler_loss(self, fake: EnergyOutput) -> LossOutput:
        if self.noise != "sampler":
            raise NotImplementedError(f"nce with noise={self.noise} trains no sampler")
        loss = nce_sampler_loss(fake.energy, self.log_partition.detach())
        return LossOutput(loss, {"loss_sampler": loss.detach()})

    def step_extensions(self) -> Sequence[StepExtension]:
        return [OneProcess()] if self.noise == "sampler" else [NoiseStep(self)]

    def extra_repr(self) -> str:
        return f"noise={self.noise!r}, noise_ratio={self.noise_ratio}"


class OneProcess(StepExtension):
    """Refuses a run trained by several processes: the data-parallel wrapper averages the
    energy's gradients across ranks, not c's, so each rank's c would drift its own way."""

    name = "nce-one-process"

    def attach(self, trainer: Trainer) -> None:
        if world_size() > 1:
            raise UsageError(
                "--loss nce trains in one process only (its log-partition constant c is not "
                "averaged across ranks); drop --nproc"
            )


class NoiseStep(OneProcess):
    """Draws the NCE loss's own noise (``gaussian``, ``uniform``) from the trainer's sample
    generator, ν per data sample, evaluates the energy on it (in the energy's
    ``contrastive_scope``, under the run's autocast) and adds :func:`nce_loss` on the
    step's data and that noise to the energy's loss."""

    name = "nce-noise"

    def __init__(self, loss: NoiseContrastiveEstimation) -> None:
        self.loss = loss

    def energy_terms(
        self, trainer: Trainer, real: EnergyOutput, fake: EnergyOutput | None
    ) -> LossOutput:
        batch = trainer.batch
        assert batch is not None  # set by the trainer before the step's terms
        loss = self.loss
        loss.fit_noise(batch.x)
        noise = loss.draw_noise(len(batch.x) * loss.noise_ratio, trainer.sample_generator)
        labels = None if batch.y is None else batch.y.repeat(loss.noise_ratio)
        energy = trainer.components.energy
        with energy.contrastive_scope(), trainer.precision.autocast():
            noise_energy = energy.evaluate(noise, labels).energy
        return loss.contrast(real.energy, noise_energy, loss.log_q(batch.x), loss.log_q(noise))
