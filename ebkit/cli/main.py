"""The ``ebkit`` command line.

Import-light on purpose: listing plugins and components, and ``--help``, never import
torch; commands that train import the engine inside their body.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from ebkit.core.errors import EbkitError, UsageError
from ebkit.plugin.components import KINDS
from ebkit.plugin.manager import PluginManager, get_plugin_manager

KIND_PLURALS = {
    "energies": "energy",
    "samplers": "sampler",
    "losses": "loss",
    "regularizers": "regularizer",
    "datasets": "dataset",
}


def _console(stderr: bool = False) -> Any:
    from rich.console import Console

    return Console(stderr=stderr, highlight=False)


class EbkitGroup(click.Group):
    """Turns :class:`EbkitError` into ``Error: <one line>`` and its exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except EbkitError as error:
            click.echo(f"Error: {error}", err=True)
            ctx.exit(error.exit_code)
        except KeyboardInterrupt:
            click.echo("Interrupted.", err=True)
            ctx.exit(130)
        except (click.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except Exception as error:
            if os.environ.get("EBKIT_DEBUG"):
                raise
            click.echo(
                f"Error: unexpected {type(error).__name__}: {error} "
                "(set EBKIT_DEBUG=1 to see the traceback)",
                err=True,
            )
            ctx.exit(1)


@click.group(cls=EbkitGroup)
@click.version_option(package_name="ebkit")
def cli() -> None:
    """Energy-based models on PyTorch: train EBGANs, BEGANs and MCMC-trained EBMs
    from components provided by plugins."""


def _manager() -> PluginManager:
    return get_plugin_manager()


# -- train ----------------------------------------------------------------------------


@cli.command()
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
    quiet: bool,
) -> None:
    """Train an energy against a contrastive sampler and write a run directory.

    With --resume, continue the run in --out; only --steps (to extend it) and --device
    may be given then, since everything else is fixed by the run's config.json.
    """
    from ebkit.runs.config import load_toml, resolve_config

    manager = _manager()
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
    _console(stderr=True).print(
        f"Trained to step {step} in {elapsed:.1f} s. Run: [bold]{escape(out)}[/]{shown}"
    )


# -- sample -----------------------------------------------------------------------------


