"""What every sampler that runs chains on an energy needs, for built-ins and plugins alike.

A sampler moving points by the energy's gradient (Langevin dynamics, Hamiltonian Monte
Carlo, a chain kernel of ``replay`` or ``generator-langevin``) has to draw start points in
the data's range, follow ∇ₓE without training the energy, and draw its samples in the
energy's precision. These helpers do it the way ebkit's own samplers do, so a plugin's
chains behave like theirs (``docs/plugins.md``, "samplers that run chains"):

- :func:`start_points`: uniform or Gaussian noise in the data's range ``[low, high]``;
- :func:`frozen`: the energy's parameters switched off while the chains run;
- :func:`floating_dtype`: the dtype to draw samples in (a float64 energy gets float64
  chains);
- :func:`energy_and_grad`: E(x) and ∇ₓE(x) for a batch, detached.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import Tensor

from ebkit.core.interfaces import DataSpec, EnergyFunction

__all__ = ["START_DISTRIBUTIONS", "energy_and_grad", "floating_dtype", "frozen", "start_points"]

START_DISTRIBUTIONS = ("uniform", "gaussian")
"""The start-point distributions of :func:`start_points`, the values of the ``init``
option of ebkit's chain samplers."""


def start_points(
    spec: DataSpec,
    n: int,
    generator: torch.Generator | None,
    *,
    init: str = "uniform",
    clamp: bool = True,
    dtype: torch.dtype | None = None,
    device: torch.device | str | None = None,
) -> Tensor:
    """``n`` start points ``(n, *spec.event_shape)``: ``uniform`` in ``[low, high]``, or
    ``gaussian`` with mean (low + high)/2 and standard deviation (high − low)/4, clamped
    to ``[low, high]`` when ``clamp``.

    Drawn from ``generator`` on its device, so a seeded run draws the same points; with
    ``generator=None``, from torch's default generator on ``device`` (how a replay
    buffer is filled when it is built, before a run's generator exists).
    """
    if init not in START_DISTRIBUTIONS:
        raise ValueError(f"init must be one of {', '.join(START_DISTRIBUTIONS)}, not {init!r}")
    if generator is not None:
        device = generator.device
    shape = (n, *spec.event_shape)
    low, high = spec.low, spec.high
    if init == "uniform":
        unit = torch.rand(shape, generator=generator, device=device, dtype=dtype)
        return unit.mul_(high - low).add_(low)
    start = torch.randn(shape, generator=generator, device=device, dtype=dtype)
    start = start.mul_(0.25 * (high - low)).add_(0.5 * (low + high))
    return start.clamp_(low, high) if clamp else start


@contextlib.contextmanager
def frozen(module: torch.nn.Module) -> Iterator[None]:
    """Turn off ``requires_grad`` of the module's trainable parameters, then restore
    exactly those (parameters that were frozen before stay frozen).

    While chains run on an energy no gradient may reach its parameters (the samples are
    constants of the loss that trains it), and none may be left on them afterwards.
    """
    trainable = [parameter for parameter in module.parameters() if parameter.requires_grad]
    for parameter in trainable:
        parameter.requires_grad_(False)
    try:
        yield
    finally:
        for parameter in trainable:
            parameter.requires_grad_(True)


def floating_dtype(module: torch.nn.Module) -> torch.dtype:
    """The dtype of the module's first floating parameter or buffer (samples are drawn in
    it, so a float64 energy gets float64 chains), else torch's default dtype."""
    for tensor in (*module.parameters(), *module.buffers()):
        if tensor.is_floating_point():
            return tensor.dtype
    return torch.get_default_dtype()


def energy_and_grad(
    energy: EnergyFunction, x: Tensor, labels: Tensor | None = None
) -> tuple[Tensor, Tensor]:
    """``x: (B, *event_shape) -> (E(x): (B,), ∇ₓE(x): (B, *event_shape))``, both detached;
    E(x | y) for ``labels`` y: ``(B,)`` in a conditional run.

    ``x`` must be a tensor without a graph (a leaf, e.g. ``point.detach()``); it requires
    grad only meanwhile. Call it under ``torch.enable_grad()`` (samplers may be called
    in ``no_grad`` code, e.g. by ``ebkit sample``). An energy whose output does not
    depend on its input is an error: the chains would have nothing to follow.
    """
    x.requires_grad_(True)
    try:
        values = energy.evaluate(x, labels).energy
        if not values.requires_grad:
            raise RuntimeError(
                f"the energy {type(energy).__name__} does not depend on its input, "
                "so the chains have no gradient to follow"
            )
        (grad,) = torch.autograd.grad(values.sum(), x)
    finally:
        x.requires_grad_(False)
    return values.detach(), grad
