"""Reusable dataset base classes for plugins and built-ins."""

from __future__ import annotations

import torch
from torch import Tensor

from ebkit.core.interfaces import DataBatch, Dataset, DataSpec

__all__ = ["TensorDataset"]


class TensorDataset(Dataset):
    """A finite dataset held once in memory, served in shuffled epochs.

    ``x: (N, *event_shape)`` float32 in ``[spec.low, spec.high]``; ``y: (N,)`` int64 or
    ``None``. Each epoch is a permutation drawn from the caller's generator; batches never
    straddle epochs (the last incomplete batch of an epoch is dropped, as in most GAN
    code). The epoch order and position are state, so a resumed run sees the same
    batches as an uninterrupted one.
    """

    def __init__(self, x: Tensor, y: Tensor | None, spec: DataSpec) -> None:
        if x.ndim != len(spec.event_shape) + 1 or tuple(x.shape[1:]) != spec.event_shape:
            raise ValueError(f"x has shape {tuple(x.shape)}, expected (N, *{spec.event_shape})")
        if y is not None and y.shape != (x.shape[0],):
            raise ValueError(f"{x.shape[0]} samples but {tuple(y.shape)} labels")
        if x.shape[0] == 0:
            raise ValueError("the dataset is empty")
        self.x = x
        self.y = y
        self.spec = spec
        self._order: Tensor | None = None
        self._position = 0

    def __len__(self) -> int:
        return self.x.shape[0]

    def sample(self, batch_size: int, generator: torch.Generator) -> DataBatch:
        if batch_size > len(self):
            raise ValueError(f"batch size {batch_size} exceeds the {len(self)} samples")
        if self._order is None or self._position + batch_size > len(self):
            self._order = torch.randperm(len(self), generator=generator)
            self._position = 0
        index = self._order[self._position : self._position + batch_size]
        self._position += batch_size
        return DataBatch(self.x[index], None if self.y is None else self.y[index])

    def state_dict(self) -> dict[str, Tensor | int | float | str]:
        if self._order is None:
            return {}
        return {"order": self._order.clone(), "position": self._position}

    def load_state_dict(self, state: dict[str, Tensor | int | float | str]) -> None:
        if not state:
            self._order, self._position = None, 0
            return
        order = state["order"]
        if not isinstance(order, Tensor) or order.shape != (len(self),):
            raise ValueError("saved epoch order does not match this dataset's size")
        self._order = order.to(torch.int64)
        self._position = int(state["position"])
