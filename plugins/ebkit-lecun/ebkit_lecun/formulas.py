"""The loss functionals of LeCun et al. (2006), "A tutorial on energy-based learning",
§2.2 and Table 1, as plain tensor functions of the energies of data and of contrastive
samples.

In the tutorial a loss compares the energy of the desired answer, E(W, Yⁱ, Xⁱ), with that
of the *most offending incorrect answer* Ȳⁱ, the lowest-energy answer that is not the
desired one (§2.2.3). Here the desired answers are the data x⁺ and the incorrect
answers are the contrastive samples x⁻ a sampler proposes (a generator's G(z), MCMC
chains), so E⁺ = E(x⁺) and E⁻ = E(x⁻). Each function takes ``real_energy: (B,)`` and
``fake_energy: (B',)`` and returns a scalar, the batch mean of the per-example loss.

Two kinds of loss:

- *separable* losses are a term in E⁺ plus a term in E⁻ (square-square,
  square-exponential); each term is averaged over its own batch, so B and B' may differ;
- *pairwise* losses are a function of the difference E⁺ − Ē⁻ (hinge, log, MCE). Which
  contrastive energy Ē⁻ a data sample is compared with is the ``pairing``:
  ``"all"`` compares every data sample with every contrastive sample (the mean over the
  B·B' pairs), ``"hardest"`` compares every data sample with the lowest contrastive
  energy of the batch, the batch's most offending incorrect answer.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.nn import functional

PAIRINGS: tuple[str, ...] = ("all", "hardest")
"""Accepted ``pairing`` values of the pairwise losses (see the module's docstring)."""


def pairwise_differences(real_energy: Tensor, fake_energy: Tensor, pairing: str = "all") -> Tensor:
    """The differences E⁺ − Ē⁻ a pairwise loss is applied to.

    ``"all"``: the (B, B') matrix E⁺_b − E⁻_b' of every pair; ``"hardest"``: the (B,)
    vector E⁺_b − min_b' E⁻_b' (the most offending contrastive sample of the batch,
    LeCun et al. 2006, §2.2.3).
    """
    if pairing == "all":
        return real_energy[:, None] - fake_energy[None, :]
    if pairing == "hardest":
        return real_energy - fake_energy.min()
    raise ValueError(f"pairing must be one of {', '.join(PAIRINGS)}, not {pairing!r}")


def square_square_loss(real_energy: Tensor, fake_energy: Tensor, margin: float = 1.0) -> Tensor:
    """The square-square loss (LeCun et al. 2006, §2.2.3, Table 1)::

        L = mean_b E⁺_b² + mean_b' ([m − E⁻_b']⁺)²        [t]⁺ = max(0, t)

    The data's energy is pulled to 0 and the contrastive samples' energy pushed above the
    margin m, beyond which they give no gradient. Meant for energies that are ≥ 0 (an
    auto-encoder's reconstruction error); with a signed energy it pulls the data to 0.
    It is EBGAN's margin loss (Zhao, Mathieu & LeCun 2017, eq. 1) with f = square.
    """
    return real_energy.square().mean() + torch.clamp(margin - fake_energy, min=0).square().mean()


def square_exponential_loss(real_energy: Tensor, fake_energy: Tensor, gamma: float = 1.0) -> Tensor:
    """The square-exponential loss (LeCun et al. 2006, §2.2.3, Table 1)::

        L = mean_b E⁺_b² + γ · mean_b' exp(−E⁻_b')

    Like square-square, but the push on contrastive samples never stops: it decays
    exponentially with their energy instead of vanishing at a margin. γ > 0 weighs it.
    """
    return real_energy.square().mean() + gamma * torch.exp(-fake_energy).mean()


def hinge_loss(
    real_energy: Tensor, fake_energy: Tensor, margin: float = 1.0, pairing: str = "all"
) -> Tensor:
    """The hinge loss (LeCun et al. 2006, §2.2.3, Table 1), the generalized margin loss
    with a linear penalty::

        L = mean over pairs [m + E⁺ − Ē⁻]⁺

    Zero once every contrastive energy exceeds the data's by at least m; only the gap
    matters, not the energies' level.
    """
    return torch.clamp(
        margin + pairwise_differences(real_energy, fake_energy, pairing), min=0
    ).mean()


def log_loss(real_energy: Tensor, fake_energy: Tensor, pairing: str = "all") -> Tensor:
    """The log loss (LeCun et al. 2006, §2.2.3, Table 1), a soft hinge with an infinite
    margin::

        L = mean over pairs log(1 + exp(E⁺ − Ē⁻)) = mean softplus(E⁺ − Ē⁻)

    It keeps pushing the gap E⁻ − E⁺ wider, ever more gently.
    """
    return functional.softplus(pairwise_differences(real_energy, fake_energy, pairing)).mean()


def mce_loss(real_energy: Tensor, fake_energy: Tensor, pairing: str = "all") -> Tensor:
    """The minimum classification error loss (LeCun et al. 2006, §2.2.3, Table 1; Juang
    et al. 1997)::

        L = mean over pairs σ(E⁺ − Ē⁻),     σ(t) = 1 / (1 + exp(−t))

    A smooth count of the pairs in the wrong order. It saturates at both ends, so pairs
    far on either side give almost no gradient; it is not convex.
    """
    return torch.sigmoid(pairwise_differences(real_energy, fake_energy, pairing)).mean()


def data_term_sampler_loss(fake_energy: Tensor) -> Tensor:
    """The generator's loss of the separable losses: their data term at the generator's
    samples, L_G = mean_b E(G(z_b))², so the generator asks for its samples what the
    energy's loss asks for data. With f = square this is EBGAN's eq. 2 (Zhao et al. 2017)."""
    return fake_energy.square().mean()


def energy_sampler_loss(fake_energy: Tensor) -> Tensor:
    """The generator's loss of the pairwise losses, EBGAN's eq. 2 (Zhao et al. 2017):
    L_G = mean_b E(G(z_b)), the energy loss of Table 1 at the generator's samples. The
    pairwise losses fix the energy only up to a constant, so the generator simply seeks
    lower energy."""
    return fake_energy.mean()
