"""How fast is ebkit's Langevin sampler against a hand-written ``torch.autograd.grad`` loop?

Both run the same step, x ← clip(x − η·clip(∇ₓE(x), ±c) + σ·ξ, [lo, hi]), on the same
small MLP energy (2 → 128 → 128 → 1, SiLU; an :class:`ebkit.EnergyFunction` defined here,
so the benchmark needs no energy plugin), for 1024 chains and 100 steps, drawing the
start points and the noise from generators with the same seed, so they compute the same
chains: the script checks that once (allclose) before timing anything. Then it times
interleaved blocks of

- ``hand loop``: the minimal loop (the energy's ``forward`` written out around its
  ``nn.Sequential``, parameters frozen once, no diagnostics);
- ``ebkit langevin``: ``LangevinSampler.sample`` followed by ``metrics()``, as the engine
  calls them (freezing and restoring the parameters, the ``EnergyOutput`` wrapper and the
  per-step diagnostics included);
- ``ebkit replay``: ``ReplaySampler.sample`` in training mode (capacity 8192): the same
  chains plus drawing the slots, the 5 % fresh starts and the write-back;
- ``replay, K = 0``: the replay sampler with no Langevin steps, the buffer's own cost;

and prints each one's median time per call and per Langevin step with its spread, and
the throughput ratio ebkit / hand loop (target ≥ 0.98). ``--precision bf16`` (or fp16,
repeatable) adds a row ``ebkit langevin, bf16``: the energy's forward under autocast, as
``ebkit train --precision bf16`` runs it (the chain itself stays float32); ``--compile``
adds ``ebkit langevin, compiled``: the energy compiled with ``torch.compile``
(compilation untimed). Both are compared with the same eager float32 hand loop (the
``--compile`` target: ≥ 1.3). It is a benchmark, not a test:
the exit code is 0 whatever the ratio (1 only if the two loops disagree). See
benchmarks/README.md.

    python benchmarks/langevin.py                   # the defaults
    python benchmarks/langevin.py --threads 1 --clock cpu --repeats 20    # on a busy machine
    python benchmarks/langevin.py --threads 1 --precision bf16 --compile
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import platform
import statistics
import sys
import time
from collections.abc import Callable

import torch
from rich.console import Console
from rich.table import Table
from speed import (
    interleaved_rounds,
    machine_line,
    print_variant_ratios,
    repeat,
    timed,
    warn_if_loaded,
)
from torch import Tensor, nn

from ebkit import DataSpec, EnergyFunction, EnergyOutput
from ebkit.builtins.samplers.langevin import LangevinSampler
from ebkit.builtins.samplers.replay import ReplaySampler
from ebkit.core.errors import UsageError
from ebkit.core.hardware import PRECISIONS, compile_unavailable, resolve_device

TARGET = 0.98
"""The throughput ratio ebkit / hand loop we aim for."""

HAND = "hand loop"
LANGEVIN = "ebkit langevin"
REPLAY = "ebkit replay"
BUFFER = "replay, K = 0"


class TinyMLPEnergy(EnergyFunction):
    """E(x) = MLP(x), ``(B, 2) -> (B,)``: Linear-SiLU-Linear-SiLU-Linear."""

    def __init__(self, spec: DataSpec, width: int) -> None:
        super().__init__(spec)
        self.net = nn.Sequential(
            nn.Linear(spec.dim, width),
            nn.SiLU(),
            nn.Linear(width, width),
            nn.SiLU(),
            nn.Linear(width, 1),
        )

    def forward(self, x: Tensor) -> EnergyOutput:
        return EnergyOutput(energy=self.net(x.flatten(1)).squeeze(1))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Throughput of ebkit's Langevin sampler against a hand-written loop.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--chains", type=int, default=1024, help="chains per call")
    parser.add_argument("--steps", type=int, default=100, help="Langevin steps per call")
    parser.add_argument("--width", type=int, default=128, help="hidden width of the MLP")
    parser.add_argument("--repeats", type=int, default=9, help="timed rounds")
    parser.add_argument("--calls", type=int, default=1, help="sampler calls per timed block")
    parser.add_argument("--capacity", type=int, default=8192, help="replay buffer slots")
    parser.add_argument("--step-size", type=float, default=10.0, help="η")
    parser.add_argument("--noise-scale", type=float, default=0.005, help="σ (independent)")
    parser.add_argument("--grad-clip", type=float, default=0.03, help="c")
    parser.add_argument(
        "--clock",
        choices=tuple(CLOCKS),
        default="wall",
        help="wall: elapsed time; cpu: this process's CPU time (steadier on a busy machine, "
        "with --threads 1)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    parser.add_argument(
        "--precision",
        action="append",
        default=[],
        choices=("fp32", "bf16", "fp16"),
        help="add a langevin row whose energy runs in this precision (repeatable)",
    )
    parser.add_argument(
        "--compile", action="store_true", help="add a langevin row with the energy compiled"
    )
    parser.add_argument(
        "--threads", type=int, default=None, help="torch.set_num_threads [default: torch's]"
    )
    args = parser.parse_args(argv)
    for name in ("chains", "steps", "width", "repeats", "calls", "capacity", "threads"):
        value = getattr(args, name)
        if value is not None and value < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.chains > args.capacity:
        parser.error("--chains must not exceed --capacity (the replay draws distinct slots)")
    return args


# -- the two samplers --------------------------------------------------------------------


class HandLoop:
    """The minimal Langevin loop in plain PyTorch, on a frozen copy of the network."""

    def __init__(self, energy: TinyMLPEnergy, spec: DataSpec, args: argparse.Namespace) -> None:
        self.net = copy.deepcopy(energy.net).requires_grad_(False)  # on the energy's device
        self.low, self.high = spec.low, spec.high
        self.chains, self.steps = args.chains, args.steps
        self.step_size, self.noise_scale, self.grad_clip = (
            args.step_size,
            args.noise_scale,
            args.grad_clip,
        )

    def sample(self, generator: torch.Generator) -> Tensor:
        low, high, eta, sigma, c = (
            self.low,
            self.high,
            self.step_size,
            self.noise_scale,
            self.grad_clip,
        )
        device = generator.device
        x = torch.rand((self.chains, 2), generator=generator, device=device) * (high - low) + low
        for _ in range(self.steps):
            x.requires_grad_(True)
            # TinyMLPEnergy.forward written out: E(x) = net(x.flatten(1)).squeeze(1)
            energies = self.net(x.flatten(1)).squeeze(1)
            (grad,) = torch.autograd.grad(energies.sum(), x)
            noise = torch.randn(x.shape, generator=generator, device=device)
            x = (x.detach() - eta * grad.clamp(-c, c) + sigma * noise).clamp(low, high)
        return x


def ebkit_options(args: argparse.Namespace, steps: int) -> dict[str, object]:
    return {
        "steps": steps,
        "step_size": args.step_size,
        "noise": "independent",
        "noise_scale": args.noise_scale,
        "grad_clip": args.grad_clip,
        "clamp": True,
    }


# -- timing ------------------------------------------------------------------------------


CLOCKS: dict[str, Callable[[], float]] = {"wall": time.perf_counter, "cpu": time.process_time}


def variant_loops(
    args: argparse.Namespace,
    energy: TinyMLPEnergy,
    langevin: LangevinSampler,
    calls: Callable[[Callable[[], object]], Callable[[], None]],
    out: Console,
) -> dict[str, Callable[[], None]]:
    """The ``--precision`` and ``--compile`` rows: the langevin sampler on the same energy
    under autocast, or on a compiled copy of it (compiled by one untimed call)."""
    loops: dict[str, Callable[[], None]] = {}
    for precision in args.precision:
        dtype = PRECISIONS[precision]

        def autocast_call(dtype: torch.dtype | None = dtype, key: str = precision) -> None:
            generator = VARIANT_GENERATORS.setdefault(key, new_generator(args))
            device_type = generator.device.type
            context = (
                torch.autocast(device_type, dtype=dtype) if dtype else contextlib.nullcontext()
            )
            with context:
                langevin.sample(args.chains, energy, generator)
            langevin.metrics()

        loops[f"{LANGEVIN}, {precision}"] = calls(autocast_call)
    if args.compile:
        reason = compile_unavailable()
        if reason is not None:
            out.print(f"  --compile: torch.compile cannot run here ({reason}); no compiled row")
            return loops
        compiled = copy.deepcopy(energy)
        compiled.compile()
        generator = new_generator(args)
        started = time.perf_counter()
        langevin.sample(args.chains, compiled, generator)
        out.print(
            f"  compile   first compiled call (compiling) {time.perf_counter() - started:.1f} s"
        )

        def compiled_call() -> None:
            langevin.sample(args.chains, compiled, generator)
            langevin.metrics()

        loops[f"{LANGEVIN}, compiled"] = calls(compiled_call)
    return loops


VARIANT_GENERATORS: dict[str, torch.Generator] = {}


def new_generator(args: argparse.Namespace) -> torch.Generator:
    return torch.Generator(args.device).manual_seed(args.seed)


"""The variant rows' noise generators, by row."""


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    out = Console(highlight=False, width=100)
    spec = DataSpec((2,), -4.0, 4.0)
    torch.manual_seed(args.seed)
    try:
        device = resolve_device(args.device)
    except UsageError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    args.device = str(device)
    energy = TinyMLPEnergy(spec, args.width).to(device)
    hand = HandLoop(energy, spec, args)
    langevin = LangevinSampler(spec, **ebkit_options(args, args.steps))
    replay = ReplaySampler(spec, capacity=args.capacity, **ebkit_options(args, args.steps))
    buffer_only = ReplaySampler(spec, capacity=args.capacity, **ebkit_options(args, 0))

    out.print("[bold]ebkit Langevin benchmark[/]: ebkit's samplers vs a hand-written loop")
    replay.to(device)
    buffer_only.to(device)
    ours = langevin.sample(args.chains, energy, new_generator(args))
    theirs = hand.sample(new_generator(args))
    difference = (ours - theirs).abs().max().item()
    identical = torch.equal(ours, theirs)
    close = torch.allclose(ours, theirs, rtol=1e-5, atol=1e-5)
    same = (
        "identical (bit for bit)"
        if identical
        else f"allclose (max abs difference {difference:.1e})"
        if close
        else f"DIFFERENT (max abs difference {difference:.1e})"
    )
    if not close:
        out.print(f"[bold red]error[/]: ebkit and the hand loop disagree: {same}")
        return 1

    generators = {name: new_generator(args) for name in ("a", "b", "c", "d")}

    def calls(sample: Callable[[], object]) -> Callable[[], None]:
        return repeat(sample, args.calls)

    def ebkit_call(sampler: LangevinSampler | ReplaySampler, key: str) -> Callable[[], None]:
        def call() -> None:
            sampler.sample(args.chains, energy, generators[key])
            sampler.metrics()

        return call

    loops = {
        HAND: calls(lambda: hand.sample(generators["a"])),
        LANGEVIN: calls(ebkit_call(langevin, "b")),
        REPLAY: calls(ebkit_call(replay, "c")),
        BUFFER: calls(ebkit_call(buffer_only, "d")),
    }
    variants = variant_loops(args, energy, langevin, calls, out)
    loops.update(variants)
    for block in loops.values():  # warm-up
        block()
    seconds, _ = interleaved_rounds(
        loops, args.repeats, lambda block: timed(block, device, CLOCKS[args.clock]) / args.calls
    )
    machine, load, cores = machine_line(device, args.threads is not None)
    out.print(
        f"  energy    MLP 2-{args.width}-{args.width}-1 (SiLU), {args.chains} chains, "
        f"{args.steps} steps per call\n"
        f"  step      η = {args.step_size:g}, σ = {args.noise_scale:g} (independent), "
        f"c = {args.grad_clip:g}, clamped to [{spec.low:g}, {spec.high:g}]\n"
        f"  replay    capacity {args.capacity}, reinit 0.05, training mode (writes back)\n"
        f"  device    {machine}\n"
        f"  versions  torch {torch.__version__}, Python {platform.python_version()}\n"
        f"  timing    {args.repeats} interleaved rounds of {args.calls} call(s) per loop, "
        f"after one untimed round; {args.clock} clock\n"
        f"  chains    ebkit and the hand loop are {same}"
    )
    warn_if_loaded(out, load, cores)

    table = Table(show_edge=False)
    for column in ("loop", "ms/call", "spread (min–max)", "µs/step", "vs hand loop"):
        table.add_column(column, justify="left" if column == "loop" else "right")
    median = {name: statistics.median(times) for name, times in seconds.items()}
    for name, times in seconds.items():
        per_step = "" if name == BUFFER else f"{1e6 * median[name] / args.steps:.1f}"
        versus = "" if name == BUFFER else f"{median[HAND] / median[name]:.3f}"
        table.add_row(
            name,
            f"{1000 * median[name]:.2f}",
            f"{1000 * min(times):.2f}–{1000 * max(times):.2f}",
            per_step,
            versus,
        )
    out.print(table)
    out.print("  (medians over the rounds; vs hand loop: throughput ratio, hand time / time)")

    paired = [h / e for h, e in zip(seconds[HAND], seconds[LANGEVIN], strict=True)]
    ratio = median[HAND] / median[LANGEVIN]
    best = min(seconds[HAND]) / min(seconds[LANGEVIN])
    out.print(
        f"[bold]ratio ebkit langevin / hand loop: {ratio:.3f}[/] (fastest blocks: {best:.3f}; "
        f"per round: median {statistics.median(paired):.3f}, min {min(paired):.3f}, "
        f"max {max(paired):.3f})"
    )
    out.print(f"ratio >= {TARGET}: {'yes' if ratio >= TARGET else 'no'}")
    print_variant_ratios(out, {name: median[HAND] / median[name] for name in variants})
    extra = median[REPLAY] / median[LANGEVIN] - 1
    out.print(
        f"replay: {1e6 * median[REPLAY] / args.steps:.1f} µs per Langevin step; buffer draw and "
        f"write-back {1000 * (median[REPLAY] - median[LANGEVIN]):+.2f} ms per call "
        f"({100 * extra:+.1f} % over plain Langevin; alone, K = 0: "
        f"{1000 * median[BUFFER]:.2f} ms)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
