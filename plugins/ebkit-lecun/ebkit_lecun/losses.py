"""The LeCun et al. (2006) losses as ebkit loss functionals: the formulas of
:mod:`ebkit_lecun.formulas` for the energy, a generator loss for a trainable sampler,
and the diagnostics every one of them logs."""

from __future__ import annotations

import torch
from torch import Tensor

from ebkit import DataSpec, EnergyOutput, LossFunctional, LossOutput, energy_metrics
from ebkit_lecun.formulas import (
    PAIRINGS,
    data_term_sampler_loss,
    energy_sampler_loss,
    hinge_loss,
    log_loss,
    mce_loss,
    pairwise_differences,
    square_exponential_loss,
    square_square_loss,
)


def _check_pairing(pairing: str) -> str:
    if pairing not in PAIRINGS:
        raise ValueError(f"pairing must be one of {', '.join(PAIRINGS)}, not {pairing!r}")
    return pairing


def _check_non_negative(name: str, value: float) -> float:
    if not value >= 0:
        raise ValueError(f"{name} must be a non-negative number, not {value!r}")
    return float(value)


class _TableOneLoss(LossFunctional):
    """What the losses share: the metrics of the energy step and ``sampler_loss``.

    Metrics of ``energy_loss``: ``loss_energy``, ``energy_real``, ``energy_fake``,
    ``energy_gap`` (fake − real) and ``pairs_ordered``, the share of the B·B' (data,
    contrastive) pairs with E(x⁻) > E(x⁺); subclasses add their own. ``sampler_loss``
    logs ``loss_sampler``. All are detached tensors (no host sync when not logged).
    The losses are stateless: ``update_state`` keeps the default.
    """

    def _loss(self, real_energy: Tensor, fake_energy: Tensor) -> Tensor:
        raise NotImplementedError

    def _extra_metrics(self, real_energy: Tensor, fake_energy: Tensor) -> dict[str, Tensor]:
        return {}

    def _sampler_formula(self, fake_energy: Tensor) -> Tensor:
        raise NotImplementedError

    def energy_loss(self, real: EnergyOutput, fake: EnergyOutput) -> LossOutput:
        loss = self._loss(real.energy, fake.energy)
        with torch.no_grad():
            ordered = (fake.energy[None, :] > real.energy[:, None]).float().mean()
            metrics: dict[str, Tensor | float] = {
                "loss_energy": loss.detach(),
                **energy_metrics(real.energy, fake.energy),
                "pairs_ordered": ordered,
                **self._extra_metrics(real.energy, fake.energy),
            }
        return LossOutput(loss, metrics)

    def sampler_loss(self, fake: EnergyOutput) -> LossOutput:
        # Nothing is detached: the generator is trained through its samples' energies.
        loss = self._sampler_formula(fake.energy)
        return LossOutput(loss, {"loss_sampler": loss.detach()})


class SquareSquareLoss(_TableOneLoss):
    """:func:`~ebkit_lecun.formulas.square_square_loss` for the energy,
    L_G = mean E(G(z))² (:func:`~ebkit_lecun.formulas.data_term_sampler_loss`) for a
    trainable sampler. Adds the metric ``fake_above_margin``, the share of contrastive
    samples with E(x⁻) ≥ m."""

    def __init__(self, spec: DataSpec, *, margin: float = 1.0) -> None:
        super().__init__(spec)
        self.margin = _check_non_negative("margin", margin)

    def _loss(self, real_energy: Tensor, fake_energy: Tensor) -> Tensor:
        return square_square_loss(real_energy, fake_energy, self.margin)

    def _extra_metrics(self, real_energy: Tensor, fake_energy: Tensor) -> dict[str, Tensor]:
        return {"fake_above_margin": (fake_energy >= self.margin).float().mean()}

    def _sampler_formula(self, fake_energy: Tensor) -> Tensor:
        return data_term_sampler_loss(fake_energy)

    def extra_repr(self) -> str:
        return f"margin={self.margin:g}"


class SquareExponentialLoss(_TableOneLoss):
    """:func:`~ebkit_lecun.formulas.square_exponential_loss` for the energy,
    L_G = mean E(G(z))² for a trainable sampler."""

    def __init__(self, spec: DataSpec, *, gamma: float = 1.0) -> None:
        super().__init__(spec)
        if not gamma > 0:
            raise ValueError(f"gamma must be a positive number, not {gamma!r}")
        self.gamma = float(gamma)

    def _loss(self, real_energy: Tensor, fake_energy: Tensor) -> Tensor:
        return square_exponential_loss(real_energy, fake_energy, self.gamma)

    def _sampler_formula(self, fake_energy: Tensor) -> Tensor:
        return data_term_sampler_loss(fake_energy)

    def extra_repr(self) -> str:
        return f"gamma={self.gamma:g}"


class _PairwiseLoss(_TableOneLoss):
    """A pairwise loss: a ``pairing`` option, L_G = mean E(G(z)) for a trainable sampler."""

    def __init__(self, spec: DataSpec, *, pairing: str = "all") -> None:
        super().__init__(spec)
        self.pairing = _check_pairing(pairing)

    def _sampler_formula(self, fake_energy: Tensor) -> Tensor:
        return energy_sampler_loss(fake_energy)

    def extra_repr(self) -> str:
        return f"pairing={self.pairing!r}"


class HingeLoss(_PairwiseLoss):
    """:func:`~ebkit_lecun.formulas.hinge_loss` for the energy. Adds the metric
    ``pairs_within_margin``, the share of the compared pairs with m + E⁺ − Ē⁻ > 0 (those
    that still give a gradient)."""

    def __init__(self, spec: DataSpec, *, margin: float = 1.0, pairing: str = "all") -> None:
        super().__init__(spec, pairing=pairing)
        self.margin = _check_non_negative("margin", margin)

    def _loss(self, real_energy: Tensor, fake_energy: Tensor) -> Tensor:
        return hinge_loss(real_energy, fake_energy, self.margin, self.pairing)

    def _extra_metrics(self, real_energy: Tensor, fake_energy: Tensor) -> dict[str, Tensor]:
        differences = pairwise_differences(real_energy, fake_energy, self.pairing)
        return {"pairs_within_margin": (self.margin + differences > 0).float().mean()}

    def extra_repr(self) -> str:
        return f"margin={self.margin:g}, pairing={self.pairing!r}"


class LogLoss(_PairwiseLoss):
    """:func:`~ebkit_lecun.formulas.log_loss` for the energy."""

    def _loss(self, real_energy: Tensor, fake_energy: Tensor) -> Tensor:
        return log_loss(real_energy, fake_energy, self.pairing)


class MCELoss(_PairwiseLoss):
    """:func:`~ebkit_lecun.formulas.mce_loss` for the energy."""

    def _loss(self, real_energy: Tensor, fake_energy: Tensor) -> Tensor:
        return mce_loss(real_energy, fake_energy, self.pairing)
