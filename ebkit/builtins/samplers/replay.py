"""The ``replay`` sampler: persistent Langevin chains kept in a replay buffer.

IGEBM's sample replay buffer (Du & Mordatch 2019, Algorithm 1): each chain starts from a
random slot of the buffer, or with probability ``reinit`` from fresh noise, runs K
Langevin steps on the current energy, and is written back to the slot it came from, so
chains persist across training steps and grow long without costing more than K steps
each time.

The buffer is a registered buffer of fixed shape ``(capacity, *event_shape)`` and dtype
float32, decided at construction from the :class:`~ebkit.DataSpec`, so it is saved in
every checkpoint and ``load_state_dict`` restores it exactly: a resumed run continues
with the same chains. It costs capacity × event size × 4 bytes of memory and of every
checkpoint: 64 KiB for the 2-D toys, 2 MiB for 8×8 digits, 25.7 MB for 28×28 MNIST and
100.7 MB for 32×32 colour images at the default capacity 8192.

The chains move with Langevin dynamics unless ``kernel`` names another chain kernel of
the registry (:mod:`ebkit.plugin.kernels`), e.g. ``hmc``: Hamiltonian Monte Carlo
chains persisting in the buffer.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from ebkit.builtins.samplers.chains import make_chain
from ebkit.builtins.samplers.langevin import LangevinSampler
from ebkit.core.chains import floating_dtype
from ebkit.core.errors import UsageError
from ebkit.core.interfaces import ContrastiveSampler, DataSpec, EnergyFunction
from ebkit.plugin.kernels import BUILTIN_KERNEL, is_builtin_kernel

__all__ = ["ReplaySampler"]


VECTOR_REPLAY_STEPS = 20
"""Langevin steps per call of the replay sampler on vector data (``steps`` = auto)."""

IMAGE_REPLAY_STEPS = 60
"""Langevin steps per call on images (``steps`` = auto): IGEBM's K = 60."""


