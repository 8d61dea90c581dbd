"""The Ladder network's vanilla combinator g(z̃, u): the per-unit denoising function that
merges a corrupted lateral code with the decoder's top-down signal."""

from __future__ import annotations

import torch
from torch import Tensor, nn

COMBINATOR_INIT: tuple[float, ...] = (0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0)
"""Initial a₁..a₁₀ of every unit: a₂ = a₇ = 1, the others 0, what the reference
implementation of Rasmus et al. (2015) does (CuriousAI/ladder,
``g_type='gauss'``), so at initialisation μ(u) = 0 and v(u) = 0, hence ẑ ≡ 0: the
decoder starts by predicting zero everywhere and the denoising cost starts as λ/d · ‖z‖²."""


def combinator_mean_and_weight(u: Tensor, a: Tensor) -> tuple[Tensor, Tensor]:
    """The two per-unit functions of the vanilla combinator (Rasmus et al. 2015, eq. 2)::

        μ(u) = a₁ · σ(a₂u + a₃) + a₄u + a₅
        v(u) = a₆ · σ(a₇u + a₈) + a₉u + a₁₀

    with σ the logistic sigmoid. ``u: (B, d)``, ``a: (10, d)`` (row k − 1 holds a_k for
    every unit) ``-> (μ, v)``, each ``(B, d)``. μ is the predicted mean of the clean
    code, v how much of the corrupted code to keep.
    """
    if a.shape[0] != 10 or a.shape[1:] != u.shape[1:]:
        raise ValueError(
            f"combinator parameters must be (10, {', '.join(map(str, u.shape[1:]))}), "
            f"got {tuple(a.shape)}"
        )
    mean = a[0] * torch.sigmoid(a[1] * u + a[2]) + a[3] * u + a[4]
    weight = a[5] * torch.sigmoid(a[6] * u + a[7]) + a[8] * u + a[9]
    return mean, weight


def vanilla_combinator(z_corrupted: Tensor, u: Tensor, a: Tensor) -> Tensor:
    """The denoised code ẑ = g(z̃, u), per unit (Rasmus et al. 2015, eq. 2)::

        ẑ = (z̃ − μ(u)) ⊙ v(u) + μ(u)

    (μ and v as in :func:`combinator_mean_and_weight`). ``z_corrupted, u: (B, d)``,
    ``a: (10, d) -> ẑ: (B, d)``. ebkit calls this form the *vanilla* combinator;
    Rasmus et al. name it the Gaussian denoising function, and Pezeshki et al. (2015)
    use "vanilla" for a different, MLP-like combinator.
    """
    mean, weight = combinator_mean_and_weight(u, a)
    return (z_corrupted - mean) * weight + mean


class VanillaCombinator(nn.Module):
    """The vanilla combinator of one layer of ``width`` units, with its learned
    a₁..a₁₀ per unit in ``a: (10, width)`` (initialised to :data:`COMBINATOR_INIT`).

    ``forward(z_corrupted: (B, width), u: (B, width)) -> ẑ: (B, width)``.
    """

    def __init__(self, width: int) -> None:
        super().__init__()
        if width < 1:
            raise ValueError(f"a combinator needs at least one unit, not {width}")
        initial = torch.tensor(COMBINATOR_INIT).unsqueeze(1).expand(10, width)
        self.a = nn.Parameter(initial.clone())

    def forward(self, z_corrupted: Tensor, u: Tensor) -> Tensor:
        return vanilla_combinator(z_corrupted, u, self.a)
