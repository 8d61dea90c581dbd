"""Score matching losses: denoising score matching (``dsm``, Vincent 2011) and sliced
score matching (``ssm``, Song, Garg, Shi & Ermon 2019).

Both fit the model's score s(x) = ∇ₓ log p(x) = −∇ₓE(x) to the data's without the
normalising constant and without contrastive samples, so they pair with ``--sampler none``.
Their objectives differentiate E with respect to x (at noisy data for DSM, at the data
for SSM), which ``energy_loss`` cannot do from energies alone: each loss brings a step
extension, :class:`ScoreMatchingStep`, that computes the objective from the step's data
(``trainer.batch``) and draws its noise from the trainer's sample generator.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import ClassVar

import torch
from torch import Tensor

from ebkit import (
    DataSpec,
    EnergyOutput,
    LossFunctional,
    LossOutput,
    StepExtension,
    Trainer,
    UsageError,
    world_size,
)
from ebkit_estimation import PROJECTIONS

__all__ = [
    "PROJECTIONS",
    "DenoisingScoreMatching",
    "ScoreMatchingStep",
    "SlicedScoreMatching",
    "dsm_loss",
    "score",
    "ssm_loss",
]

EnergyFn = Callable[[Tensor], Tensor]
"""``x: (B, *event_shape) -> E(x): (B,)``, differentiable in x."""


def score(energy: EnergyFn, x: Tensor) -> Tensor:
    """s(x) = −∇ₓE(x), ``(B, *event_shape)``, with the graph kept (``create_graph``) so a
    loss on it trains E. ``x`` must require gradients."""
    (gradient,) = torch.autograd.grad(energy(x).sum(), x, create_graph=True)
    return -gradient


def dsm_loss(energy: EnergyFn, x: Tensor, sigma: Tensor, noise: Tensor) -> Tensor:
    """Denoising score matching (Vincent 2011, §4.2, J_DSM) with the weighting λ(σ) = σ²
    of Song & Ermon (2019, eq. 6)::

        x̃ = x + σ ε,   ε ~ N(0, I)
        L = mean_b ½ σ_b² ‖s(x̃_b) − (x_b − x̃_b)/σ_b²‖² = mean_b ½ ‖σ_b s(x̃_b) + ε_b‖²

    with s = −∇ₓE, the squared norm summed over each sample's dimensions. Minimising it
    makes s the score of the data smoothed by N(0, σ²I); the σ² weight (one σ: a constant
    factor on Vincent's objective) keeps every noise level's term of order one.

    ``x``, ``noise``: ``(B, *event_shape)``; ``sigma``: ``(B,)``, each sample's level.
    Returns a scalar.
    """
    return _denoising(energy, x, sigma, noise)[0]


def _denoising(energy: EnergyFn, x: Tensor, sigma: Tensor, noise: Tensor) -> tuple[Tensor, Tensor]:
    """:func:`dsm_loss` and the scores s(x̃) it compared, ``(B, *event_shape)``."""
    scale = sigma.reshape(-1, *([1] * (x.ndim - 1)))
    noisy = (x + scale * noise).detach().requires_grad_(True)
    scores = score(energy, noisy)
    residual = scale * scores + noise
    return 0.5 * residual.flatten(1).square().sum(dim=1).mean(), scores


def ssm_loss(
    energy: EnergyFn, x: Tensor, projections: Tensor, *, variance_reduced: bool = True
) -> Tensor:
    """Sliced score matching (Song, Garg, Shi & Ermon 2019, §3, the objective J(θ; p_v))::

        L = mean_b mean_k [ v_kᵀ ∇ₓs(x_b) v_k + ½ (v_kᵀ s(x_b))² ]      (SSM)
        L = mean_b mean_k [ v_kᵀ ∇ₓs(x_b) v_k ] + ½ ‖s(x_b)‖²          (SSM-VR)

    with s = −∇ₓE and projections v with E[v vᵀ] = I. vᵀ∇ₓs v is a Hessian-vector product,
    the gradient of vᵀs(x) dotted with v. In expectation over v both equal Hyvärinen's
    (2005) score matching objective tr ∇ₓs + ½‖s‖²; SSM-VR replaces ½(vᵀs)² by its
    expectation ½‖s‖² (the paper's variance-reduced form).

    ``x``: ``(B, *event_shape)``; ``projections``: ``(K, B, *event_shape)``, K vectors
    per sample. Returns a scalar.
    """
    return _sliced(energy, x, projections, variance_reduced)[0]


def _sliced(
    energy: EnergyFn, x: Tensor, projections: Tensor, variance_reduced: bool
) -> tuple[Tensor, Tensor]:
    """:func:`ssm_loss`, the scores s(x) at the data, ``(B, D)`` flattened, and the
    Hessian terms vᵀ∇ₓs v, ``(K, B)``."""
    x = x.detach().requires_grad_(True)
    s = score(energy, x).flatten(1)
    flat = projections.flatten(2)
    terms, traces = [], []
    for v in flat:  # K is small (the `projections` option); one Hessian-vector product each
        projected = (v * s).sum(dim=1)
        (hvp,) = torch.autograd.grad(projected.sum(), x, create_graph=True)
        trace = (hvp.flatten(1) * v).sum(dim=1)
        quadratic = 0.5 * s.square().sum(dim=1) if variance_reduced else 0.5 * projected**2
        terms.append(trace + quadratic)
        traces.append(trace)
    return torch.stack(terms).mean(), s, torch.stack(traces)


class _ScoreMatching(LossFunctional):
    """What the score matching losses share: no contrastive samples, an ``energy_loss``
    that only reports the data's energy (the objective needs ∇ₓE, see the module
    docstring), and :class:`ScoreMatchingStep`, which computes :meth:`objective`."""

    needs_contrastive: ClassVar[bool] = False
    component_name: ClassVar[str] = "score-matching"
    """The loss's name in messages."""

    def energy_loss(self, real: EnergyOutput, fake: EnergyOutput | None) -> LossOutput:
        # No term on the energies themselves: score matching sees E only through ∇ₓE, so
        # its constant is free; the step extension adds the objective.
        zero = torch.zeros((), device=real.energy.device)
        return LossOutput(zero, {"energy_real": real.energy.detach().mean()})

    def step_extensions(self) -> Sequence[StepExtension]:
        return [ScoreMatchingStep(self)]

    def check_energy(self, energy: EnergyFn, device: torch.device) -> None:
        """Raise :class:`ebkit.UsageError` for an energy the objective cannot train
        (called once, before training starts). Default: every energy is fine."""

    def objective(
        self, energy: EnergyFn, x: Tensor, generator: torch.Generator
    ) -> tuple[Tensor, dict[str, Tensor | float]]:
        """The loss on a data batch ``x``, its noise drawn from ``generator``, and metrics."""
        raise NotImplementedError


class ScoreMatchingStep(StepExtension):
    """Adds a score matching loss's objective to the energy's loss, computed on the step's
    data (``trainer.batch``) under the run's autocast, its noise drawn from the trainer's
    sample generator (so runs are reproducible and resume exactly)."""

    name = "score-matching"

    def __init__(self, loss: _ScoreMatching) -> None:
        self.loss = loss

    def attach(self, trainer: Trainer) -> None:
        if world_size() > 1:
            raise UsageError(
                f"--loss {self.loss.component_name} trains in one process only (its gradient "
                "in x bypasses the data-parallel wrapper); drop --nproc"
            )
        model = trainer.components.energy

        def energy(x: Tensor) -> Tensor:  # any class will do for a conditional energy
            labels = torch.zeros(len(x), dtype=torch.long, device=x.device)
            return model.evaluate(x, labels if model.spec.conditional else None).energy

        self.loss.check_energy(energy, trainer.device)

    def energy_terms(
        self, trainer: Trainer, real: EnergyOutput, fake: EnergyOutput | None
    ) -> LossOutput:
        batch = trainer.batch
        assert batch is not None  # set by the trainer before the step's terms
        model = trainer.components.energy

        def energy(x: Tensor) -> Tensor:
            with trainer.precision.autocast():
                return model.evaluate(x, batch.y).energy

        loss, metrics = self.loss.objective(energy, batch.x, trainer.sample_generator)
        return LossOutput(loss, {"loss_energy": loss.detach(), **metrics})


class DenoisingScoreMatching(_ScoreMatching):
    """:func:`dsm_loss` with each sample's σ drawn uniformly from ``sigmas`` (one level by
    default). Metrics: ``loss_energy`` (L), ``energy_real`` (mean E on the clean data),
    ``score_norm`` (mean ‖s(x̃)‖ on the noisy data, about √d/σ when E fits)."""

    component_name: ClassVar[str] = "dsm"

    def __init__(self, spec: DataSpec, *, sigmas: Sequence[float] = (0.1,)) -> None:
        super().__init__(spec)
        levels = [float(sigma) for sigma in sigmas]
        if not levels or not all(math.isfinite(s) and s > 0 for s in levels):
            raise ValueError(f"sigmas must be one or more numbers > 0, not {list(sigmas)!r}")
        self.sigmas = levels
        self.register_buffer("levels", torch.tensor(levels), persistent=False)

    def objective(
        self, energy: EnergyFn, x: Tensor, generator: torch.Generator
    ) -> tuple[Tensor, dict[str, Tensor | float]]:
        pick = torch.randint(len(self.sigmas), (x.shape[0],), generator=generator, device=x.device)
        sigma = self.levels.to(x.device)[pick]
        noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        loss, scores = _denoising(energy, x, sigma, noise)
        return loss, {"score_norm": _mean_norm(scores)}

    def extra_repr(self) -> str:
        return f"sigmas={self.sigmas}"


class SlicedScoreMatching(_ScoreMatching):
    """:func:`ssm_loss` with ``projections`` vectors per sample from ``projection``
    (Gaussian or Rademacher), variance-reduced by default. Metrics: ``loss_energy`` (L),
    ``energy_real`` (mean E on the data), ``score_norm`` (mean ‖s(x)‖ on the data),
    ``hessian_term`` (mean vᵀ∇ₓs v).

    The objective needs E's second derivatives: an energy with piecewise-linear
    activations has none (vᵀ∇ₓs v = 0), and SSM would only flatten it.
    :meth:`check_energy` refuses such an energy before training starts."""

    component_name: ClassVar[str] = "ssm"

    def __init__(
        self,
        spec: DataSpec,
        *,
        projections: int = 1,
        projection: str = "gaussian",
        variance_reduced: bool = True,
    ) -> None:
        super().__init__(spec)
        if projections < 1:
            raise ValueError(f"projections must be at least 1, not {projections}")
        if projection not in PROJECTIONS:
            raise ValueError(
                f"projection must be one of {', '.join(PROJECTIONS)}, not {projection!r}"
            )
        self.projections = int(projections)
        self.projection = projection
        self.variance_reduced = bool(variance_reduced)

    def draw_projections(self, x: Tensor, generator: torch.Generator) -> Tensor:
        """``(projections, *x.shape)`` vectors with E[v vᵀ] = I."""
        shape = (self.projections, *x.shape)
        if self.projection == "gaussian":
            return torch.randn(shape, generator=generator, device=x.device, dtype=x.dtype)
        signs = torch.randint(2, shape, generator=generator, device=x.device)
        return signs.to(x.dtype) * 2 - 1

    def check_energy(self, energy: EnergyFn, device: torch.device) -> None:
        """Refuse an energy without curvature: vᵀ∇ₓs v = 0 at 16 points spread over the
        data's range (their own seeded generator: the run's randomness is untouched)."""
        generator = torch.Generator().manual_seed(0)
        unit = torch.rand((16, *self.spec.event_shape), generator=generator)
        probe = (self.spec.low + (self.spec.high - self.spec.low) * unit).to(device)
        v = torch.randn((1, *probe.shape), generator=generator).to(device)
        traces = _sliced(energy, probe, v, self.variance_reduced)[2]
        if not bool(traces.detach().ne(0).any()):
            raise UsageError(
                "ssm needs an energy with curvature, but vᵀ∇ₓ²E v is 0 everywhere it was "
                "probed (piecewise-linear activations such as ReLU or leaky ReLU); use a "
                "smooth one (-o energy.activation=swish) or --loss dsm"
            )

    def objective(
        self, energy: EnergyFn, x: Tensor, generator: torch.Generator
    ) -> tuple[Tensor, dict[str, Tensor | float]]:
        v = self.draw_projections(x, generator)
        loss, scores, traces = _sliced(energy, x, v, self.variance_reduced)
        return loss, {"score_norm": _mean_norm(scores), "hessian_term": traces.detach().mean()}

    def extra_repr(self) -> str:
        return (
            f"projections={self.projections}, projection={self.projection!r}, "
            f"variance_reduced={self.variance_reduced}"
        )


def _mean_norm(scores: Tensor) -> Tensor:
    with torch.no_grad():
        return scores.flatten(1).norm(dim=1).mean()
