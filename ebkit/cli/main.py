"""The ``ebkit`` command group: error handling and the wiring of the command groups.

Import-light on purpose: listing plugins and components, and ``--help``, never import
torch; commands that train import the engine inside their body. The commands live
by group: :mod:`ebkit.cli.train`, :mod:`ebkit.cli.inspect` (sample, evaluate, score)
and :mod:`ebkit.cli.plugins` (plugins, components, install, uninstall, plugin new);
:mod:`ebkit.cli.sweep` (sweep, sweep report).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import Any

import click

from ebkit.cli.common import plugin_manager
from ebkit.cli.compare import compare
from ebkit.cli.inspect import evaluate, sample, score
from ebkit.cli.plugins import components, install, plugin, plugins, uninstall
from ebkit.cli.sweep import sweep
from ebkit.cli.train import train
from ebkit.core.errors import EbkitError, UsageError

__all__ = ["WITHOUT_PLUGINS", "EbkitGroup", "cli", "command_line", "main"]

command_line: list[str] = []
"""The arguments of the running command (after ``ebkit``), for ``train --nproc`` to
hand to each rank."""


class EbkitGroup(click.Group):
    """Turns :class:`EbkitError` into ``Error: <one line>`` and its exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except EbkitError as error:
            # An error every rank meets (a bad option) is printed once, by rank 0.
            echoed = getattr(error, "shown_by_rank_0", False) or (
                isinstance(error, UsageError)
                and _rank_label()
                and os.environ.get("RANK", "0") != "0"
            )
            if not echoed:
                click.echo(f"Error{_rank_label()}: {error}", err=True)
            ctx.exit(error.exit_code)
        except KeyboardInterrupt:
            click.echo("Interrupted.", err=True)
            ctx.exit(130)
        except (click.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except Exception as error:
            if os.environ.get("EBKIT_DEBUG"):
                raise
            from ebkit.core.files import is_disk_full

            if is_disk_full(error):
                click.echo(f"Error: the disk is full ({error}); free some space", err=True)
                ctx.exit(1)
            click.echo(
                f"Error{_rank_label()}: unexpected {type(error).__name__}: {error} "
                "(set EBKIT_DEBUG=1 to see the traceback)",
                err=True,
            )
            ctx.exit(1)


def _rank_label() -> str:
    """`` (rank R)`` in a data-parallel job whose ranks all print, else nothing."""
    if os.environ.get("WORLD_SIZE", "1") in ("", "1"):
        return ""
    return f" (rank {os.environ.get('RANK', '?')})"


@click.group(cls=EbkitGroup)
@click.version_option(package_name="ebkit")
def cli() -> None:
    """Energy-based models on PyTorch: train EBGANs, BEGANs and MCMC-trained EBMs
    from components provided by plugins."""


for _command in (
    train,
    sample,
    evaluate,
    score,
    compare,
    sweep,
    plugins,
    install,
    uninstall,
    plugin,
    components,
):
    cli.add_command(_command)


def _add_plugin_commands() -> None:
    try:
        manager = plugin_manager()
    except EbkitError as error:  # strict mode: a broken plugin stops the CLI
        click.echo(f"Error: {error}", err=True)
        sys.exit(error.exit_code)
    manager.add_commands(cli)


# Commands that must work while an installed plugin is broken (even under
# EBKIT_STRICT_PLUGINS), so the program does not load plugins before running them.
WITHOUT_PLUGINS = frozenset({"install", "uninstall", "plugin"})


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``ebkit`` script."""
    args = list(sys.argv[1:] if argv is None else argv)
    command_line[:] = args
    if not args or args[0] not in WITHOUT_PLUGINS:
        _add_plugin_commands()
    cli.main(args=args, prog_name="ebkit")


if __name__ == "__main__":
    main()
