"""EBGAN's margin (hinge) loss for the energy and the generator, with its f-variants, an
automatic margin in the energy's units and margin schedules."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from ebkit import (
    DataSpec,
    EnergyOutput,
    LossFunctional,
    LossOutput,
    R1Penalty,
    StepExtension,
    energy_metrics,
)
from ebkit_losses import (
    AUTO_MARGIN_FACTOR,
    F_VARIANTS,
    GENERATOR_OBJECTIVES,
    MARGIN_REFERENCES,
    MARGIN_VECTOR_R1,
    SCHEDULES,
    UNITS,
)

VECTOR_STEPS = 20000
"""EBGAN's training steps on vectors (the 2-D toys) unless the run sets them: the margin
pushes the generator from mode to mode for thousands of steps before the learning rates'
decay over the second half settles it, and 8000 steps (the data kind's default) left it
there (8 Gaussians at 8000 steps: 5 of 8 modes, 76 % of the samples near one, against
86 % at 20,000; 5×5 grid: 30 % against 64–81 %; Zhao et al. 2017 train for epochs of
real data, not for a step budget)."""

VECTOR_SAMPLER_LR = 2e-3
"""The generator's Adam learning rate on vectors unless the run sets it: twice the
energy's 10⁻³, two time scales (Heusel et al. 2017) with the generator on the faster one.
The margin loss raises the energy of a crowded mode and leaves an empty one at the data's
energy; with equal rates the energy outpaces the generator, which moves its whole crowd
from mode to mode instead of spreading it, and leaves modes empty when the learning
rates' decay freezes it (8 Gaussians, 20,000 steps: seed 3 4 of 8 modes at 10⁻³, 8 of 8
at 2·10⁻³; seed 0 6 and 7; docs/quality.md)."""

VECTOR_BATCH_SIZE = 256
"""EBGAN's batch on vectors unless the run sets it. The margin loss raises the energy
where the batch holds more generated points than data points, so with 64 of each the
energy follows the batches' noise about where the modes are crowded, and the generator
hops after it; with 256 (the batch BEGAN's loss asks for on vectors too) seeds 0–4 held
every mode of both mixtures at 94.7 % (ring) and 90.5 % (grid) median high quality,
against 88.6 % and 78.6 % with 64, at about 2.5 times the cost of a step
(docs/quality.md)."""

_F: dict[str, Callable[[Tensor], Tensor]] = {
    "identity": lambda t: t,
    "square": torch.square,
}


def _f(name: str) -> Callable[[Tensor], Tensor]:
    try:
        return _F[name]
    except KeyError:
        raise ValueError(f"f must be one of {', '.join(F_VARIANTS)}, not {name!r}") from None


def margin_energy_loss(
    real_energy: Tensor,
    fake_energy: Tensor,
    margin: float | Tensor,
    f: str = "identity",
    hinge_weight: float = 1.0,
) -> Tensor:
    """The energy's (discriminator's) hinge loss, EBGAN eq. 1 in the generalised form of
    LeCun's slides, with a weight λ on the hinge term (eq. 1: λ = 1)::

        L_D = mean_b f(D(x_b)) + λ · mean_b f([m − D(G(z_b))]⁺),   [·]⁺ = max(0, ·)

    With equal batch sizes this is mean_b( f(D(x_b)) + f([m − D(G(z_b))]⁺) ); each term
    is averaged over its own batch so that the two batches may differ in size.
    ``f`` is ``"identity"`` (the paper's eq. 1) or ``"square"``.

    ``real_energy: (B,)``, ``fake_energy: (B',)``, ``margin``: a number or a 0-d tensor
    -> a scalar.
    """
    apply = _f(f)
    hinge = torch.clamp(margin - fake_energy, min=0)
    # λ = 1 multiplies by exactly 1.0: eq. 1 to the bit, gradients included.
    return apply(real_energy).mean() + hinge_weight * apply(hinge).mean()


def margin_sampler_loss(fake_energy: Tensor, f: str = "identity") -> Tensor:
    """The generator's loss, EBGAN eq. 2 in the generalised form of LeCun's slides::

        L_G = mean_b f(D(G(z_b)))

    Unlike the second term of L_D it has no margin, so the generator still gets a
    gradient when D(G(z)) ≥ m. ``fake_energy: (B,)`` -> a scalar.
    """
    return _f(f)(fake_energy).mean()


def auto_margin(spec: DataSpec, units: str = "l2") -> float:
    """The margin used when none is given, in the units of the energy.

    The paper's margins for its non-squared L2 reconstruction energy (MNIST 32×32: 10,
    CelebA 64×64×3: 20, LSUN 64×64×3: 80, ImageNet 128²×3: 40, all on [-1, 1] data) are
    ≈ 0.18–0.36·√d for d scalars per sample. Read as a reconstruction error of s per
    scalar, ‖r‖₂ = s·√d, they say s ≈ 0.3 on a half-range of 1. We take
    s = 0.3·(high − low)/2, so the margin scales with the data's amplitude (the 2-D toys
    span more than [-1, 1]), and express the same s in each energy's units, treating the
    residual as Gaussian (E|r| = s·√(2/π))::

        l2:  m = s·√d                 (0.3·√d on [-1, 1]; 9.6 ≈ 10 for 32×32 MNIST)
        mse: m = s²                   (mean of squares = ‖r‖₂² / d; 0.09 on [-1, 1])
        l1:  m = s·√(2/π)·d           (sum of absolute values; ≈ 0.24·d on [-1, 1])
        mae: m = s·√(2/π)             (mean of absolute values, BEGAN's L with η = 1)

    ``units`` names the energy the rule is for, like the ``autoencoder`` energy's
    ``distance`` option. Appendix E of the paper suggests refining a margin with the
    loss D converges to on data alone.
    """
    if units not in UNITS:
        raise ValueError(f"units must be one of {', '.join(UNITS)}, not {units!r}")
    scale = AUTO_MARGIN_FACTOR * (spec.high - spec.low) / 2
    if units == "l2":
        return scale * math.sqrt(spec.dim)
    if units == "mse":
        return scale**2
    if units == "mae":
        return scale * math.sqrt(2 / math.pi)
    return scale * math.sqrt(2 / math.pi) * spec.dim


def margin_at(
    step: int | Tensor, initial: float, final: float, steps: int, schedule: str = "linear"
) -> float | Tensor:
    """The margin m_t at step ``step`` of a schedule from ``initial`` (m_0) to ``final``
    (m_T) over T = ``steps`` steps, with p = min(t / T, 1)::

        constant: m_t = m_0
        linear:   m_t = (1 − p)·m_0 + p·m_T
        cosine:   m_t = m_T + (m_0 − m_T)·(1 + cos(π·p)) / 2

    so m_t = m_T from step T on. The paper's EBGAN-LN decays its margin 16 → 0 over the
    first 60k steps (App. E: large-to-0 works well); it does not give the curve's shape.

    A Python ``step`` gives a float; a tensor ``step`` (the loss's step buffer) gives a
    0-d tensor of the default dtype on the same device, without a host sync.
    """
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule must be one of {', '.join(SCHEDULES)}, not {schedule!r}")
    if steps < 1:
        raise ValueError(f"steps must be at least 1, not {steps}")
    if isinstance(step, Tensor):
        progress = (step.to(torch.get_default_dtype()) / steps).clamp(0.0, 1.0)
        if schedule == "constant":
            return torch.full_like(progress, initial)
        weight = progress if schedule == "linear" else (1 - torch.cos(math.pi * progress)) / 2
        return initial * (1 - weight) + final * weight
    if schedule == "constant":
        return float(initial)
    progress = min(max(step / steps, 0.0), 1.0)
    weight = progress if schedule == "linear" else (1 - math.cos(math.pi * progress)) / 2
    return initial * (1 - weight) + final * weight


class MarginLoss(LossFunctional):
    """EBGAN's margin loss (:func:`margin_energy_loss`, :func:`margin_sampler_loss`) with
    an automatic margin, margin schedules and diagnostics: the energy gap E(G(z)) − E(x)
    and the share of contrastive samples whose energy is above the margin.

    ``margin=None`` means :func:`auto_margin` in the units ``units``: the default ``l2``
    suits the paper's non-squared L2 auto-encoder energy; use ``units="mse"`` or ``"l1"``
    with an auto-encoder of that ``distance``, and set the margin yourself for any other
    energy. The resolved starting margin is the float ``self.margin``.

    ``schedule`` (``constant``, ``linear``, ``cosine``) moves the margin to
    ``final_margin`` over ``schedule_steps`` steps (:func:`margin_at`). The step counter
    is the int64 buffer ``step``, advanced by :meth:`update_state` once per training
    step, so a checkpoint restores the schedule exactly; :meth:`current_margin` is
    computed from it.

    ``relative_to="data"`` reads m_t as a multiple of the batch's mean data energy: the
    hinge uses m_t · mean_b E(x_b) (E(x) not differentiated through). The hinge acts
    only on contrastive samples below the margin, and a fixed margin under a data energy
    that falls as training goes on (EBGAN-LN's Ladder: 83 → 12 within 300 steps on
    MNIST) acts on none of them, or on all, depending on when it is read; EBGAN's
    equilibrium has the data's energy within the margin (Zhao et al. 2017, Theorem 2),
    which m_t ≥ 1 keeps true at every step. m_t = 0 still gives a hinge of 0.

    ``hinge_weight`` λ scales the hinge term of L_D (eq. 1 has λ = 1): λ < 1 makes the
    contrastive term a weak regulariser on an energy that mostly learns from the data
    term, λ = 0 leaves only the data term (the generator still trains on its own loss).

    ``generator="feature-matching"`` trains the generator to match the batch mean of
    the energy's ``features`` on the data (read, detached, in the same step's
    :meth:`energy_loss`) instead of lowering its energy (Salimans et al. 2016, §3.1:
    ‖E f(x) − E f(G(z))‖²₂): samples that share the data's statistics without being data,
    the kind a semi-supervised classifier gains from (Dai et al. 2017).

    Metrics of ``energy_loss``: ``loss_energy`` (L_D), ``energy_real``,
    ``energy_fake`` (batch means), ``energy_gap`` (their difference, fake − real),
    ``fake_above_margin`` (share of fakes with D(G(z)) ≥ m) and ``margin`` (the m used
    this step); ``sampler_loss`` adds ``loss_sampler`` (L_G). All are detached tensors,
    so logging them needs no device sync at every step.

    Nothing is detached inside the loss: the sampler's loss keeps the whole graph of
    ``fake.energy``, so a generator is trained through both its samples and their
    reconstructions.

    ``r1`` > 0 adds the R1 penalty γ/2 · mean ‖∇_x E(x)‖² on the data batch to the
    energy's loss (:meth:`step_extensions`; Mescheder, Geiger & Nowozin 2018, eq. 9);
    ``None`` is :data:`~ebkit_losses.MARGIN_VECTOR_R1` on vectors and none on images.
    """

    step: Tensor

    def __init__(
        self,
        spec: DataSpec,
        *,
        margin: float | None = None,
        units: str = "l2",
        f: str = "identity",
        schedule: str = "constant",
        final_margin: float = 0.0,
        schedule_steps: int = 10000,
        relative_to: str = "zero",
        generator: str = "energy",
        r1: float | None = None,
        hinge_weight: float = 1.0,
    ) -> None:
        super().__init__(spec)
        _f(f)  # fail at construction, not at the first step
        if margin is not None and not margin >= 0:
            raise ValueError(f"margin must be a non-negative number, not {margin!r}")
        if not final_margin >= 0:
            raise ValueError(f"final_margin must be a non-negative number, not {final_margin!r}")
        if units not in UNITS:
            raise ValueError(f"units must be one of {', '.join(UNITS)}, not {units!r}")
        if not 0 <= hinge_weight < math.inf:
            raise ValueError(
                f"hinge_weight must be a finite non-negative number, not {hinge_weight!r}"
            )
        self.hinge_weight = float(hinge_weight)
        if relative_to not in MARGIN_REFERENCES:
            raise ValueError(
                f"relative_to must be one of {', '.join(MARGIN_REFERENCES)}, not {relative_to!r}"
            )
        self.relative_to = relative_to
        if generator not in GENERATOR_OBJECTIVES:
            raise ValueError(
                f"generator must be one of {', '.join(GENERATOR_OBJECTIVES)}, not {generator!r}"
            )
        self.generator = generator
        self._data_features: Tensor | None = None
        self.f = f
        self.units = units
        self.margin = float(auto_margin(spec, units) if margin is None else margin)
        self.final_margin = float(final_margin)
        self.schedule = schedule
        self.schedule_steps = int(schedule_steps)
        margin_at(0, self.margin, self.final_margin, self.schedule_steps, schedule)  # validate
        self.r1 = R1Penalty.weight_of(r1, spec, on_vectors=MARGIN_VECTOR_R1)
        self.register_buffer("step", torch.zeros((), dtype=torch.int64))
        # A constant margin needs no per-step arithmetic; not persistent, as it is derived.
        self.register_buffer(
            "constant_margin",
            torch.tensor(self.margin, dtype=torch.get_default_dtype()),
            persistent=False,
        )

    def train_defaults(self) -> dict[str, int | float]:
        """On vectors, :data:`VECTOR_STEPS` training steps, the generator's learning rate
        :data:`VECTOR_SAMPLER_LR` and batches of :data:`VECTOR_BATCH_SIZE` where the run
        leaves ``train.steps``, ``train.sampler_lr`` and ``train.batch_size`` at auto;
        images keep the data kind's defaults."""
        if self.spec.is_image:
            return {}
        return {
            "steps": VECTOR_STEPS,
            "sampler_lr": VECTOR_SAMPLER_LR,
            "batch_size": VECTOR_BATCH_SIZE,
        }

    def step_extensions(self) -> list[StepExtension]:
        """The R1 penalty on the data when ``r1`` > 0 (metric ``penalty_r1``)."""
        return R1Penalty.extensions(self.r1)

    def current_margin(self) -> Tensor:
        """The margin of the current step, a 0-d tensor on the loss's device."""
        if self.schedule == "constant":
            return self.constant_margin
        return margin_at(
            self.step, self.margin, self.final_margin, self.schedule_steps, self.schedule
        )

    def energy_loss(self, real: EnergyOutput, fake: EnergyOutput) -> LossOutput:
        margin = self.current_margin()
        if self.relative_to == "data":
            margin = margin * real.energy.detach().mean()
        loss = margin_energy_loss(real.energy, fake.energy, margin, self.f, self.hinge_weight)
        if self.generator == "feature-matching":
            if real.features is None:
                raise ValueError("generator=feature-matching needs an energy with features")
            self._data_features = real.features.detach().mean(dim=0)
        # Metrics stay tensors: the engine reads them only when it logs (no host sync).
        with torch.no_grad():
            metrics: dict[str, Tensor | float] = {
                "loss_energy": loss.detach(),
                **energy_metrics(real.energy, fake.energy),
                "fake_above_margin": (fake.energy >= margin).float().mean(),
                "margin": margin,
            }
        return LossOutput(loss, metrics)

    def sampler_loss(self, fake: EnergyOutput) -> LossOutput:
        if self.generator == "feature-matching":
            if fake.features is None or self._data_features is None:
                raise ValueError(
                    "generator=feature-matching needs the energy's features of the data "
                    "(energy_loss first) and of the samples"
                )
            loss = (fake.features.mean(dim=0) - self._data_features).square().sum()
            return LossOutput(loss, {"loss_sampler": loss.detach()})
        loss = margin_sampler_loss(fake.energy, self.f)
        return LossOutput(loss, {"loss_sampler": loss.detach()})

    def update_state(self, real: EnergyOutput, fake: EnergyOutput) -> dict[str, Tensor | float]:
        """Advance the schedule by one step. Returns no metrics: ``margin`` in the
        energy loss's metrics already is the margin this step used."""
        with torch.no_grad():
            self.step.add_(1)
        return {}

    def extra_repr(self) -> str:
        text = f"margin={self.margin:g}, f={self.f!r}, r1={self.r1:g}"
        if self.schedule != "constant":
            text += (
                f", schedule={self.schedule!r}, final_margin={self.final_margin:g}, "
                f"schedule_steps={self.schedule_steps}"
            )
        if self.relative_to != "zero":
            text += f", relative_to={self.relative_to!r}"
        if self.hinge_weight != 1.0:
            text += f", hinge_weight={self.hinge_weight:g}"
        if self.generator != "energy":
            text += f", generator={self.generator!r}"
        return text
