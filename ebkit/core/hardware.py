"""Where a run computes: the random state its modules draw from on each device.

The trainer keeps torch's global RNG state for its modules apart from the caller's
(:class:`ModuleRNG`), so that a run's dropout masks depend only on its seed and its
checkpoints, whatever else the process draws.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import Tensor

__all__ = ["ModuleRNG"]


class ModuleRNG:
    """torch's global RNG state for the modules of a run (``nn.Dropout`` offers no
    generator argument), seeded from ``seed`` on the CPU and, on a CUDA ``device``, on
    that device too. Checkpoints keep :attr:`cpu_state` and :attr:`cuda_state`."""

    def __init__(self, seed: int, device: torch.device) -> None:
        self.device = device
        self.cuda_devices = [device.index or 0] if device.type == "cuda" else []
        self.cpu_state: Tensor = torch.Generator().manual_seed(seed).get_state()
        self.cuda_state: Tensor | None = (
            torch.Generator(device).manual_seed(seed).get_state() if self.cuda_devices else None
        )

    @contextlib.contextmanager
    def scope(self) -> Iterator[None]:
        """Run the modules on the saved state, save where they left it, and leave the
        caller's global state untouched."""
        with torch.random.fork_rng(devices=self.cuda_devices):
            torch.set_rng_state(self.cpu_state)
            if self.cuda_state is not None:
                torch.cuda.set_rng_state(self.cuda_state, self.device)
            yield
            self.cpu_state = torch.get_rng_state()
            if self.cuda_state is not None:
                self.cuda_state = torch.cuda.get_rng_state(self.device)
