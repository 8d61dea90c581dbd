"""Watching the losses for NaN and infinity without stopping the device every step."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from ebkit.core.errors import NonFiniteLossError

__all__ = ["NonFiniteWatch"]


class NonFiniteWatch:
    """Remembers the first step whose loss was NaN or infinite, on the losses' device.

    :meth:`record` keeps a reference to the detached loss and nothing else, so a step
    costs no tensor operation and no host synchronisation (which would stall a GPU).
    The kept losses are folded into a record on the device in blocks of
    :attr:`block` (a handful of operations per block) and when :meth:`check` reads
    the record (one synchronisation) and raises. The trainer checks before metrics are
    read, before a checkpoint is saved and at the end of training, so a non-finite
    loss never reaches a checkpoint, and the message names the step where it first
    appeared.
    """

    block = 256
    """Losses kept before they are folded into the record (bounds the memory)."""

    def __init__(self, names: Sequence[str]) -> None:
        self.names = tuple(names)
        self._pending: list[Tensor] = []
        self._codes: list[int] = []  # step × len(names) + the loss's index, per pending loss
        self._first_code: Tensor | None = None  # -1 while every loss was finite
        self._first_value: Tensor | None = None

    def record(self, loss: Tensor, name: str, step: int) -> None:
        """Note ``loss`` (a scalar) of step ``step``; checked when folded."""
        self._pending.append(loss.detach())
        self._codes.append(step * len(self.names) + self.names.index(name))
        if len(self._pending) >= self.block:
            self._fold()

    def _fold(self) -> None:
        """Fold the pending losses into the record, on their device, without a sync."""
        if not self._pending:
            return
        values = torch.stack([value.reshape(()) for value in self._pending])
        device = values.device
        codes = torch.tensor(self._codes, dtype=torch.int64)
        if device.type == "cuda":  # a pinned, asynchronous copy: no wait for the device
            codes = codes.pin_memory()
        codes = codes.to(device, non_blocking=True)
        self._pending, self._codes = [], []
        bad = torch.isfinite(values).logical_not_()
        where = bad.to(torch.uint8).argmax()  # the first non-finite one, if any
        if self._first_code is None or self._first_value is None:
            self._first_code = torch.full((), -1, dtype=torch.int64, device=device)
            self._first_value = torch.zeros((), dtype=torch.float32, device=device)
        first = bad.any().logical_and_(self._first_code < 0)
        self._first_code = torch.where(first, codes[where], self._first_code)
        self._first_value = torch.where(first, values[where].float(), self._first_value)

    def check(self) -> None:
        """Raise :class:`NonFiniteLossError` naming the first non-finite loss, if any."""
        self._fold()
        if self._first_code is None or self._first_value is None:
            return
        code = int(self._first_code)  # the one host synchronisation
        if code < 0:
            return
        step, which = divmod(code, len(self.names))
        raise NonFiniteLossError(
            f"the {self.names[which]} became {float(self._first_value)} at step {step}; "
            "training stopped (try a lower learning rate or a smaller margin)"
        )
