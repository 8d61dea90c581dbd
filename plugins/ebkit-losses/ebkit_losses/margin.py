"""EBGAN's margin (hinge) loss for the energy and the generator, with its f-variants."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from ebkit import DataSpec, EnergyOutput, LossFunctional, LossOutput
from ebkit_losses import AUTO_MARGIN_FACTOR, F_VARIANTS

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
    real_energy: Tensor, fake_energy: Tensor, margin: float | Tensor, f: str = "identity"
) -> Tensor:
    """The energy's (discriminator's) hinge loss, EBGAN eq. 1 in the generalised form of
    LeCun's slides::

        L_D = mean_b f(D(x_b)) + mean_b f([m − D(G(z_b))]⁺),   [·]⁺ = max(0, ·)

    With equal batch sizes this is mean_b( f(D(x_b)) + f([m − D(G(z_b))]⁺) ); each term
    is averaged over its own batch so that the two batches may differ in size.
    ``f`` is ``"identity"`` (the paper's eq. 1) or ``"square"``.

    ``real_energy: (B,)``, ``fake_energy: (B',)``, ``margin``: a number or a 0-d tensor
    -> a scalar.
    """
    apply = _f(f)
    hinge = torch.clamp(margin - fake_energy, min=0)
    return apply(real_energy).mean() + apply(hinge).mean()


def margin_sampler_loss(fake_energy: Tensor, f: str = "identity") -> Tensor:
    """The generator's loss, EBGAN eq. 2 in the generalised form of LeCun's slides::

        L_G = mean_b f(D(G(z_b)))

    Unlike the second term of L_D it has no margin, so the generator still gets a
    gradient when D(G(z)) ≥ m. ``fake_energy: (B,)`` -> a scalar.
    """
    return _f(f)(fake_energy).mean()


def auto_margin(spec: DataSpec) -> float:
    """The margin used when none is given: ``0.3 · √(spec.dim)``.

    The paper's margins for its non-squared L2 reconstruction energy (MNIST 32×32: 10,
    CelebA 64×64×3: 20, LSUN 64×64×3: 80, ImageNet 128²×3: 40) are ≈ 0.18–0.36·√pixels;
    0.3 sits in that range and gives 9.6 ≈ 10 for 32×32 MNIST.
    """
    return AUTO_MARGIN_FACTOR * math.sqrt(spec.dim)


class MarginLoss(LossFunctional):
    """EBGAN's margin loss (:func:`margin_energy_loss`, :func:`margin_sampler_loss`) with
    an automatic margin and the diagnostics of SPEC §7.

    ``margin=None`` means :func:`auto_margin`, which suits the default L2 auto-encoder
    energy; choose the margin yourself for an ``mse`` or ``l1`` distance or another
    energy. The resolved margin is the float ``self.margin``.

    Nothing is detached inside the loss: the sampler's loss keeps the whole graph of
    ``fake.energy``, so a generator is trained through both its samples and their
    reconstructions.
    """

    def __init__(self, spec: DataSpec, *, margin: float | None = None, f: str = "identity"):
        super().__init__(spec)
        _f(f)  # fail at construction, not at the first step
        if margin is not None and not margin >= 0:
            raise ValueError(f"margin must be a non-negative number, not {margin!r}")
        self.f = f
        self.margin = float(auto_margin(spec) if margin is None else margin)

    def energy_loss(self, real: EnergyOutput, fake: EnergyOutput) -> LossOutput:
        loss = margin_energy_loss(real.energy, fake.energy, self.margin, self.f)
        # Metrics stay tensors: the engine reads them only when it logs (no host sync).
        with torch.no_grad():
            energy_real = real.energy.mean()
            energy_fake = fake.energy.mean()
            metrics: dict[str, Tensor | float] = {
                "loss_energy": loss.detach(),
                "energy_real": energy_real,
                "energy_fake": energy_fake,
                "energy_gap": energy_fake - energy_real,
                "fake_above_margin": (fake.energy >= self.margin).float().mean(),
                "margin": self.margin,
            }
        return LossOutput(loss, metrics)

    def sampler_loss(self, fake: EnergyOutput) -> LossOutput:
        loss = margin_sampler_loss(fake.energy, self.f)
        return LossOutput(loss, {"loss_sampler": loss.detach()})

    def extra_repr(self) -> str:
        return f"margin={self.margin:g}, f={self.f!r}"
