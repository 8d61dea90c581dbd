"""``ebkit train``: train a run from components and options, or resume one.

Import-light: the engine and torch are imported inside the command's body.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence

import click

from ebkit.cli.common import plugin_manager, rich_console
from ebkit.core.errors import UsageError

__all__ = ["train"]


@click.command()
@click.option("--energy", metavar="NAME", help="Energy function (see `ebkit components energy`).")
@click.option("--sampler", metavar="NAME", help="Contrastive sampler.")
@click.option("--loss", metavar="NAME", help="Loss functional.")
@click.option(
    "--regularizer", "regularizers", metavar="NAME", multiple=True, help="Regularizer (repeatable)."
)
@click.option("--data", metavar="NAME", help="Dataset [default: digits].")
@click.option("--data-path", metavar="PATH", help="Files of the dataset, if it reads any.")
@click.option("--steps", type=int, metavar="N", help="Training steps [default: 2000].")
@click.option("--batch-size", type=int, metavar="N", help="Batch size [default: 64].")
@click.option("--seed", type=int, metavar="N", help="Seed of the run [default: 0].")
@click.option(
    "--labels",
    type=int,
    metavar="N",
    help="Semi-supervised: N labelled examples, the rest unlabelled (needs an energy with "
    "logits, e.g. ladder).",
)
@click.option(
    "--conditional",
    is_flag=True,
    help="Condition the energy and the sampler on the dataset's class labels.",
)
@click.option(
    "--device", type=click.Choice(["auto", "cpu", "cuda"]), help="Device [default: auto]."
)
@click.option("--out", metavar="DIR", help="New run directory [default: runs/<names>-<time>].")
@click.option("--config", "config_file", metavar="FILE.toml", help="TOML configuration file.")
@click.option(
    "-o",
    "overrides",
    metavar="COMPONENT.KEY=VALUE",
    multiple=True,
    help="Set a component option, e.g. -o energy.width=256 (repeatable).",
)
@click.option(
    "--resume", is_flag=True, help="Continue the run in --out from its newest checkpoint."
)
@click.option(
    "--logger",
    "loggers",
    metavar="NAME",
    multiple=True,
    help="Also send metrics and pictures to this logger, e.g. tensorboard (repeatable; "
    "see `ebkit components logger`; options: -o logger.NAME.KEY=VALUE).",
)
@click.option("--quiet", is_flag=True, help="No progress bar.")
def train(
    energy: str | None,
    sampler: str | None,
    loss: str | None,
    regularizers: Sequence[str],
    data: str | None,
    data_path: str | None,
    steps: int | None,
    batch_size: int | None,
    seed: int | None,
    labels: int | None,
    conditional: bool | None,
    device: str | None,
    out: str | None,
    config_file: str | None,
    overrides: Sequence[str],
    resume: bool,
    loggers: Sequence[str],
    quiet: bool,
) -> None:
    """Train an energy against a contrastive sampler and write a run directory.

    With --resume, continue the run in --out; only --steps (to extend it) and --device
    may be given then, since everything else is fixed by the run's config.json.
    """
    from ebkit.runs.config import load_toml, resolve_config

    manager = plugin_manager()
    if resume:
        fixed = {
            "--energy": energy,
            "--sampler": sampler,
            "--loss": loss,
            "--regularizer": regularizers or None,
            "--data": data,
            "--data-path": data_path,
            "--batch-size": batch_size,
            "--seed": seed,
            "--labels": labels,
            "--conditional": conditional or None,
            "--config": config_file,
            "-o": overrides or None,
            "--logger": loggers or None,
        }
        given = [flag for flag, value in fixed.items() if value is not None]
        if given:
            raise UsageError(
                f"--resume continues a run as configured; {given[0]} cannot be changed "
                "(accepted with --resume: --out, --steps, --device, --quiet)"
            )
        if out is None:
            raise UsageError("--resume needs --out RUN_DIR, the run to continue")
        from ebkit.runs.training import resume_run

        start = time.perf_counter()
        trainer = resume_run(out, steps=steps, device=device, manager=manager, progress=not quiet)
        _report(trainer.step, time.perf_counter() - start, out)
        return
    run_config = resolve_config(
        manager,
        toml=load_toml(config_file) if config_file else None,
        names={"energy": energy, "sampler": sampler, "loss": loss, "data": data},
        regularizers=regularizers,
        data_path=data_path,
        train={
            "steps": steps,
            "batch_size": batch_size,
            "seed": seed,
            "device": device,
            "labels": labels,
            # An absent flag must not override conditional = true from a TOML file.
            "conditional": conditional or None,
        },
        overrides=overrides,
        loggers=loggers,
    )
    if out is None:
        from ebkit.runs.library import default_run_dir

        out = default_run_dir(run_config)

    from ebkit.runs.training import train_run

    start = time.perf_counter()
    trainer = train_run(run_config, out, manager=manager, progress=not quiet)
    _report(trainer.step, time.perf_counter() - start, out)


def _report(step: int, elapsed: float, out: str) -> None:
    from rich.markup import escape

    pictures = [
        os.path.join(out, "samples", name)
        for name in ("final.png", "landscape.png")
        if os.path.exists(os.path.join(out, "samples", name))
    ]
    shown = f" (pictures: {escape(', '.join(pictures))})" if pictures else ""
    rich_console(stderr=True).print(
        f"Trained to step {step} in {elapsed:.1f} s. Run: [bold]{escape(out)}[/]{shown}"
    )
