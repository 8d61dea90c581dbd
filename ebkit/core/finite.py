"""Watching the losses for NaN and infinity without stopping the device every step."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from ebkit.core.errors import NonFiniteLossError

__all__ = ["NonFiniteWatch"]


class NonFiniteWatch:
    """Remembers the first step whose loss was NaN or infinite, on the losses' device.

    :meth:`record` only queues a few tensor operations, so a step needs no host
    synchronisation (which would stall a GPU); :meth:`check` reads the record (one
    synchronisation) and raises. The trainer checks before metrics are read, before a
    checkpoint is saved and at the end of training, so a non-finite loss never reaches
    a checkpoint, and the message names the step where it first appeared.
    """

    def __init__(self, names: Sequence[str]) -> None:
        self.names = tuple(names)
        self._first_step: Tensor | None = None  # -1 while every loss was finite
        self._which: Tensor | None = None
        self._value: Tensor | None = None

    def record(self, loss: Tensor, name: str, step: int) -> None:
        """Note ``loss`` (a scalar) of step ``step`` if it is the first non-finite one."""
        value = loss.detach().reshape(())
        if self._first_step is None or self._value is None or self._which is None:
            device = value.device
            self._first_step = torch.full((), -1, dtype=torch.int64, device=device)
            self._which = torch.zeros((), dtype=torch.int64, device=device)
            self._value = torch.zeros((), dtype=value.dtype, device=device)
        first = torch.isfinite(value).logical_not_().logical_and_(self._first_step < 0)
        self._first_step = torch.where(first, step, self._first_step)
        self._which = torch.where(first, self.names.index(name), self._which)
        self._value = torch.where(first, value.to(self._value.dtype), self._value)

    def check(self) -> None:
        """Raise :class:`NonFiniteLossError` naming the first non-finite loss, if any."""
        if self._first_step is None or self._value is None or self._which is None:
            return
        step = int(self._first_step)  # the one host synchronisation
        if step < 0:
            return
        raise NonFiniteLossError(
            f"the {self.names[int(self._which)]} became {float(self._value)} at step {step}; "
            "training stopped (try a lower learning rate or a smaller margin)"
        )
