"""Adam's implementation in ebkit's training step: the engine's fused Adam (one kernel for
all of a network's tensors) against PyTorch's per-tensor Adam (``foreach=False``, a dozen
small operations per tensor and step), on the same run's networks.

Two trainers are built from one configuration (the plain command's components on the
chosen data, seeded alike); one keeps the engine's optimisers, the other gets per-tensor
Adams over the same parameters. Blocks of ``--steps`` training steps are timed on the
process's CPU clock in interleaved rounds; the medians and their ratio are printed with
the load average.

    python benchmarks/optimizer.py                      # EBGAN on 8gaussians, 5 rounds
    python benchmarks/optimizer.py --data 25gaussians --loss gan --energy mlp
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Sequence

import torch
from rich.console import Console
from speed import interleaved_rounds, machine_line, repeat, timed, warn_if_loaded

from ebkit.plugin.manager import get_plugin_manager
from ebkit.runs.config import resolve_config
from ebkit.runs.training import build_trainer


def trainer(args: argparse.Namespace, per_tensor: bool):  # type: ignore[no-untyped-def]
    names = {"energy": args.energy, "sampler": args.sampler, "loss": args.loss, "data": args.data}
    config = resolve_config(get_plugin_manager(), names=names, overrides=["train.seed=0"])
    built = build_trainer(config, get_plugin_manager())
    if per_tensor:
        for name in ("energy_optimizer", "sampler_optimizer"):
            fused = getattr(built, name)
            if isinstance(fused, torch.optim.Adam):
                group = fused.param_groups[0]
                plain = torch.optim.Adam(
                    group["params"], lr=group["lr"], betas=group["betas"], foreach=False
                )
                setattr(built, name, plain)
    return built


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--energy", default="autoencoder")
    parser.add_argument("--sampler", default="generator")
    parser.add_argument("--loss", default="margin")
    parser.add_argument("--data", default="8gaussians")
    parser.add_argument("--steps", type=int, default=300, help="training steps per timed block")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    if args.steps < 1 or args.rounds < 1:
        parser.error("--steps and --rounds must be at least 1")
    torch.set_num_threads(1)
    out = Console()
    line, load, cores = machine_line(torch.device("cpu"), threads_given=True)
    out.print(line)
    warn_if_loaded(out, load, cores)
    loops = {}
    for label, per_tensor in (("fused Adam (ebkit)", False), ("per-tensor Adam", True)):
        run = trainer(args, per_tensor)
        repeat(run.train_step, 5)()  # warm-up: allocations, first-step state
        loops[label] = repeat(run.train_step, args.steps)
    device = torch.device("cpu")
    seconds, rounds = interleaved_rounds(
        loops, args.rounds, lambda block: timed(block, device, time.process_time)
    )
    medians = {name: statistics.median(values) for name, values in seconds.items()}
    for name, value in medians.items():
        out.print(f"{name}: {1000 * value / args.steps:.2f} CPU-ms a step (median of {rounds})")
    ratio = medians["per-tensor Adam"] / medians["fused Adam (ebkit)"]
    out.print(f"ratio per-tensor / fused: {ratio:.3f} (the fused step's speed-up)")
    out.print(machine_line(device, threads_given=True)[0].split(", ")[-1] + " after")
    return 0


if __name__ == "__main__":
    sys.exit(main())
