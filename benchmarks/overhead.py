"""How much does ebkit's training step cost over a hand-written PyTorch loop?

Builds EBGAN (``autoencoder`` energy, ``generator`` sampler, ``margin`` loss, ``digits``
data and MLP networks by default; ``--arch conv`` for the DCGAN-style conv networks, e.g.
on 28×28 MNIST) through the real path of ``ebkit train`` (plugin manager ->
``resolve_config`` -> ``build_components`` -> :class:`ebkit.core.engine.Trainer`) and a
minimal hand-written loop on deep copies of the same initial modules, with the same data
batches, the same noise and its own ``torch.optim.Adam``. It first checks that both
produce the same weights after a few steps, then times interleaved blocks of

- ``hand loop``: the bare hand-written step;
- ``ebkit train_step``: ``Trainer.train_step()`` in a plain ``for`` loop;
- ``ebkit fit(), log``: ``Trainer.fit()`` with ``MetricsLog`` every ``--log-every`` steps
  into a temporary ``metrics.jsonl``;
- ``ebkit fit(), log+bar``: the same plus the rich ``ProgressBar`` (drawn as on a terminal
  but into /dev/null unless ``--show-progress``), i.e. the callbacks of ``ebkit train``
  without sample pictures and checkpoints;

and prints the median steps/s of each and the ratio ebkit / hand loop. The headline
ratio is ``ebkit fit(), log+bar`` against the bare hand loop. ``--precision bf16`` (or
fp16, repeatable) adds a row ``ebkit train_step, bf16`` (autocast, as ``ebkit train
--precision bf16``) and ``--compile`` a row ``ebkit train_step, compiled`` (the energy and
the generator compiled with ``torch.compile``, compilation untimed), both against the same
eager float32 hand loop (the ``--compile`` target: ≥ 1.3). It is a benchmark, not a
test: the exit code is 0 whatever the ratio. See benchmarks/README.md.

    python benchmarks/overhead.py                 # the defaults (under 2 minutes on 2 cores)
    python benchmarks/overhead.py --threads 1     # on a busy machine
    python benchmarks/overhead.py --steps 500 --repeats 7 --energy-width 256
    python benchmarks/overhead.py --arch conv --data mnist --data-path ../shared/data/mnist
    python benchmarks/overhead.py --threads 1 --precision bf16 --compile
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import rich
import torch
from overhead_hand_loop import HandLoop
from rich.console import Console
from rich.table import Table
from speed import (
    interleaved_rounds,
    layer_widths,
    machine_line,
    parameter_count,
    print_variant_ratios,
    repeat,
    timed,
    warn_if_loaded,
)
from torch import Tensor

from ebkit.core.engine import Callback, Trainer
from ebkit.core.errors import EbkitError
from ebkit.core.hardware import compile_unavailable
from ebkit.plugin.manager import get_plugin_manager
from ebkit.runs.build import build_components, resolve_device
from ebkit.runs.callbacks import MetricsLog, ProgressBar
from ebkit.runs.config import RunConfig, resolve_config
from ebkit.runs.training import settings_from_config

TARGET = 0.97
"""The throughput ratio ebkit / hand loop we aim for."""

HAND = "hand loop"
STEP = "ebkit train_step"
FIT_LOG = "ebkit fit(), log"
FIT = "ebkit fit(), log+bar"


# -- configuration ---------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Throughput of ebkit's training step against a hand-written PyTorch loop.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--data", default="digits", help="dataset name")
    parser.add_argument("--data-path", default=None, help="files of the dataset, if it reads any")
    parser.add_argument(
        "--arch",
        default="mlp",
        choices=("mlp", "conv"),
        help="networks of the energy and the generator (conv: DCGAN-style, images only)",
    )
    parser.add_argument("--steps", type=int, default=200, help="steps per timed block")
    parser.add_argument("--repeats", type=int, default=5, help="timed blocks of each loop")
    parser.add_argument("--warmup", type=int, default=20, help="untimed steps of each loop")
    parser.add_argument("--check-steps", type=int, default=30, help="steps of the weight check")
    parser.add_argument(
        "--budget",
        type=float,
        default=100.0,
        help="seconds for the whole run: the timed blocks get fewer steps if the check and "
        "the warm-up say they would not fit (0: no limit)",
    )
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu", help="auto, cpu, cuda or cuda:N")
    parser.add_argument(
        "--precision",
        action="append",
        default=[],
        choices=("fp32", "bf16", "fp16"),
        help="add a train_step row in this precision (repeatable)",
    )
    parser.add_argument(
        "--compile", action="store_true", help="add a train_step row with compiled networks"
    )
    parser.add_argument(
        "--threads", type=int, default=None, help="torch.set_num_threads [default: torch's]"
    )
    parser.add_argument("--energy-width", type=int, default=None, help="[default: ebkit's]")
    parser.add_argument("--energy-layers", type=int, default=None, help="[default: ebkit's]")
    parser.add_argument("--sampler-width", type=int, default=None, help="[default: ebkit's]")
    parser.add_argument("--sampler-layers", type=int, default=None, help="[default: ebkit's]")
    parser.add_argument("--latent-dim", type=int, default=None, help="[default: ebkit's]")
    parser.add_argument("--log-every", type=int, default=10, help="MetricsLog interval of fit()")
    parser.add_argument(
        "--show-progress", action="store_true", help="draw fit()'s progress bars on the terminal"
    )
    args = parser.parse_args(argv)
    for name in ("steps", "repeats", "check_steps", "batch_size", "log_every", "threads"):
        value = getattr(args, name)
        if value is not None and value < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.warmup < 1:
        parser.error("--warmup must be at least 1")
    if args.budget < 0:
        parser.error("--budget must be at least 0")
    return args


def run_config(args: argparse.Namespace) -> RunConfig:
    manager = get_plugin_manager()
    # Pin the architecture the hand loop is told to write out (``auto`` would choose by
    # image size).
    overrides = [
        f"{section}.arch={args.arch}"
        for section, kind, name in (
            ("energy", "energy", "autoencoder"),
            ("sampler", "sampler", "generator"),
        )
        if any(option.name == "arch" for option in manager.lookup(kind, name).component.options)
    ]
    overrides += [
        f"{section}.{key}={value}"
        for section, key, value in (
            ("energy", "width", args.energy_width),
            ("energy", "n_layers", args.energy_layers),
            ("sampler", "width", args.sampler_width),
            ("sampler", "n_layers", args.sampler_layers),
            ("sampler", "latent_dim", args.latent_dim),
        )
        if value is not None
    ]
    return resolve_config(
        manager,
        names={
            "energy": "autoencoder",
            "sampler": "generator",
            "loss": "margin",
            "data": args.data,
        },
        train={
            "steps": args.steps,
            "batch_size": args.batch_size,
            "seed": args.seed,
            "device": args.device,
            "log_every": args.log_every,
        },
        overrides=overrides,
        data_path=args.data_path,
    )


# -- ebkit -----------------------------------------------------------------------------


def ebkit_trainer(
    config: RunConfig,
    device: torch.device,
    callbacks: list[Callback] | None = None,
    *,
    precision: str = "fp32",
    compiled: bool = False,
) -> Trainer:
    components = build_components(get_plugin_manager(), config)
    return Trainer(
        components,
        settings_from_config(config),
        device=device,
        callbacks=callbacks or [],
        precision=precision,
        compiled=compiled,
    )


def variant_trainers(
    args: argparse.Namespace, config: RunConfig, device: torch.device, out: Console
) -> dict[str, Trainer]:
    """The ``--precision`` and ``--compile`` rows' trainers (the same start as the
    others); a compiled one has taken its first steps, so compiling is not timed."""
    trainers = {
        f"{STEP}, {precision}": ebkit_trainer(config, device, precision=precision)
        for precision in args.precision
    }
    if args.compile:
        reason = compile_unavailable()
        if reason is not None:
            out.print(f"  --compile: torch.compile cannot run here ({reason}); no compiled row")
            return trainers
        trainer = ebkit_trainer(config, device, compiled=True)
        started = time.perf_counter()
        for _ in range(3):
            trainer.train_step()
        out.print(
            f"  compile   3 first compiled steps (compiling) {time.perf_counter() - started:.1f} s"
        )
        trainers[f"{STEP}, compiled"] = trainer
    return trainers


def ebkit_tensors(trainer: Trainer) -> dict[str, Tensor]:
    tensors = {f"energy.{k}": v for k, v in trainer.components.energy.state_dict().items()}
    tensors.update({f"sampler.{k}": v for k, v in trainer.components.sampler.state_dict().items()})
    return tensors


def check_equivalence(config: RunConfig, device: torch.device, steps: int) -> tuple[str, bool]:
    """Train ebkit and the hand loop ``steps`` steps from the same initial modules and
    compare every parameter and buffer."""
    trainer = ebkit_trainer(config, device)
    hand = HandLoop(trainer.components, config, device)
    for _ in range(steps):
        trainer.train_step()
        hand.step()
    ours, theirs = ebkit_tensors(trainer), hand.named_tensors()
    if set(ours) != set(theirs):
        return f"different tensors: {sorted(set(ours) ^ set(theirs))}", False
    if all(torch.equal(ours[k], theirs[k]) for k in ours):
        return f"identical after {steps} steps (bit for bit)", True
    worst = max(
        (ours[k].float() - theirs[k].float()).abs().max().item()
        for k in ours
        if ours[k].is_floating_point()
    )
    if all(torch.allclose(ours[k].float(), theirs[k].float(), rtol=1e-5, atol=1e-6) for k in ours):
        return f"allclose after {steps} steps (max abs difference {worst:.2e})", True
    return f"DIFFERENT after {steps} steps (max abs difference {worst:.2e})", False


# -- timing ----------------------------------------------------------------------------


def fit_block(trainer: Trainer, steps: int) -> None:
    """``steps`` more steps of ``Trainer.fit()``, callbacks included (their start and
    end too: each block starts and stops a progress bar)."""
    trainer.settings.steps = trainer.step + steps
    trainer.fit()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    out = Console(highlight=False, width=100)
    try:
        return run(args, out)
    except EbkitError as error:  # a bad --data, --device cuda without CUDA...
        Console(stderr=True, highlight=False).print(f"[bold red]error[/]: {error}")
        return 2


def run(args: argparse.Namespace, out: Console) -> int:
    config = run_config(args)
    device = resolve_device(config.train.hardware.device)
    out.print("[bold]ebkit overhead benchmark[/]: EBGAN, ebkit vs a hand-written PyTorch loop")

    started = time.perf_counter()
    same, identical = check_equivalence(config, device, args.check_steps)

    # Fresh, identical starts (the same seed) for the timed loops.
    step_trainer = ebkit_trainer(config, device)
    hand = HandLoop(step_trainer.components, config, device)
    workdir = Path(tempfile.mkdtemp(prefix="ebkit-overhead-"))
    log_only = MetricsLog(workdir / "log-only.jsonl", args.log_every)
    log_trainer = ebkit_trainer(config, device, [log_only])
    variants = variant_trainers(args, config, device, out)
    metrics_log = MetricsLog(workdir / "metrics.jsonl", args.log_every)
    fit_trainer = ebkit_trainer(config, device, [metrics_log, ProgressBar(metrics_log)])
    if not args.show_progress:
        # Render the progress bar as on a terminal (its real cost), but out of sight.
        rich.reconfigure(file=open(os.devnull, "w"), force_terminal=True, width=120)  # noqa: SIM115

    def loops_of(steps: int) -> dict[str, Callable[[], None]]:
        return {
            HAND: repeat(hand.step, steps),
            STEP: repeat(step_trainer.train_step, steps),
            FIT_LOG: lambda: fit_block(log_trainer, steps),
            FIT: lambda: fit_block(fit_trainer, steps),
            **{name: repeat(trainer.train_step, steps) for name, trainer in variants.items()},
        }

    per_step = {
        name: timed(block, device) / args.warmup for name, block in loops_of(args.warmup).items()
    }
    steps, note = args.steps, ""
    seconds_per_step = args.repeats * sum(per_step.values())
    left = args.budget - (time.perf_counter() - started)
    if args.budget and args.steps * seconds_per_step > left:
        steps = max(5, int(left / seconds_per_step))
        note = (
            f"\n            (--steps {args.steps} cut to {steps} to end within --budget "
            f"{args.budget:g} s: {1000 * sum(per_step.values()) / len(per_step):.0f} ms/step "
            "in the warm-up)"
        )

    loops = loops_of(steps)
    seconds, rounds = interleaved_rounds(
        loops,
        args.repeats,
        lambda block: timed(block, device),
        # The machine got slower than the warm-up said: keep what we have.
        stop=lambda: bool(args.budget) and time.perf_counter() - started > args.budget,
    )
    shutil.rmtree(workdir, ignore_errors=True)
    if rounds < args.repeats:
        note += f"\n            (stopped after {rounds} of {args.repeats} rounds: --budget reached)"

    median = {name: steps / statistics.median(times) for name, times in seconds.items()}
    best = {name: steps / min(times) for name, times in seconds.items()}

    components = step_trainer.components
    spec = components.dataset.spec
    optimisation = settings_from_config(config)
    machine, load, cores = machine_line(device, args.threads is not None)
    out.print(
        f"  data      {config.data.id}, events {spec.event_shape}, batch {args.batch_size}\n"
        f"  energy    {config.energy.id}: {layer_widths(components.energy)}, "
        f"{parameter_count(components.energy)} parameters\n"
        f"  sampler   {config.sampler.id}: {layer_widths(components.sampler)}, "
        f"{parameter_count(components.sampler)} parameters\n"
        f"  loss      {config.loss.id}, margin {components.loss.margin:g}; Adam lr "
        f"{optimisation.energy_lr:g}/{optimisation.sampler_lr:g}, "
        f"betas ({optimisation.beta1:g}, {optimisation.beta2:g})\n"
        f"  device    {machine}\n"
        f"  versions  torch {torch.__version__}, Python {platform.python_version()}\n"
        f"  timing    {args.warmup} warm-up steps each, then {rounds} interleaved blocks "
        f"of {steps} steps each{note}\n"
        f"  fit()     MetricsLog(log_every={args.log_every}) [+ ProgressBar]; no sample "
        f"pictures, no checkpoints\n"
        f"  weights   ebkit and the hand loop are {same}"
    )
    warn_if_loaded(out, load, cores, "; try --threads 1" if torch.get_num_threads() > 1 else "")

    table = Table(show_edge=False)
    for column in ("loop", "steps/s", "ms/step", "best steps/s", "ratio", "best ratio"):
        table.add_column(column, justify="left" if column == "loop" else "right")
    for name in loops:
        table.add_row(
            name,
            f"{median[name]:.1f}",
            f"{1000 / median[name]:.3f}",
            f"{best[name]:.1f}",
            f"{median[name] / median[HAND]:.3f}",
            f"{best[name] / best[HAND]:.3f}",
        )
    out.print(table)
    out.print(
        "  (steps/s: median of the blocks; best: the fastest block; ratio: ebkit / hand loop)"
    )

    ratio = median[FIT] / median[HAND]
    out.print(f"ratio train_step / hand loop: {median[STEP] / median[HAND]:.3f}")
    out.print(f"[bold]ratio fit() with logging / hand loop: {ratio:.3f}[/]")
    out.print(f"ratio >= {TARGET}: {'yes' if ratio >= TARGET else 'no'}")
    print_variant_ratios(out, {name: median[name] / median[HAND] for name in variants})
    if not identical:
        out.print("[bold red]warning[/]: the two loops did not train the same weights")
    return 0


if __name__ == "__main__":
    sys.exit(main())
