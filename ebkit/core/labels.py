"""Class labels for conditional runs: which classes to draw, in which order, and the
energy of a sample whose class is not given."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ebkit.core.interfaces import DataSpec, EnergyFunction

__all__ = ["class_cycle", "class_grid", "class_rows", "marginal_energy"]


def marginal_energy(energy: EnergyFunction, x: Tensor) -> Tensor:
    """The energies ``(B,)`` of ``x`` when no class is given: E(x) for an unconditional
    energy; for a conditional one, min over y of E(x | y), the energy of the class that
    fits each sample best (what an energy-based model infers when y is unknown)."""
    spec = energy.spec
    if not spec.conditional:
        return energy(x).energy
    assert spec.num_classes is not None  # a conditional spec always has classes
    per_class = [
        energy(x, torch.full((len(x),), label, device=x.device)).energy
        for label in range(spec.num_classes)
    ]
    return torch.stack(per_class).amin(dim=0)


def class_cycle(n: int, num_classes: int) -> Tensor:
    """Labels 0, 1, …, K − 1, 0, 1, … for ``n`` samples: every class equally often."""
    return torch.arange(n) % num_classes


def class_rows(num_classes: int, per_class: int) -> Tensor:
    """Labels for a class grid: ``per_class`` samples of class 0, then of class 1, …; a
    grid with ``per_class`` columns shows one class per row."""
    return torch.arange(num_classes).repeat_interleave(per_class)


def class_grid(spec: DataSpec, count: int) -> tuple[Tensor | None, int | None]:
    """Labels and row length for a picture of about ``count`` samples: for a conditional
    ``spec``, one row per class of ⌈count / K⌉ samples (:func:`class_rows`); otherwise
    ``(None, None)``, unconditional samples in a square grid."""
    if not spec.conditional:
        return None, None
    assert spec.num_classes is not None  # a conditional spec always has classes
    per_class = max(1, math.ceil(count / spec.num_classes))
    return class_rows(spec.num_classes, per_class), per_class
