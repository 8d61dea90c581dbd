"""The formulas of the regularised auto-encoders, as plain tensor functions.

Each auto-encoder's energy is a reconstruction error; what keeps it from learning the
identity (zero energy everywhere, LeCun et al. 2006 §1.3) is the regulariser: noise on the
input (denoising), a penalty on the encoder's Jacobian (contractive) or on the code's L1
norm (sparse). Everything here is per sample, ``(B, ...) -> (B,)``, so a caller can
average over the batch or keep the energies apart.
"""

from __future__ import annotations

import torch
from torch import Tensor

DISTANCES: tuple[str, ...] = ("mse", "l2")
"""Reconstruction errors :func:`reconstruction_error` knows."""


def reconstruction_error(residual: Tensor, distance: str = "mse") -> Tensor:
    """The energy of an auto-encoder from ``residual = r(x) − x``, ``(B, *event) -> (B,)``::

    mse: E(x) = (1/d)·‖r(x) − x‖₂²      (the squared error of LeCun et al. 2006, §2.1,
                                          averaged over the d scalars of a sample)
    l2:  E(x) = ‖r(x) − x‖₂              (EBGAN's energy, Zhao et al. 2017, §2.3)
    """
    flat = residual.reshape(residual.shape[0], -1)
    if distance == "mse":
        return flat.square().mean(dim=1)
    if distance == "l2":
        return torch.linalg.vector_norm(flat, ord=2, dim=1)
    raise ValueError(f"distance must be one of {', '.join(DISTANCES)}, not {distance!r}")


def denoising_error(
    reconstruction_of_corrupted: Tensor, clean: Tensor, distance: str = "mse"
) -> Tensor:
    """The denoising auto-encoder's cost for one corruption x̃ = x + σ·ε, ε ~ N(0, I)
    (Vincent et al. 2008, §2.3; Vincent et al. 2010, eq. 3 with a Gaussian corruption)::

        E(x; ε) = (1/d)·‖r(x̃) − x‖₂²      (mse; l2: the norm, not squared)

    The reconstruction of the *corrupted* input is compared with the *clean* one, so the
    identity map scores σ²·‖ε‖²/d instead of 0: a constant cost it cannot lower, while a
    map that pulls x̃ back towards the data (Alain & Bengio 2014: r(x̃) − x̃ ≈ σ²·∇log p)
    can. ``reconstruction_of_corrupted, clean: (B, *event) -> (B,)``.
    """
    if reconstruction_of_corrupted.shape != clean.shape:
        raise ValueError(
            f"reconstruction shape {tuple(reconstruction_of_corrupted.shape)} does not match "
            f"the clean input's {tuple(clean.shape)}"
        )
    return reconstruction_error(reconstruction_of_corrupted - clean, distance)


def contractive_penalty(jacobian: Tensor) -> Tensor:
    """The contractive penalty of Rifai et al. (2011, eq. 2), per sample::

        Ω(x) = ‖J(x)‖_F² = Σ_j Σ_i (∂h_j(x)/∂x_i)²

    ``jacobian: (B, k, d)``, the Jacobian of a k-valued map (the encoder's code h, or the
    whole reconstruction r as in Alain & Bengio 2014, §3) at each of B inputs of d
    scalars, -> ``(B,)``. For one sigmoid layer h = s(Wx + b) it is
    Σ_j (h_j(1 − h_j))²·Σ_i W_ji² (Rifai et al. 2011, eq. 5), which the tests check.
    """
    if jacobian.ndim != 3:
        raise ValueError(f"jacobian must be (B, k, d), got shape {tuple(jacobian.shape)}")
    return jacobian.square().sum(dim=(1, 2))


def sparse_penalty(code: Tensor) -> Tensor:
    """The sparsity penalty on the code, per sample (the L1 form of sparse auto-encoders
    and sparse coding: Ranzato et al. 2007, §2; Lee et al. 2007, eq. 1)::

        Ω(x) = ‖h(x)‖₁ = Σ_j |h_j(x)|

    ``code: (B, k) -> (B,)``. Its gradient is sign(h_j) (0 at h_j = 0, torch's subgradient).
    """
    if code.ndim != 2:
        raise ValueError(f"code must be (B, k), got shape {tuple(code.shape)}")
    return code.abs().sum(dim=1)
