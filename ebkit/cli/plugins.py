"""``ebkit plugins``, ``components``, ``install``, ``uninstall`` and ``plugin new``:
the plugin system from the command line.

Import-light: listing plugins and components never imports torch.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import click

from ebkit.cli.common import plugin_manager, rich_console
from ebkit.core.errors import UsageError
from ebkit.plugin.components import ALL_KINDS, KINDS, Option
from ebkit.plugin.manager import PluginManager

__all__ = ["components", "install", "plugin", "plugins", "uninstall"]

KIND_PLURALS = {
    "energies": "energy",
    "samplers": "sampler",
    "losses": "loss",
    "regularizers": "regularizer",
    "datasets": "dataset",
    "loggers": "logger",
}


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option(
    "--requirements",
    is_flag=True,
    help="Print ebkit and the installed plugin distributions as pinned pip requirement "
    "lines (rebuild with `ebkit install -r FILE`).",
)
def plugins(as_json: bool, requirements: bool) -> None:
    """List plugins, their versions and the components each provides."""
    if requirements:
        if as_json:
            raise UsageError("--requirements and --json cannot be combined; choose one")
        from ebkit.plugin.installer import requirement_lines

        for line in requirement_lines():
            click.echo(line)
        return
    manager = plugin_manager()
    infos = sorted(manager.plugins.values(), key=lambda info: (info.source != "builtin", info.name))
    if as_json:
        click.echo(json.dumps([info.as_json() for info in infos], indent=2))
        return
    from rich.markup import escape
    from rich.table import Table

    table = Table("plugin", "version", "status", "components")
    for info in infos:
        provided = "; ".join(
            f"{kind}: {', '.join(names)}" for kind, names in sorted(info.components.items())
        )
        status = info.status if info.error is None else f"{info.status}: {info.error}"
        table.add_row(info.name, info.version or "-", escape(status), provided or "-")
    rich_console().print(table)


# -- install and uninstall ----------------------------------------------------------------

# Everything after the command goes to pip untouched (-e, -U, --no-deps, -r FILE ...).
_PIP_PASSTHROUGH = {"ignore_unknown_options": True, "help_option_names": ["--help"]}


@click.command(context_settings=_PIP_PASSTHROUGH)
@click.argument("pip_args", nargs=-1, type=click.UNPROCESSED, metavar="SPEC... [PIP OPTIONS]")
def install(pip_args: tuple[str, ...]) -> None:
    """Install plugins with pip into the Python environment ebkit runs in, then list
    the components that appeared.

    SPEC is anything pip accepts: a name (ebkit-foo), a version (ebkit-foo==0.2), a local
    folder, a wheel, -e PATH for an editable install, -r FILE; pip options such as -U,
    --no-deps or --index-url pass through.
    """
    if not pip_args:
        raise UsageError(
            "usage: ebkit install SPEC... (a name, a folder, a wheel or -e PATH; "
            "pip options such as -U pass through)"
        )
    from ebkit.plugin.installer import describe_changes, run_pip, take_snapshot

    before = take_snapshot()
    run_pip("install", pip_args)
    for line in describe_changes(before, take_snapshot()):
        click.echo(line)


@click.command(context_settings=_PIP_PASSTHROUGH)
@click.option(
    "--force",
    is_flag=True,
    help="Also uninstall distributions that are not ebkit plugins, ebkit itself included.",
)
@click.argument("pip_args", nargs=-1, type=click.UNPROCESSED, metavar="NAME... [PIP OPTIONS]")
def uninstall(pip_args: tuple[str, ...], force: bool) -> None:
    """Uninstall plugin distributions with pip (without asking), then list the
    components that disappeared.

    NAME is a plugin's name as `ebkit plugins` prints it; pip options pass through.
    """
    from ebkit.plugin.installer import (
        check_uninstallable,
        describe_changes,
        names_in,
        run_pip,
        take_snapshot,
    )

    names = names_in(pip_args)
    if not names and "-r" not in pip_args and "--requirement" not in pip_args:
        raise UsageError("usage: ebkit uninstall NAME... (plugin names as `ebkit plugins` lists)")
    check_uninstallable(names, force=force)
    before = take_snapshot()
    yes = [] if {"-y", "--yes"} & set(pip_args) else ["--yes"]
    run_pip("uninstall", [*yes, *pip_args])
    for line in describe_changes(before, take_snapshot()):
        click.echo(line)


# -- plugin new -----------------------------------------------------------------------------


@click.group()
def plugin() -> None:
    """Write plugins: `ebkit plugin new NAME --kind KIND` starts a project."""


@plugin.command("new")
@click.argument("name")
@click.option(
    "--kind",
    "kind_name",
    metavar="KIND",
    help="Kind of the example component: energy, sampler, loss, regularizer or dataset.",
)
@click.option(
    "--dir",
    "parent",
    default=".",
    show_default=True,
    metavar="PATH",
    help="Folder in which the project folder NAME is created.",
)
def plugin_new(name: str, kind_name: str | None, parent: str) -> None:
    """Write a ready-to-install plugin project NAME with one working component of KIND,
    its tests and a README."""
    if kind_name is None:
        raise UsageError(f"--kind is required (accepted: {', '.join(KINDS)})")
    from ebkit.plugin.scaffold import new_plugin

    project = new_plugin(name, _kind(kind_name, flag="--kind", kinds=KINDS), parent)
    click.echo(f"Created {project.dist} in {project.path} ({project.kind} {project.component!r}):")
    for path in project.files:
        click.echo(f"  {path}")
    click.echo("Next:")
    for step in project.next_steps():
        click.echo(f"  {step}")


def _kind(text: str, *, flag: str = "", kinds: tuple[str, ...] = ALL_KINDS) -> str:
    kind = KIND_PLURALS.get(text, text)
    if kind not in kinds:
        where = f"{flag}: " if flag else ""
        raise UsageError(f"{where}unknown component kind {text!r} (accepted: {', '.join(kinds)})")
    return kind


@click.command(context_settings={"ignore_unknown_options": False})
@click.argument("args", nargs=-1, metavar="[KIND] | show KIND NAME")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def components(args: tuple[str, ...], as_json: bool) -> None:
    """List components (of one KIND), or show one with its options.

    KIND is energy, sampler, loss, regularizer, dataset or logger. `ebkit components show
    train` shows the train options (-o train.KEY=VALUE, the [train] table of a config file).
    """
    if args[:2] == ("show", "train") and len(args) == 2:
        _show_train_options(as_json)
        return
    manager = plugin_manager()
    if args and args[0] == "show":
        if len(args) != 3:
            raise UsageError(
                "usage: ebkit components show KIND NAME, or ebkit components show train"
            )
        _show_component(manager, _kind(args[1]), args[2], as_json)
        return
    if len(args) > 1:
        raise UsageError("usage: ebkit components [KIND] or ebkit components show KIND NAME")
    kinds = [_kind(args[0])] if args else list(ALL_KINDS)
    entries = [entry for kind in kinds for entry in manager.components(kind)]
    short_counts: dict[tuple[str, str], int] = {}
    for entry in entries:
        short_counts[(entry.kind, entry.name)] = short_counts.get((entry.kind, entry.name), 0) + 1
    if as_json:
        payload = [
            {
                "kind": entry.kind,
                "name": entry.name,
                "id": entry.qualified_id,
                "plugin": entry.plugin,
                "summary": entry.component.summary,
            }
            for entry in entries
        ]
        click.echo(json.dumps(payload, indent=2))
        return
    from rich.markup import escape
    from rich.table import Table

    table = Table("kind", "name", "plugin", "summary")
    for entry in entries:
        ambiguous = short_counts[(entry.kind, entry.name)] > 1
        name = entry.qualified_id if ambiguous else entry.name
        table.add_row(entry.kind, name, entry.plugin, escape(entry.component.summary))
    rich_console().print(table)


def _show_component(manager: PluginManager, kind: str, name: str, as_json: bool) -> None:
    entry = manager.lookup(kind, name)
    component = entry.component
    section = {
        "dataset": "data",
        "regularizer": component.name,
        "logger": f"logger.{component.name}",
    }.get(kind, kind)
    if as_json:
        payload = {
            "kind": kind,
            "name": component.name,
            "id": entry.qualified_id,
            "summary": component.summary,
            "options": [_option_json(option) for option in component.options],
        }
        click.echo(json.dumps(payload, indent=2))
        return
    title = f"[bold]{entry.qualified_id}[/] ({kind}): {{}}"
    _print_options(title, component.summary, [(section, option) for option in component.options])


def _show_train_options(as_json: bool) -> None:
    from ebkit.runs.settings import TRAIN_COMPONENT, TrainOptions, flags, section_of

    flag_of = flags()
    if as_json:
        options = [
            {**_option_json(option), "section": section_of(option.name)}
            | ({"flag": flag_of[option.name]} if option.name in flag_of else {})
            for option in TRAIN_COMPONENT.options
        ]
        payload = {"name": "train", "summary": TRAIN_COMPONENT.summary, "options": options}
        click.echo(json.dumps(payload, indent=2))
        return
    console = rich_console()
    console.print(f"[bold]train[/]: {TRAIN_COMPONENT.summary}")
    for attribute, section in TrainOptions.sections():
        names = [field.name for field in dataclasses.fields(section)]
        rows = [("train", option) for option in TRAIN_COMPONENT.options if option.name in names]
        summary = " ".join((section.__doc__ or "").split())
        _print_options(f"\n[bold]{attribute}[/]: {{}}", summary, rows)


def _option_json(option: Option) -> dict[str, Any]:
    return {
        "name": option.name,
        "type": option.type_name,
        "default": option.default,
        "help": option.help,
        "choices": list(option.choices) if option.choices else None,
        "minimum": option.minimum,
        "maximum": option.maximum,
        "minimum_inclusive": option.minimum_inclusive,
        "maximum_inclusive": option.maximum_inclusive,
    }


def _print_options(title: str, summary: str, rows: list[tuple[str, Option]]) -> None:
    """``title`` (formatted with ``summary``) and a table of options named ``PREFIX.NAME``."""
    from rich.markup import escape
    from rich.table import Table

    console = rich_console()
    console.print(title.format(escape(summary)))
    if not rows:
        console.print("No options.")
        return
    table = Table("option", "type", "default", "help")
    for section, option in rows:
        help_text = option.help
        if option.choices:
            help_text += f" (one of: {', '.join(option.choices)})"
        if option.describe_bounds():
            help_text += f" ({option.describe_bounds()})"
        table.add_row(
            f"{section}.{option.name}",
            option.type_name,
            escape(option.describe_default()),
            escape(help_text),
        )
    console.print(table)
