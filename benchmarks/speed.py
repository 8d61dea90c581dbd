"""What the speed benchmarks (``benchmarks/overhead.py``, ``benchmarks/langevin.py``)
share: timing blocks in interleaved rounds, the machine line with its load warning, the
networks' description, and the rows that compare the ``--precision`` and ``--compile``
variants with the eager hand loop."""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable

import torch
from rich.console import Console
from torch import nn

COMPILE_TARGET = 1.3
"""The throughput ratio compiled ebkit / eager hand loop we aim for."""


def describe_device(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{device} ({torch.cuda.get_device_name(device)})"
    return f"{device} ({platform.machine()})"


def timed(
    block: Callable[[], object],
    device: torch.device,
    clock: Callable[[], float] = time.perf_counter,
) -> float:
    """Seconds of ``block`` by ``clock``, waiting for a CUDA ``device`` at both ends."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = clock()
    block()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return clock() - start


def interleaved_rounds(
    loops: dict[str, Callable[[], object]],
    repeats: int,
    measure: Callable[[Callable[[], object]], float],
    stop: Callable[[], bool] = lambda: False,
) -> tuple[dict[str, list[float]], int]:
    """``measure(block)`` of every loop in ``repeats`` rounds, the order rotated each round
    so that no loop always goes first (the machine drifts); ends early when ``stop()``
    says so after a round. Returns the measurements by loop and the rounds run."""
    seconds: dict[str, list[float]] = {name: [] for name in loops}
    names = list(loops)
    rounds = 0
    for index in range(repeats):
        shift = index % len(names)
        for name in names[shift:] + names[:shift]:
            seconds[name].append(measure(loops[name]))
        rounds += 1
        if stop():
            break
    return seconds, rounds


def machine_line(device: torch.device, threads_given: bool) -> tuple[str, float, int]:
    """``device (arch), N threads, C CPUs, load average L``, with the load and the CPUs."""
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    cores = os.cpu_count() or 1
    threads = f"{torch.get_num_threads()} threads{'' if threads_given else ' (default)'}"
    line = f"{describe_device(device)}, {threads}, {cores} CPUs, load average {load:.1f}"
    return line, load, cores


def warn_if_loaded(out: Console, load: float, cores: int, hint: str = "") -> None:
    if load > cores:
        out.print(
            f"  [bold yellow]warning[/]: load average {load:.1f} > {cores} CPUs, so other "
            f"processes share them: noisy timings{hint}"
        )


def print_variant_ratios(out: Console, ratios: dict[str, float]) -> None:
    """One ``ratio NAME / eager hand loop`` line per variant row; compiled rows with
    their verdict against :data:`COMPILE_TARGET`."""
    for name, ratio in ratios.items():
        verdict = ""
        if name.endswith("compiled"):
            verdict = f" (>= {COMPILE_TARGET}: {'yes' if ratio >= COMPILE_TARGET else 'no'})"
        out.print(f"ratio {name} / eager hand loop: {ratio:.3f}{verdict}")


def repeat(step: Callable[[], object], times: int) -> Callable[[], None]:
    """A block that calls ``step`` ``times`` times."""

    def block() -> None:
        for _ in range(times):
            step()

    return block


def layer_widths(module: nn.Module) -> str:
    """The widths of the weight layers: ``MLP 64-1024-64`` or ``conv 1-64-128-...``."""
    convs = [m for m in module.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    if convs:
        widths = [convs[0].in_channels, *(layer.out_channels for layer in convs)]
        return "conv " + "-".join(map(str, widths))
    linear = [layer for layer in module.modules() if isinstance(layer, nn.Linear)]
    if not linear:
        return type(module).__name__
    return "MLP " + "-".join(
        str(n) for n in [linear[0].in_features, *(layer.out_features for layer in linear)]
    )


def parameter_count(module: nn.Module) -> str:
    return f"{sum(p.numel() for p in module.parameters()):,}"
