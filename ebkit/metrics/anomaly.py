"""AUROC of energies for anomaly scoring: does the energy rank outliers above the data?

An energy model assigns low energy to data it has learnt, so the energy itself is an
anomaly score: higher energy, more anomalous. :func:`energy_auroc` measures how well it
separates in-distribution samples from outliers, with ties counted ½ (the Mann–Whitney
form of the AUROC, Hanley & McNeil 1982).
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["average_ranks", "energy_auroc"]


def average_ranks(values: Tensor) -> Tensor:
    """1-based ranks of ``values: (N,)`` in ascending order, tied values sharing the
    mean of the ranks they span, ``-> (N,)`` float64 (e.g. [10, 20, 20, 30] ->
    [1, 2.5, 2.5, 4])."""
    if values.ndim != 1:
        raise ValueError(f"values must have shape (N,), not {tuple(values.shape)}")
    _, inverse, counts = torch.unique(values, sorted=True, return_inverse=True, return_counts=True)
    last_rank = counts.cumsum(dim=0).to(torch.float64)
    # A group of c ties ending at rank r spans ranks r − c + 1 .. r, mean r − (c − 1)/2.
    return (last_rank - (counts.to(torch.float64) - 1) / 2)[inverse]


def _energies(name: str, energies: Tensor) -> Tensor:
    if not isinstance(energies, Tensor):
        raise ValueError(f"{name} must be a torch.Tensor of energies, not {type(energies)}")
    energies = energies.detach().reshape(-1).to("cpu", torch.float64)
    if len(energies) == 0:
        raise ValueError(f"{name} is empty: the AUROC needs at least one energy on each side")
    if torch.isnan(energies).any():
        raise ValueError(f"{name} contains NaN energies, which cannot be ranked")
    return energies


def energy_auroc(in_distribution: Tensor, outliers: Tensor) -> float:
    """Area under the ROC curve of the energy as an outlier score (higher is better:
    1 when every outlier has a **higher** energy than every in-distribution sample, 0.5
    for chance, 0 when the energy ranks them the wrong way round).

    AUROC = P(E(x_out) > E(x_in)) + ½ P(E(x_out) = E(x_in)) over independent pairs,
    computed from ranks (the Mann–Whitney U statistic):
    AUROC = (R_out − n_out(n_out + 1)/2) / (n_in · n_out), where R_out is the sum of the
    outliers' ranks in the pooled set with average ranks for ties (:func:`average_ranks`).
    ``in_distribution: (N,)`` and ``outliers: (M,)`` energies (any shape, flattened);
    ±inf is allowed, NaN is not.
    """
    inside, outside = _energies("in_distribution", in_distribution), _energies("outliers", outliers)
    ranks = average_ranks(torch.cat([inside, outside]))
    n_in, n_out = len(inside), len(outside)
    outlier_rank_sum = ranks[n_in:].sum()
    return float((outlier_rank_sum - n_out * (n_out + 1) / 2) / (n_in * n_out))
