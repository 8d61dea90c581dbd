"""``ebkit compare``: runs side by side, read from their files (no torch imported)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ebkit.cli.common import rich_console
from ebkit.core.errors import UsageError

if TYPE_CHECKING:
    from ebkit.tracking.compare import Comparison

__all__ = ["compare"]

DEFAULT_PICTURE = "comparison.png"


@click.command()
@click.argument("run_dirs", nargs=-1, metavar="RUN RUN...")
@click.option(
    "--out",
    metavar="FILE.png",
    help=f"The picture of the overlaid curves [default: {DEFAULT_PICTURE}, never overwritten].",
)
@click.option("--json", "as_json", is_flag=True, help="Print the comparison as JSON.")
def compare(run_dirs: tuple[str, ...], out: str | None, as_json: bool) -> None:
    """Compare runs: a table of the options in which they differ and of their final
    metrics (metrics.jsonl) and evaluation (eval.json), and a PNG of their training
    curves overlaid on shared axes."""
    from ebkit.tracking.compare import compare_runs, save_comparison_curves

    if len(run_dirs) < 2:
        raise UsageError(f"compare needs at least two runs, got {len(run_dirs)}")
    target = Path(out or DEFAULT_PICTURE)
    if target.suffix.lower() != ".png":
        raise UsageError(f"--out {target}: the picture must be a .png file")
    if out is None and target.exists():
        raise UsageError(f"{target} exists; name another picture with --out FILE.png")
    if target.is_dir():
        raise UsageError(f"--out {target} is a directory; name a .png file")
    comparison = compare_runs(run_dirs)  # every run is checked before anything is written
    picture = save_comparison_curves(comparison, target)
    if as_json:
        click.echo(json.dumps({**comparison.as_json(), "picture": str(picture)}, indent=2))
        return
    _print_table(comparison)
    rich_console(stderr=True).print(f"Wrote {picture}")


def _print_table(comparison: Comparison) -> None:
    from rich.markup import escape
    from rich.table import Table

    from ebkit.tracking.compare import format_value

    table = Table(show_lines=False)
    table.add_column("")
    for name in comparison.names:
        table.add_column(escape(name), justify="right", overflow="fold")
    sections = [
        ("options that differ", comparison.options),
        ("final metrics (metrics.jsonl)", comparison.metrics),
        ("evaluation (eval.json)", comparison.evaluation),
    ]
    for title, rows in sections:
        table.add_section()
        if not rows:
            empty = "all equal" if title.startswith("options") else "none"
            table.add_row(f"[bold]{title}[/]: {empty}", *[""] * len(comparison.names))
            continue
        table.add_row(f"[bold]{title}[/]", *[""] * len(comparison.names))
        for key, values in rows.items():
            table.add_row(escape(key), *(escape(format_value(value)) for value in values))
    rich_console().print(table)
