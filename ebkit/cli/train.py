"""``ebkit train``: train a run from components and options, or resume one.

Import-light: the engine and torch are imported inside the command's body.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import click

from ebkit.cli.common import plugin_manager, rich_console
from ebkit.core.errors import UsageError
from ebkit.runs.config import COMPONENT_SLOTS
from ebkit.runs.settings import flag_help, flags, train_option

__all__ = ["train"]


def component_flags(command: Callable[..., Any]) -> Callable[..., Any]:
    """``--energy``, ``--sampler``, ``--loss``, ``--data``: one per component slot."""
    for slot in reversed(COMPONENT_SLOTS):
        text = slot.help if slot.default is None else f"{slot.help[:-1]} [default: {slot.default}]."
        command = click.option(slot.flag, slot.key, metavar="NAME", help=text)(command)
    return command


def train_option_flags(command: Callable[..., Any]) -> Callable[..., Any]:
    """``--steps``, ``--batch-size``...: the train options that have a flag, with their
    help, type, choices and default read from :mod:`ebkit.runs.settings`."""
    for name, flag in reversed(flags().items()):
        option = train_option(name)
        if option.type is bool:
            declared = click.option(flag, name, is_flag=True, default=None, help=flag_help(name))
        elif option.choices:
            # Checked with the option (one line naming the accepted values), not by click.
            metavar = "[" + "|".join(option.choices) + "]"
            declared = click.option(flag, name, metavar=metavar, help=flag_help(name))
        else:
            metavar = "N" if option.type in (int, float) else name.upper()
            declared = click.option(
                flag, name, type=option.type, metavar=metavar, help=flag_help(name)
            )
        command = declared(command)
    return command


@click.command()
@component_flags
@click.option(
    "--regularizer", "regularizers", metavar="NAME", multiple=True, help="Regularizer (repeatable)."
)
@click.option("--data-path", metavar="PATH", help="Files of the dataset, if it reads any.")
@train_option_flags
@click.option("--out", metavar="DIR", help="New run directory [default: runs/<names>-<time>].")
@click.option("--config", "config_file", metavar="FILE.toml", help="TOML configuration file.")
@click.option(
    "-o",
    "overrides",
    metavar="COMPONENT.KEY=VALUE",
    multiple=True,
    help="Set a component option, e.g. -o energy.width=256, or a train option, e.g. "
    "-o train.energy_lr=2e-4 (repeatable; `ebkit components show train` lists them).",
)
@click.option(
    "--resume",
    is_flag=False,
    flag_value="yes",
    type=click.Choice(["auto", "yes"]),
    metavar="[auto]",
    help="Continue the run in --out from its newest valid checkpoint; options equal to the "
    "run's are accepted. --resume auto starts the run if --out is new or empty.",
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
@click.option(
    "--nproc",
    type=click.IntRange(min=1),
    metavar="N",
    help="Train data-parallel in N processes on this machine (torch.distributed; "
    "--batch-size is per process). Several machines: torchrun, see docs/scaling.md.",
)
def train(
    regularizers: Sequence[str],
    data_path: str | None,
    out: str | None,
    config_file: str | None,
    overrides: Sequence[str],
    resume: str | None,
    loggers: Sequence[str],
    quiet: bool,
    nproc: int | None,
    **given: Any,
) -> None:
    """Train an energy against a contrastive sampler and write a run directory.

    With --resume, continue the run in --out: every option may be repeated with the
    run's own value (so a job script can re-run its command), only --steps (to extend
    it), --device, --precision and --compile may change. --resume auto starts the run
    when --out is new.
    """
    nproc = nproc or 1
    if nproc > 1 and os.environ.get("WORLD_SIZE", "1") not in ("", "1"):
        raise UsageError(
            "--nproc starts its own ranks; under torchrun, set the number of processes "
            "with torchrun's --nproc-per-node instead"
        )
    names = {slot.key: given.pop(slot.key) for slot in COMPONENT_SLOTS}
    # An absent flag is None, so that it does not override a value from a TOML file.
    train_flags = {name: value if value is not False else None for name, value in given.items()}
    from ebkit.runs.config import load_toml, resolve_config

    manager = plugin_manager()
    request: dict[str, Any] = {
        "toml": load_toml(config_file) if config_file else None,
        "names": names,
        "regularizers": regularizers,
        "data_path": data_path,
        "train": train_flags,
        "overrides": overrides,
        "loggers": loggers,
    }
    if resume is not None:
        from ebkit.runs.directory import is_empty_run_dir

        if out is None:
            raise UsageError("--resume needs --out RUN_DIR, the run to continue")
        if resume == "yes" or not is_empty_run_dir(Path(out)):
            from ebkit.runs.resume_options import check_resume_request
            from ebkit.runs.training import resume_run

            updates = check_resume_request(manager, out, **request)
            if nproc > 1:  # checked here, so that a refusal is one line, not one per rank
                from ebkit.runs.training import check_resume_world_size

                check_resume_world_size(Path(out), nproc)
                _launch(nproc, out)
                return
            start = time.perf_counter()
            trainer = resume_run(out, **updates, manager=manager, progress=not quiet)
            _report(trainer.step, time.perf_counter() - start, out)
            return
    run_config = resolve_config(manager, **request)
    if out is None:
        if os.environ.get("WORLD_SIZE", "1") not in ("", "1"):
            raise UsageError("--out is required under torchrun: every rank must name the same run")
        from ebkit.runs.library import default_run_dir

        out = default_run_dir(run_config)
    if nproc > 1:  # the options were checked here, once; the ranks read them again
        from ebkit.runs.directory import check_new_run_dir

        check_new_run_dir(out)
        _launch(nproc, out)
        return

    from ebkit.runs.training import train_run

    start = time.perf_counter()
    trainer = train_run(run_config, out, manager=manager, progress=not quiet)
    _report(trainer.step, time.perf_counter() - start, out)


def _launch(nproc: int, out: str) -> None:
    """Run this very command (less --nproc, with --out) in ``nproc`` ranks."""
    from ebkit.cli.launch import launch_ranks, without_nproc
    from ebkit.cli.main import command_line

    argv = without_nproc(command_line)
    launch_ranks(nproc, argv if "--out" in argv else [*argv, "--out", out])


def _report(step: int, elapsed: float, out: str) -> None:
    if os.environ.get("RANK", "0") != "0":
        return  # rank 0 reports for a data-parallel job
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