@cli.command()
@click.argument("run_dir", metavar="RUN_DIR")
@click.option("--n", "count", type=int, default=64, show_default=True, help="Number of samples.")
@click.option(
    "--out",
    metavar="FILE",
    help="Output .png (a grid or scatter) or .npz [default: RUN_DIR/samples/sampled.png].",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the noise.")
@click.option(
    "--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True
)
@click.option(
    "-o",
    "overrides",
    metavar="sampler.KEY=VALUE",
    multiple=True,
    help="Change a sampler option for sampling (repeatable).",
)
@click.option(
    "--class",
    "label",
    type=int,
    metavar="K",
    help="Conditional runs: draw samples of class K only [default: every class in turn].",
)
def sample(
    run_dir: str,
    count: int,
    out: str | None,
    seed: int,
    device: str,
    overrides: Sequence[str],
    label: int | None,
) -> None:
    """Draw samples from the newest checkpoint of a run (no training data needed).

    The picture of a conditional run is a class grid, one row per class (⌈N / classes⌉
    samples each); --class K draws class K only."""
    if count < 1:
        raise UsageError(f"--n {count}: must be at least 1")
    target = out or os.path.join(run_dir, "samples", "sampled.png")
    if not target.endswith((".png", ".npz")):
        raise UsageError(f"--out {target}: the file must end in .png or .npz")
    from ebkit.runs.saved import SavedRun

    run = SavedRun.open(run_dir, manager=_manager(), device=device, sampler_overrides=overrides)
    per_row = None
    labels: Any = label
    if label is None and run.spec.conditional:
        from ebkit.core.engine import class_grid

        labels, per_row = class_grid(run.spec, count)
        labels = labels[:count]  # rows of ⌈n / K⌉, the last class perhaps cut short
    samples = run.sample(count, seed=seed, labels=labels)
    run.save_samples(samples, target, per_row=per_row)
    _console(stderr=True).print(f"Wrote {count} samples from step {run.step} to {target}")


# -- evaluate and score -----------------------------------------------------------------


@cli.command()
@click.argument("run_dir", metavar="RUN_DIR")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
@click.option(
    "--n", "count", type=int, default=2000, show_default=True, help="Samples to evaluate."
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the samples.")
@click.option(
    "--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True
)
def evaluate(run_dir: str, as_json: bool, count: int, seed: int, device: str) -> None:
    """Compute the metrics that fit a run's data and write RUN_DIR/eval.json."""
    from ebkit.evaluation.evaluate import evaluate_run, write_evaluation
    from ebkit.runs.saved import SavedRun

    manager = _manager()
    run = SavedRun.open(run_dir, manager=manager, device=device)
    status = _console(stderr=True)
    with status.status("evaluating") as spinner:
        results = evaluate_run(
            run, n=count, seed=seed, manager=manager, progress=lambda text: spinner.update(text)
        )
    path = write_evaluation(Path(run_dir), results)
    if as_json:
        click.echo(json.dumps(results, indent=2))
        return
    _print_evaluation(results)
    status.print(f"Wrote {path}")


def _print_evaluation(results: dict[str, Any]) -> None:
    from rich.table import Table

    console = _console()
    console.print(
        f"[bold]{results['run']}[/] at step {results['step']}: {results['energy']} / "
        f"{results['sampler']} / {results['loss']} on {results['data']}, "
        f"{results['num_samples']} samples"
    )
    sets = results["sets"]
    if not sets:
        console.print("(no sampler: the run was trained with --sampler none)")
    table = Table(show_edge=False)
    table.add_column("metric")
    for name in sets:
        table.add_column(name, justify="right")
    metrics = list(dict.fromkeys(key for values in sets.values() for key in values))
    for metric in metrics:
        table.add_row(metric, *(_format_value(values.get(metric)) for values in sets.values()))
    if sets:
        console.print(table)
    console.print(f"mean energy of the data: {_format_value(results['data_energy'])}")
    if "test_error" in results:
        console.print(
            f"held-out classification error: {results['test_error']:.4f} "
            f"({results['test_size']} examples)"
        )


def _format_value(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        return " ".join(map(str, value))
    return str(value)


@cli.command()
@click.argument("run_dir", metavar="RUN_DIR")
@click.argument("inputs", metavar="INPUT")
@click.option("--ood", metavar="INPUT", help="Outliers to compare with: prints the AUROC.")
@click.option(
    "--out",
    metavar="FILE",
    help="Per-sample energies, .csv or .npz [default: INPUT's name + -energies.csv in RUN_DIR].",
)
@click.option("--data-path", metavar="PATH", help="Files of INPUT when it is a dataset name.")
@click.option(
    "--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True
)
def score(
    run_dir: str,
    inputs: str,
    ood: str | None,
    out: str | None,
    data_path: str | None,
    device: str,
) -> None:
    """Energies of INPUT (an .npz file, an image folder or a dataset name) under a run.

    Lower energy means more like the training data: with --ood, the AUROC says how well
    the energy separates INPUT (in-distribution) from the outliers.
    """
    from ebkit.evaluation.evaluate import load_inputs, score_summary, write_energies
    from ebkit.runs.saved import SavedRun

    stem = Path(inputs.rstrip("/")).stem or "input"
    target = Path(out) if out else Path(run_dir) / f"{stem}-energies.csv"
    if target.suffix not in (".csv", ".npz"):
        raise UsageError(f"--out {target}: the file must end in .csv or .npz")
    manager = _manager()
    run = SavedRun.open(run_dir, manager=manager, device=device)
    x, labels = load_inputs(inputs, run, manager=manager, data_path=data_path)
    energies = run.energies(x)
    ood_energies = None
    if ood is not None:
        ood_x, _ = load_inputs(ood, run, manager=manager, data_path=data_path)
        ood_energies = run.energies(ood_x)
    write_energies(target, energies, labels)
    summary = score_summary(energies, ood_energies)
    console = _console()
    console.print(
        f"{inputs}: {int(summary['count'])} samples, mean energy {summary['mean']:.4g} "
        f"(std {summary['std']:.3g}, range {summary['min']:.4g} .. {summary['max']:.4g})"
    )
    if ood_energies is not None:
        console.print(
            f"{ood}: {int(summary['ood_count'])} samples, mean energy {summary['ood_mean']:.4g}"
        )
        console.print(f"[bold]AUROC[/] (outliers have the higher energy): {summary['auroc']:.4f}")
    _console(stderr=True).print(f"Wrote {target}")


# -- plugins and components -------------------------------------------------------------


@cli.command()
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
    manager = _manager()
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
    _console().print(table)


# -- install and uninstall ----------------------------------------------------------------

# Everything after the command goes to pip untouched (-e, -U, --no-deps, -r FILE ...).
_PIP_PASSTHROUGH = {"ignore_unknown_options": True, "help_option_names": ["--help"]}


@cli.command(context_settings=_PIP_PASSTHROUGH)
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


@cli.command(context_settings=_PIP_PASSTHROUGH)
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


@cli.group()
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

    project = new_plugin(name, _kind(kind_name, flag="--kind"), parent)
    click.echo(f"Created {project.dist} in {project.path} ({project.kind} {project.component!r}):")
    for path in project.files:
        click.echo(f"  {path}")
    click.echo("Next:")
    for step in project.next_steps():
        click.echo(f"  {step}")


def _kind(text: str, *, flag: str = "") -> str:
    kind = KIND_PLURALS.get(text, text)
    if kind not in KINDS:
        where = f"{flag}: " if flag else ""
        raise UsageError(f"{where}unknown component kind {text!r} (accepted: {', '.join(KINDS)})")
    return kind


@cli.command(context_settings={"ignore_unknown_options": False})
@click.argument("args", nargs=-1, metavar="[KIND] | show KIND NAME")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def components(args: tuple[str, ...], as_json: bool) -> None:
    """List components (of one KIND), or show one with its options.

    KIND is energy, sampler, loss, regularizer or dataset.
    """
    manager = _manager()
    if args and args[0] == "show":
        if len(args) != 3:
            raise UsageError("usage: ebkit components show KIND NAME")
        _show_component(manager, _kind(args[1]), args[2], as_json)
        return
    if len(args) > 1:
        raise UsageError("usage: ebkit components [KIND] or ebkit components show KIND NAME")
    kinds = [_kind(args[0])] if args else list(KINDS)
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
    _console().print(table)


def _show_component(manager: PluginManager, kind: str, name: str, as_json: bool) -> None:
    entry = manager.lookup(kind, name)
    component = entry.component
    if as_json:
        payload = {
            "kind": kind,
            "name": component.name,
            "id": entry.qualified_id,
            "summary": component.summary,
            "options": [
                {
                    "name": option.name,
                    "type": option.type_name,
                    "default": option.default,
                    "help": option.help,
                    "choices": list(option.choices) if option.choices else None,
                }
                for option in component.options
            ],
        }
        click.echo(json.dumps(payload, indent=2))
        return
    from rich.markup import escape
    from rich.table import Table

    console = _console()
    console.print(f"[bold]{entry.qualified_id}[/] ({kind}): {escape(component.summary)}")
    if not component.options:
        console.print("No options.")
        return
    table = Table("option", "type", "default", "help")
    section = "data" if kind == "dataset" else kind
    for option in component.options:
        help_text = option.help
        if option.choices:
            help_text += f" (one of: {', '.join(option.choices)})"
        table.add_row(
            f"{section if kind != 'regularizer' else component.name}.{option.name}",
            option.type_name,
            escape(option.describe_default()),
            escape(help_text),
        )
    console.print(table)


def _add_plugin_commands() -> None:
    try:
        manager = _manager()
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
    if not args or args[0] not in WITHOUT_PLUGINS:
        _add_plugin_commands()
    cli.main(args=args, prog_name="ebkit")


if __name__ == "__main__":
    main()
