"""The optimisers of the energy and of a trainable sampler (``train.energy_optimizer``,
``train.sampler_optimizer``)."""

from __future__ import annotations

from collections.abc import Iterable

import torch

__all__ = ["OPTIMIZERS", "make_optimizer"]

OPTIMIZERS = ("adam", "sgd")
"""Adam (Kingma & Ba 2015) with ``beta1``/``beta2``, or plain SGD (no momentum), as in
the optimiser axes of the GAN grid of Zhao et al. (2017), EBGAN, Table 1."""


def make_optimizer(
    name: str, parameters: Iterable[torch.nn.Parameter], lr: float, betas: tuple[float, float]
) -> torch.optim.Optimizer:
    """The optimiser ``name`` (one of :data:`OPTIMIZERS`) over ``parameters``.

    Adam runs PyTorch's fused implementation where it can (floating-point parameters on
    the CPU or a CUDA device): one kernel updates every tensor, where the per-tensor
    implementation launches a dozen small operations per tensor and step
    (``benchmarks/optimizer.py``: a 2-D EBGAN step about 8 % faster on the CPU). The
    update is Adam's either way, equal up to float rounding."""
    parameters = list(parameters)
    if name == "sgd":
        return torch.optim.SGD(parameters, lr=lr)
    if name != "adam":
        raise ValueError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, not {name!r}")
    fused = all(p.is_floating_point() and p.device.type in ("cpu", "cuda") for p in parameters)
    return torch.optim.Adam(parameters, lr=lr, betas=betas, fused=fused or None)
