"""``ebkit sweep SPEC.toml`` and ``ebkit sweep report DIR...``: hyper-parameter grids and
searches on Optuna (the ``sweep`` extra).

Import-light: Optuna, torch and the engine are imported inside the commands' bodies, so
``ebkit --help`` works without Optuna.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import click

from ebkit.cli.common import plugin_manager, rich_console
from ebkit.core.errors import EbkitError

__all__ = ["sweep"]


class SweepGroup(click.Group):
    """``ebkit sweep SPEC.toml`` is ``ebkit sweep run SPEC.toml``."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args = ["run", *args]
        return super().parse_args(ctx, args)


@click.group(cls=SweepGroup)
def sweep() -> None:
    """Run a grid or a search of training runs on Optuna, and report on it.

    \b
    ebkit sweep SPEC.toml [--jobs N] [--storage URL]   run or continue a sweep
    ebkit sweep report DIR [DIR...]                     table, CSV and pictures

    See docs/sweeps.md for the spec file."""


@sweep.command("run")
@click.argument("spec_file", metavar="SPEC.toml")
@click.option(
    "--out", metavar="DIR", help="Sweep folder [default: [sweep] directory, else sweeps/NAME]."
)
@click.option(
    "--storage",
    metavar="URL",
    help="Optuna database URL shared by workers on several machines, e.g. "
    "postgresql://user@host/db or sqlite:///sweep.db [default: the journal file "
    "DIR/study.journal].",
)
@click.option(
    "--jobs",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Trials run in parallel processes on this machine (one thread each).",
)
@click.option("--worker", is_flag=True, hidden=True)
def run(spec_file: str, out: str | None, storage: str | None, jobs: int, worker: bool) -> None:
    """Run the trials of SPEC.toml, or continue them: a second process on the same
    storage shares the trials; running the command again after an interruption
    resumes the sweep."""
    from ebkit.sweeps.run import run_sweep

    def say(message: str) -> None:
        click.echo(message, err=True)

    outcome = run_sweep(
        plugin_manager(),
        spec_file,
        out=out,
        storage_url=storage,
        jobs=jobs,
        worker=worker,
        say=say,
    )
    if worker:
        return
    counts = ", ".join(
        f"{count} {state.lower()}" for state, count in sorted(outcome.counts.items())
    )
    say(f"Sweep {outcome.sweep_dir}: {counts or 'no trials'}")
    if outcome.unfinished:
        raise EbkitError(
            f"{outcome.unfinished} trials are not finished (a worker stopped); run the "
            "same command again to continue"
        )


@sweep.command("report")
@click.argument("sweep_dirs", metavar="DIR...", nargs=-1, required=True)
@click.option(
    "--out",
    metavar="DIR",
    help="Where the CSV and pictures go [default: DIR/report for one sweep; required for several].",
)
@click.option(
    "--storage", metavar="URL", help="The study's storage, if not the one in DIR/sweep.json."
)
@click.option(
    "--bins", type=click.IntRange(min=1), default=20, show_default=True, help="Histogram bins."
)
def report(sweep_dirs: Sequence[str], out: str | None, storage: str | None, bins: int) -> None:
    """Print the trials of each sweep (parameters, objective, state, time) and write
    trials.csv, the histogram of the objective (several sweeps side by side, on the
    same bins) and the objective against each parameter, as PNG."""
    from ebkit.sweeps.report import print_table, write_report

    result = write_report(list(sweep_dirs), out=out, storage_url=storage, bins=bins)
    console: Any = rich_console()
    for table in result.tables:
        print_table(console, table)
    for path in result.files:
        console.print(f"Wrote {path}")
