"""``ebkit sample``, ``ebkit evaluate`` and ``ebkit score``: look into a saved run.

Import-light: saved runs (and torch) are imported inside each command's body.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from ebkit.cli.common import plugin_manager, rich_console
from ebkit.core.errors import UsageError

__all__ = ["evaluate", "sample", "score"]


SAMPLER_OVERRIDES = click.option(
    "-o",
    "overrides",
    metavar="sampler.KEY=VALUE",
    multiple=True,
    help="Change a sampler option for sampling, one that does not change its weights "
    "(a number of MCMC steps; repeatable).",
)


@click.command()
@click.argument("run_dir", metavar="RUN_DIR")
@click.option("--n", "count", type=int, default=64, show_default=True, help="Number of samples.")
@click.option(
    "--out",
    metavar="FILE",
    help="Output .png (a grid or scatter) or .npz [default: RUN_DIR/samples/sampled.png].",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the noise.")
@click.option(
    "--device",
    default="auto",
    show_default=True,
    help="Where to compute: auto (CUDA where available), cpu, cuda or cuda:N.",
)
@SAMPLER_OVERRIDES
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

    run = SavedRun.open(
        run_dir, manager=plugin_manager(), device=device, sampler_overrides=overrides
    )
    per_row = None
    labels: Any = label
    if label is None and run.spec.conditional:
        from ebkit.core.labels import class_grid

        labels, per_row = class_grid(run.spec, count)
        labels = labels[:count]  # rows of ⌈n / K⌉, the last class perhaps cut short
    samples = run.sample(count, seed=seed, labels=labels)
    run.save_samples(samples, target, per_row=per_row)
    rich_console(stderr=True).print(f"Wrote {count} samples from step {run.step} to {target}")


# -- evaluate and score -----------------------------------------------------------------


@click.command()
@click.argument("run_dir", metavar="RUN_DIR")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
@click.option(
    "--n", "count", type=int, default=2000, show_default=True, help="Samples to evaluate."
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the samples.")
@click.option(
    "--device",
    default="auto",
    show_default=True,
    help="Where to compute: auto (CUDA where available), cpu, cuda or cuda:N.",
)
@click.option(
    "--metrics",
    "metric_choice",
    type=click.Choice(["offline", "standard", "all"]),
    default="offline",
    show_default=True,
    help="Image metrics: the offline classifier's, the standard Inception FID/KID/IS "
    "(needs ebkit[standard-metrics] and the Inception weights), or both.",
)
@click.option(
    "--inception-weights",
    metavar="PATH",
    help="The FID Inception weights (.pth or .safetensors) [default: "
    "pt_inception-2015-12-05-6726825d.pth in torch hub's checkpoints folder].",
)
@SAMPLER_OVERRIDES
def evaluate(
    run_dir: str,
    as_json: bool,
    count: int,
    seed: int,
    device: str,
    metric_choice: str,
    inception_weights: str | None,
    overrides: Sequence[str],
) -> None:
    """Compute the metrics that fit a run's data and write RUN_DIR/eval.json (which
    records the -o sampler options it was drawn with)."""
    from ebkit.evaluation.evaluate import evaluate_run, write_evaluation
    from ebkit.runs.saved import SavedRun

    manager = plugin_manager()
    run = SavedRun.open(run_dir, manager=manager, device=device, sampler_overrides=overrides)
    status = rich_console(stderr=True)
    with status.status("evaluating") as spinner:
        results = evaluate_run(
            run,
            n=count,
            seed=seed,
            manager=manager,
            progress=lambda text: spinner.update(text),
            metrics=metric_choice,
            inception_weights=inception_weights,
        )
    if overrides:
        results["sampler_overrides"] = list(overrides)
    path = write_evaluation(Path(run_dir), results)
    if as_json:
        click.echo(json.dumps(results, indent=2))
        return
    _print_evaluation(results)
    status.print(f"Wrote {path}")


def _print_evaluation(results: dict[str, Any]) -> None:
    from rich.table import Table

    console = rich_console()
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
    standard = results.get("standard_metrics")
    if standard:
        published = "the published file" if standard["published_weights"] else "not published"
        console.print(
            f"standard metrics: {standard['library']}, Inception weights {standard['weights']} "
            f"({published}), {standard['num_real']} real images"
        )
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


@click.command()
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
    "--device",
    default="auto",
    show_default=True,
    help="Where to compute: auto (CUDA where available), cpu, cuda or cuda:N.",
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
    manager = plugin_manager()
    run = SavedRun.open(run_dir, manager=manager, device=device)
    x, labels = load_inputs(inputs, run, manager=manager, data_path=data_path)
    energies = run.energies(x)
    ood_energies = None
    if ood is not None:
        ood_x, _ = load_inputs(ood, run, manager=manager, data_path=data_path)
        ood_energies = run.energies(ood_x)
    write_energies(target, energies, labels)
    summary = score_summary(energies, ood_energies)
    console = rich_console()
    console.print(
        f"{inputs}: {int(summary['count'])} samples, mean energy {summary['mean']:.4g} "
        f"(std {summary['std']:.3g}, range {summary['min']:.4g} .. {summary['max']:.4g})"
    )
    if ood_energies is not None:
        console.print(
            f"{ood}: {int(summary['ood_count'])} samples, mean energy {summary['ood_mean']:.4g}"
        )
        console.print(f"[bold]AUROC[/] (outliers have the higher energy): {summary['auroc']:.4f}")
    rich_console(stderr=True).print(f"Wrote {target}")
