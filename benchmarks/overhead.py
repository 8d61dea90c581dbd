"""How much does ebkit's training step cost over a hand-written PyTorch loop?

Builds EBGAN (``autoencoder`` energy, ``generator`` sampler, ``margin`` loss, ``digits``
data by default) through the real path of ``ebkit train`` (plugin manager ->
``resolve_config`` -> ``build_components`` -> :class:`ebkit.engine.Trainer`) and a
minimal hand-written loop on deep copies of the same initial modules, with the same data
batches, the same noise and its own ``torch.optim.Adam``. It first checks that both
produce the same weights after a few steps, then times interleaved blocks of

- ``hand loop``: the bare hand-written step;
- ``ebkit train_step``: ``Trainer.train_step()`` in a plain ``for`` loop;
- ``ebkit fit()``: ``Trainer.fit()`` with the logging callbacks of ``ebkit train``
  (``MetricsLog`` every ``--log-every`` steps into a temporary ``metrics.jsonl`` and the
  rich ``ProgressBar``, rendered to a null terminal unless ``--show-progress``); no sample
  pictures and no checkpoints;

and prints the median steps/s of each and the ratio ebkit / hand loop. The headline
ratio is ``ebkit fit()`` against the bare hand loop. It is a benchmark, not a test: the
exit code is 0 whatever the ratio.

    python benchmarks/overhead.py                 # the defaults (about a minute on 2 cores)
    python benchmarks/overhead.py --steps 500 --repeats 7 --energy-width 256
"""

from __future__ import annotations

import argparse
import copy
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import rich
import torch
from rich.console import Console
from rich.table import Table
from torch import Tensor, nn

from ebkit.build import build_components, resolve_device
from ebkit.callbacks import MetricsLog, ProgressBar
from ebkit.config import RunConfig, resolve_config
from ebkit.data import TensorDataset
from ebkit.engine import Callback, Components, Trainer
from ebkit.interfaces import Dataset
from ebkit.plugins import get_plugin_manager
from ebkit.training import settings_from_config

TARGET = 0.97
"""The throughput ratio ebkit / hand loop we aim for."""


