"""Where and how a run computes: its device, mixed precision, compiled networks, and
the random state its modules draw from.

- :func:`resolve_device` turns ``--device`` into a :class:`torch.device`;
- :class:`Precision` runs the networks' forward passes under autocast (``--precision``)
  and keeps one gradient scaler per optimiser for ``fp16``;
- :func:`compile_networks` compiles them in place (``--compile``);
- :class:`ModuleRNG` keeps torch's global RNG state for the run's modules apart from the
  caller's, so that a run's dropout masks depend only on its seed and its checkpoints.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from ebkit.core.errors import UsageError

__all__ = [
    "DEVICE_NAMES",
    "PRECISIONS",
    "ModuleRNG",
    "Precision",
    "compile_networks",
    "compile_unavailable",
    "compiled_modules",
    "full_precision",
    "resolve_device",
]


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


# -- devices ----------------------------------------------------------------------------

DEVICE_NAMES = "auto, cpu, cuda, cuda:N"
"""What ``--device`` accepts, as its messages say."""


def resolve_device(name: str) -> torch.device:
    """The device ``name`` stands for: ``auto`` (CUDA where available, else the CPU),
    ``cpu``, ``cuda`` (the current CUDA device) or ``cuda:N``. A name that is none of
    these, or CUDA on a machine without it, raises :class:`UsageError` in one line."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cpu":
        return torch.device("cpu")
    match = re.fullmatch(r"cuda(?::(\d+))?", name)
    if match is None:
        raise UsageError(f"--device {name!r} is not a device (accepted: {DEVICE_NAMES})")
    if not torch.cuda.is_available():
        raise UsageError(f"--device {name}: no CUDA device is available here (accepted: auto, cpu)")
    count = torch.cuda.device_count()
    index = torch.cuda.current_device() if match.group(1) is None else int(match.group(1))
    if index >= count:
        raise UsageError(
            f"--device {name}: this machine has {count} CUDA device(s) "
            f"(accepted: cuda:0 to cuda:{count - 1})"
        )
    return torch.device("cuda", index)


# -- mixed precision ------------------------------------------------------------------

PRECISIONS: dict[str, torch.dtype | None] = {
    "fp32": None,
    "bf16": torch.bfloat16,
    "fp16": torch.float16,
}
"""``--precision``: the dtype autocast runs the networks' layers in (``None``: float32
throughout, the default)."""

HALF_DTYPES = (torch.float16, torch.bfloat16)


def full_precision(tensor: Tensor) -> Tensor:
    """``tensor`` in float32 if autocast left it in float16 or bfloat16; else itself
    (float32 and float64 pass unchanged, so a float32 run is untouched bit for bit)."""
    return tensor.float() if tensor.dtype in HALF_DTYPES else tensor


class Precision:
    """Mixed-precision training (Micikevicius et al. 2018): the networks' forward passes
    run under :func:`torch.autocast` in ``bf16`` or ``fp16``; everything else stays in
    float32. ``fp16`` gradients underflow without loss scaling, so each optimiser
    (``optimizers`` names them) gets its own :class:`torch.amp.GradScaler`, whose state
    checkpoints keep (:meth:`state_dict`). ``fp32`` changes nothing.

    A GradScaler reads whether the gradients were finite before each optimiser step, one
    host synchronisation per step; ``bf16`` has float32's exponent range and needs none.
    """

    def __init__(self, name: str, device: torch.device, optimizers: Sequence[str]) -> None:
        if name not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, not {name!r}")
        self.name = name
        self.device = device
        self.dtype = PRECISIONS[name]
        self.scalers = (
            {key: torch.amp.GradScaler(device.type) for key in optimizers} if name == "fp16" else {}
        )

    def autocast(self) -> contextlib.AbstractContextManager[object]:
        """The context of the networks' forward passes."""
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.dtype)

    def descend(self, key: str, optimizer: torch.optim.Optimizer, loss: Tensor) -> None:
        """One optimiser step on ``loss`` (a float32 scalar), scaled under ``fp16``."""
        optimizer.zero_grad(set_to_none=True)
        scaler = self.scalers.get(key)
        if scaler is None:
            loss.backward()
            optimizer.step()
            return
        scaler.scale(loss).backward()
        scaler.step(optimizer)  # skipped when a gradient overflowed
        scaler.update()

    def state_dict(self) -> dict[str, dict[str, Any]]:
        """The gradient scalers' states by optimiser (plain JSON values; empty unless
        ``fp16``)."""
        return {key: dict(scaler.state_dict()) for key, scaler in self.scalers.items()}

    def load_state_dict(self, state: Mapping[str, Mapping[str, Any]]) -> None:
        """Restore the scalers saved by :meth:`state_dict`; a scaler with no saved state
        (a run that trained in another precision before) starts afresh."""
        for key, scaler in self.scalers.items():
            if key in state:
                scaler.load_state_dict(dict(state[key]))


# -- compilation ------------------------------------------------------------------------


def compiled_modules(energy: nn.Module, sampler: nn.Module) -> list[nn.Module]:
    """The networks ``--compile`` compiles: the energy and every trainable sampler
    inside ``sampler`` (a generator, also within a composition); MCMC samplers have no
    network of their own and run the energy's compiled forward."""
    samplers = [
        module
        for module in sampler.modules()
        if getattr(module, "trainable", False) and any(True for _ in module.parameters())
    ]
    return [energy, *samplers]


def compile_networks(energy: nn.Module, sampler: nn.Module) -> None:
    """Compile the forward passes of :func:`compiled_modules` in place
    (:meth:`torch.nn.Module.compile`): their parameters and state-dict keys stay those of
    the plain modules, so compiled and eager runs read each other's checkpoints."""
    for module in compiled_modules(energy, sampler):
        module.compile()


def compile_unavailable() -> str | None:
    """Why :func:`torch.compile` cannot run here (``None`` when it can), found by
    compiling a one-line function: a missing C compiler or an unsupported platform."""
    try:
        probe = torch.compile(lambda x: x * 2 + 1, dynamic=False)
        probe(torch.ones(2))
    except Exception as error:  # any failure of the compiler stack means eager
        first = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
        return f"{type(error).__name__}: {first}"
    return None