class ReplaySampler(ContrastiveSampler):
    """Langevin chains that persist in a buffer of ``capacity`` slots (module docstring).

    The buffer is filled with ``init`` noise (uniform in the data range by default) when
    the sampler is built, from torch's default generator: the build seeds it from the
    run's seed like any parameter initialisation, so it is reproducible, and it is in
    the state from the start (no lazy first use to track).

    :meth:`sample` in training mode draws ``n`` distinct slots (``n <= capacity``),
    replaces each start by fresh ``init`` noise with probability ``reinit``, refines
    them with the Langevin options (``langevin_options``, those of
    :class:`~ebkit.builtins.samplers.langevin.LangevinSampler`) and writes the end points back to
    their slots. In eval mode (sample pictures during training, ``ebkit sample``) it
    reads the buffer but never writes it, so drawing pictures does not change the
    training trajectory; slots are then drawn with replacement, so ``n`` may exceed the
    capacity. Randomness: slot indices, then the reinit coin flips, then the fresh noise,
    then the Langevin noise, all from ``generator``.

    Drawing samples from a trained model (eval mode) continues the persistent chains,
    which are the model's samples in persistent contrastive divergence (Tieleman 2008),
    for ``sample_rounds`` calls' worth of steps (auto = 1, as in training).
    ``sample_reinit`` replaces ``reinit`` there: auto = 0 on vectors, where a restart is
    a training device that would put chains fresh from noise among the samples (a chain
    needs hundreds of steps to reach a narrow mode), and ``reinit`` on images, as
    before. More rounds sharpen the samples but move them towards the energy's own
    equilibrium, which the chains of a persistent run need not be in (the mode shares of
    an unequal mixture, the spread along ``moons``; docs/components/replay.md).

    :meth:`metrics`: the Langevin diagnostics (of the last round) plus ``fresh_share``,
    the share of chains that started from fresh noise.
    """

    def __init__(
        self,
        spec: DataSpec,
        *,
        capacity: int = 8192,
        reinit: float = 0.05,
        steps: int | None = None,
        sample_rounds: int | None = None,
        sample_reinit: float | None = None,
        kernel: str = BUILTIN_KERNEL,
        kernel_options: str = "",
        **langevin_options: Any,
    ) -> None:
        super().__init__(spec)
        explicit_steps = steps
        if steps is None:
            # Persistent chains continue across training steps, so on vectors a few steps
            # per call suffice and leave time for more training steps.
            steps = VECTOR_REPLAY_STEPS if not spec.is_image else IMAGE_REPLAY_STEPS
        langevin_options["steps"] = steps
        if explicit_steps is not None and not is_builtin_kernel(kernel):
            raise ValueError(
                f"steps is a Langevin option and kernel={kernel}; set the kernel's own "
                "steps in kernel_options (e.g. kernel_options='steps=10')"
            )
        if not (isinstance(capacity, int) and capacity >= 1):
            raise ValueError(f"capacity must be a whole number >= 1, not {capacity!r}")
        if sample_rounds is None:
            sample_rounds = 1
        if sample_reinit is None:
            sample_reinit = reinit if spec.is_image else 0.0
        if not (isinstance(sample_rounds, int) and sample_rounds >= 0):
            raise ValueError(f"sample_rounds must be a whole number >= 0, not {sample_rounds!r}")
        for option, value in (("reinit", reinit), ("sample_reinit", sample_reinit)):
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{option} must be a probability in [0, 1], not {value!r}")
        self.capacity = capacity
        self.reinit = float(reinit)
        self.sample_rounds = sample_rounds
        self.sample_reinit = float(sample_reinit)
        self.kernel = kernel
        # steps is auto here, not Langevin's 60: only a value the user set counts as set.
        self.chain: Any = make_chain(
            spec, kernel, kernel_options, langevin_options, {"steps": steps}
        )
        self.register_buffer(
            "buffer", self.chain.initial(capacity, None, dtype=torch.float32, device="cpu")
        )
        self._fresh: Tensor | None = None

    def sample(self, n: int, energy: EnergyFunction, generator: torch.Generator) -> Tensor:
        """``n`` chains continued from the buffer: ``(n, *event_shape)``, detached, in the
        dtype of the energy's parameters."""
        buffer: Tensor = self.buffer
        device = buffer.device
        if self.training:
            if n > self.capacity:
                raise UsageError(
                    f"the replay sampler cannot draw {n} distinct chains from a buffer of "
                    f"{self.capacity}; set sampler.capacity to at least the batch size"
                )
            slots = torch.randperm(self.capacity, generator=generator, device=device)[:n]
        else:
            slots = torch.randint(self.capacity, (n,), generator=generator, device=device)
        reinit, rounds = (
            (self.reinit, 1) if self.training else (self.sample_reinit, self.sample_rounds)
        )
        dtype = floating_dtype(energy)
        chains = buffer[slots].to(dtype)
        self._fresh = None
        if reinit > 0:
            fresh = torch.rand(n, generator=generator, device=device) < reinit
            noise = self.chain.initial(n, generator, dtype=dtype)
            chains = torch.where(fresh.view(n, *(1,) * (chains.ndim - 1)), noise, chains)
            self._fresh = fresh
        for _ in range(rounds):
            chains = self.chain.refine(chains, energy, generator)
        if self.training:
            buffer.index_copy_(0, slots, chains.to(buffer.dtype))
        return chains

    def metrics(self) -> dict[str, Tensor | float]:
        metrics = self.chain.metrics()
        if self._fresh is not None:
            metrics["fresh_share"] = self._fresh.float().mean()
        elif (self.reinit if self.training else self.sample_reinit) == 0:
            metrics["fresh_share"] = 0.0
        return metrics

    @property
    def langevin(self) -> LangevinSampler:
        """The Langevin chains (``kernel`` = langevin only)."""
        if not isinstance(self.chain, LangevinSampler):
            raise TypeError(f"this replay sampler runs kernel {self.kernel!r}, not langevin")
        return self.chain

    def extra_repr(self) -> str:
        return (
            f"capacity={self.capacity}, reinit={self.reinit:g}, "
            f"sample_rounds={self.sample_rounds}, sample_reinit={self.sample_reinit:g}"
        )