# -- configuration ---------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Throughput of ebkit's training step against a hand-written PyTorch loop.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--data", default="digits", help="dataset name")
    parser.add_argument("--steps", type=int, default=200, help="steps per timed block")
    parser.add_argument("--repeats", type=int, default=5, help="interleaved timed blocks")
    parser.add_argument("--warmup", type=int, default=50, help="untimed steps of each loop")
    parser.add_argument("--check-steps", type=int, default=30, help="steps of the weight check")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu", choices=("auto", "cpu", "cuda"))
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
    for name in ("steps", "repeats", "check_steps", "batch_size", "log_every"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.warmup < 0:
        parser.error("--warmup must be at least 0")
    return args


def run_config(args: argparse.Namespace) -> RunConfig:
    overrides = [
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
        get_plugin_manager(),
        names={"energy": "autoencoder", "sampler": "generator", "loss": "margin", "data": args.data},
        train={
            "steps": args.steps,
            "batch_size": args.batch_size,
            "seed": args.seed,
            "device": args.device,
            "log_every": args.log_every,
        },
        overrides=overrides,
    )


# -- the hand-written loop -------------------------------------------------------------


class HandLoop:
    """Minimal EBGAN in plain PyTorch on copies of ebkit's initial modules.

    The energy and the generator are called through their plain ``nn.Sequential`` parts
    (``encoder``/``decoder`` and ``net``) with the arithmetic of their ``forward`` written
    out, so that no ebkit code runs inside the step and the results are bit-for-bit those
    of the ebkit modules.
    """

    def __init__(self, components: Components, config: RunConfig, device: torch.device) -> None:
        energy, sampler = components.energy, components.sampler
        self.encoder: nn.Module = copy.deepcopy(energy.encoder).to(device)
        self.decoder: nn.Module = copy.deepcopy(energy.decoder).to(device)
        self.generator: nn.Module = copy.deepcopy(sampler.net).to(device)
        self.distance: str = energy.distance
        self.margin = float(components.loss.margin)
        if components.loss.f != "identity":
            raise SystemExit("the hand loop implements the margin loss with f = identity only")
        self.latent_dim: int = sampler.latent_dim
        spec = components.dataset.spec
        self.event_shape = spec.event_shape
        self.low, self.high = spec.low, spec.high
        self.device = device
        self.batch_size = config.train["batch_size"]

        train = config.train
        betas = (train["beta1"], train["beta2"])
        energy_parameters = [*self.encoder.parameters(), *self.decoder.parameters()]
        self.energy_optimizer = torch.optim.Adam(
            energy_parameters, lr=train["energy_lr"], betas=betas
        )
        self.generator_optimizer = torch.optim.Adam(
            self.generator.parameters(), lr=train["sampler_lr"], betas=betas
        )
        seed = train["seed"]
        self.data_generator = torch.Generator().manual_seed(seed)
        self.noise_generator = torch.Generator(device).manual_seed(seed + 1)
        self.dtype = next(self.generator.parameters()).dtype
        self._next_batch = _batch_drawer(components.dataset, self.batch_size, self.data_generator)

    def energy(self, x: Tensor) -> Tensor:
        batch = x.shape[0]
        reconstruction = self.decoder(self.encoder(x.reshape(batch, -1))).reshape(x.shape)
        difference = (reconstruction - x).reshape(batch, -1)
        if self.distance == "l2":
            return torch.linalg.vector_norm(difference, ord=2, dim=1)
        if self.distance == "mse":
            return difference.square().mean(dim=1)
        return difference.abs().sum(dim=1)

    def step(self) -> None:
        x = self._next_batch().to(self.device, non_blocking=True)
        z = torch.randn(
            self.batch_size,
            self.latent_dim,
            generator=self.noise_generator,
            device=self.device,
            dtype=self.dtype,
        )
        unit = self.generator(z)
        fake = (self.low + (unit + 1) * (0.5 * (self.high - self.low))).reshape(
            self.batch_size, *self.event_shape
        )

        energy_loss = (
            self.energy(x).mean()
            + torch.clamp(self.margin - self.energy(fake.detach()), min=0).mean()
        )
        self.energy_optimizer.zero_grad(set_to_none=True)
        energy_loss.backward()
        self.energy_optimizer.step()

        generator_loss = self.energy(fake).mean()
        self.generator_optimizer.zero_grad(set_to_none=True)
        generator_loss.backward()
        self.generator_optimizer.step()

    def named_tensors(self) -> dict[str, Tensor]:
        """Parameters and buffers, named as in the ebkit energy/sampler state dicts."""
        tensors = {f"energy.encoder.{k}": v for k, v in self.encoder.state_dict().items()}
        tensors.update({f"energy.decoder.{k}": v for k, v in self.decoder.state_dict().items()})
        tensors.update({f"sampler.net.{k}": v for k, v in self.generator.state_dict().items()})
        return tensors


def _batch_drawer(
    dataset: Dataset, batch_size: int, generator: torch.Generator
) -> Callable[[], Tensor]:
    """The hand loop's data: shuffled epochs over the tensor of a finite dataset, the last
    incomplete batch dropped (what ebkit's TensorDataset does); other datasets are
    sampled through a private copy of the dataset object."""
    if not isinstance(dataset, TensorDataset):
        private = copy.deepcopy(dataset)
        return lambda: private.sample(batch_size, generator).x
    data, count = dataset.x, len(dataset)
    order: Tensor | None = None
    position = 0

    def next_batch() -> Tensor:
        nonlocal order, position
        if order is None or position + batch_size > count:
            order = torch.randperm(count, generator=generator)
            position = 0
        index = order[position : position + batch_size]
        position += batch_size
        return data[index]

    return next_batch


# -- ebkit -----------------------------------------------------------------------------


def ebkit_trainer(
    config: RunConfig, device: torch.device, callbacks: list[Callback] | None = None
) -> Trainer:
    components = build_components(get_plugin_manager(), config)
    return Trainer(
        components, settings_from_config(config), device=device, callbacks=callbacks or []
    )


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


def timed(block: Callable[[], None], device: torch.device) -> float:
    """Wall-clock seconds of ``block``, synchronising an accelerator at both ends."""
    _synchronize(device)
    start = time.perf_counter()
    block()
    _synchronize(device)
    return time.perf_counter() - start


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def fit_block(trainer: Trainer, steps: int) -> None:
    """``steps`` more steps of ``Trainer.fit()``, callbacks included (start and end)."""
    trainer.settings.steps = trainer.step + steps
    trainer.fit()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    out = Console(highlight=False)
    config = run_config(args)
    device = resolve_device(config.train["device"])

    same, identical = check_equivalence(config, device, args.check_steps)

    # Fresh, identical starts for the timed loops.
    step_trainer = ebkit_trainer(config, device)
    hand = HandLoop(step_trainer.components, config, device)
    workdir = Path(tempfile.mkdtemp(prefix="ebkit-overhead-"))
    metrics_log = MetricsLog(workdir / "metrics.jsonl", args.log_every)
    fit_trainer = ebkit_trainer(config, device, [metrics_log, ProgressBar(metrics_log)])
    if not args.show_progress:
        # Render the progress bar as on a terminal (its real cost) but out of sight.
        rich.reconfigure(file=open(os.devnull, "w"), force_terminal=True, width=120)  # noqa: SIM115

    def steps_of(step: Callable[[], object]) -> Callable[[], None]:
        def block() -> None:
            for _ in range(args.steps):
                step()

        return block

    loops: dict[str, Callable[[], None]] = {
        "hand loop": steps_of(hand.step),
        "ebkit train_step": steps_of(step_trainer.train_step),
        "ebkit fit()": lambda: fit_block(fit_trainer, args.steps),
    }
    if args.warmup:
        for _ in range(args.warmup):
            hand.step()
            step_trainer.train_step()
        fit_block(fit_trainer, args.warmup)

    seconds: dict[str, list[float]] = {name: [] for name in loops}
    names = list(loops)
    for repeat in range(args.repeats):
        shift = repeat % len(names)  # rotate the order so no loop always goes first
        for name in names[shift:] + names[:shift]:
            seconds[name].append(timed(loops[name], device))

    rates = {name: args.steps / statistics.median(times) for name, times in seconds.items()}
    hand_rate = rates["hand loop"]

    energy, sampler = step_trainer.components.energy, step_trainer.components.sampler
    spec = step_trainer.components.dataset.spec
    out.print("[bold]ebkit overhead benchmark[/]: EBGAN, ebkit vs a hand-written PyTorch loop")
    out.print(
        f"  data      {config.data.id}, event shape {spec.event_shape} ({spec.dim} scalars)\n"
        f"  energy    {config.energy.id} {_options(config.energy.options)}, "
        f"{_count(energy)} parameters\n"
        f"  sampler   {config.sampler.id} {_options(config.sampler.options)}, "
        f"{_count(sampler)} parameters\n"
        f"  loss      {config.loss.id} (margin {step_trainer.components.loss.margin:g})\n"
        f"  batch     {args.batch_size}; Adam lr {config.train['energy_lr']:g}/"
        f"{config.train['sampler_lr']:g}, betas ({config.train['beta1']:g}, "
        f"{config.train['beta2']:g})\n"
        f"  device    {device}"
        + (f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else "")
        + f"; torch {torch.__version__}; {torch.get_num_threads()} threads; "
        f"Python {platform.python_version()}\n"
        f"  timing    {args.warmup} warm-up steps each, then {args.repeats} interleaved "
        f"blocks of {args.steps} steps each; median shown\n"
        f"  fit()     MetricsLog(log_every={args.log_every}) + ProgressBar; no pictures, "
        f"no checkpoints"
    )
    out.print(f"  weights   {same}")

    table = Table(title=None, show_edge=False)
    table.add_column("loop")
    table.add_column("steps/s (median)", justify="right")
    table.add_column("ms/step", justify="right")
    table.add_column("min–max steps/s", justify="right")
    table.add_column("ratio vs hand", justify="right")
    for name, rate in rates.items():
        spread = [args.steps / t for t in seconds[name]]
        table.add_row(
            name,
            f"{rate:.1f}",
            f"{1000 / rate:.3f}",
            f"{min(spread):.1f}–{max(spread):.1f}",
            f"{rate / hand_rate:.3f}",
        )
    out.print(table)

    step_ratio = rates["ebkit train_step"] / hand_rate
    ratio = rates["ebkit fit()"] / hand_rate
    out.print(f"train_step ratio ebkit/hand: {step_ratio:.3f}")
    out.print(f"[bold]ratio ebkit fit()/hand: {ratio:.3f}[/]")
    out.print(f"ratio >= {TARGET}: {'yes' if ratio >= TARGET else 'no'}")
    if not identical:
        out.print("[bold red]warning[/]: the two loops did not train the same weights")
    return 0


def _count(module: nn.Module) -> str:
    return f"{sum(p.numel() for p in module.parameters()):,}"


def _options(options: dict[str, object]) -> str:
    return "(" + ", ".join(f"{k}={v}" for k, v in options.items()) + ")"


if __name__ == "__main__":
    sys.exit(main())
