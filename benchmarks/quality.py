"""Sample quality of every model of :data:`MODELS` (GAN, EBGAN, EBGAN-PT, BEGAN, the
hybrid, the replay-buffer EBM and the plugins' models), each at its defaults: modes
covered and high-quality share on the 2-D Gaussian mixtures, sliced Wasserstein distance
and MMD² on moons and swissroll, image metrics on the embedded 8×8 digits.

Every model is trained with ``ebkit.train`` (the code path of ``ebkit train``) with the
components of its row and nothing else set (docs/quality.md lists each row's flags), and
scored with ``ebkit.evaluation.evaluate.evaluate_run`` (the code path of ``ebkit
evaluate``): steps, widths, learning rates, margins and the samplers' settings are each
component's defaults for the kind of data, so the table measures what a user gets.
``--steps``, ``--point-width`` and ``--image-width`` override them for quick checks.

The default run: the mixtures, ``moons`` and ``swissroll``, every model, seeds 0–4, and
``digits`` with GAN and EBGAN, seeds 0–2; ``--datasets rings,checkerboard,pinwheel,2spirals``
adds the concentric rings and Grathwohl et al.'s 2019 toy densities, scored like
``moons``. 2500 samples scored per run, one thread per run: hours of one core, so pick
``--datasets`` and ``--models``.
Beside the models the tables print uniform noise on the data's box (chance), exact
samples of the mixture (the ceiling) and PacGAN's (Lin et al. 2018) and VEEGAN's
(Srivastava et al. 2017) Table 1.

Output: one line per run as it finishes, then Markdown tables (medians with the
interquartile range over seeds) ready to paste into ``docs/quality.md``. ``--json FILE``
writes every raw number. The exit status is 0 whatever the numbers (2 for a bad option).

    python benchmarks/quality.py --datasets 8gaussians,25gaussians --json quality.json
    python benchmarks/quality.py --datasets 25gaussians --models ebgan,ebgan-pt --seeds 10
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from quality_models import MODELS, SEED_MODELS, labels
from quality_tables import (
    ALL_DATASETS,
    DEFAULT_DATASETS,
    IMAGE_DATASETS,
    POINT_DATASETS,
    computed_references,
    describe,
    load_average,
    report_text,
)

QUIET_TRAIN_OPTIONS = {
    "train.log_every": 100,
    "train.sample_every": 0,  # pictures only at the end
    "train.checkpoint_every": 0,  # one checkpoint, at the end
}


@dataclass(frozen=True)
class Task:
    """One training run and its evaluation."""

    data: str
    model: str
    seed: int
    steps: int | None
    """None: the run's default (``train.steps`` auto: 20000 for EBGAN on 2-D data)."""
    batch_size: int | None
    """None: the run's default (``train.batch_size`` auto: 256 for the margin, BEGAN and
    GAN losses on 2-D data)."""
    samples: int
    width: int | None  # None: every component's own width
    threads: int
    work_dir: str
    keep: bool


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--seeds", type=int, default=5, help="seeds 0..N-1 on the 2-D data")
    parser.add_argument("--image-seeds", type=int, default=3, help="seeds 0..N-1 on digits")
    parser.add_argument(
        "--first-seed",
        type=int,
        default=0,
        help="start the seeds here (FIRST..FIRST+N-1), to add seeds to an earlier --json run",
    )
    parser.add_argument(
        "--merge",
        nargs="+",
        metavar="JSON",
        default=None,
        help="train nothing: print the tables of the runs of these --json files together",
    )
    parser.add_argument(
        "--steps", type=int, default=None, help="training steps of every run (default: auto)"
    )
    parser.add_argument("--batch-size", type=int, default=None, help="of every run (default: auto)")
    parser.add_argument(
        "--models",
        default=",".join(SEED_MODELS),
        help=f"models on the 2-D data, comma-separated, of: {', '.join(MODELS)}; or all",
    )
    parser.add_argument("--image-models", default="gan,ebgan", help="models on digits")
    parser.add_argument(
        "--datasets",
        default=",".join(DEFAULT_DATASETS),
        help=f"comma-separated, of: {', '.join(ALL_DATASETS)}",
    )
    parser.add_argument("--samples", type=int, default=2500, help="samples scored per run")
    for kind, where in (("point", "2-D data"), ("image", "digits")):
        help_text = f"hidden width on {where} (default: auto)"
        parser.add_argument(f"--{kind}-width", type=int, default=None, help=help_text)
    parser.add_argument("--jobs", type=int, default=2, help="runs trained at once (processes)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per run")
    parser.add_argument("--json", dest="json_path", default=None, help="write raw numbers here")
    parser.add_argument("--keep-runs", default=None, help="keep the run directories in this folder")
    args = parser.parse_args(argv)
    chosen = ",".join(MODELS) if args.models == "all" else args.models
    args.models = _names(parser, "--models", chosen, MODELS)
    args.image_models = _names(parser, "--image-models", args.image_models, MODELS)
    args.datasets = _names(parser, "--datasets", args.datasets, ALL_DATASETS)
    for name in ("seeds", "image_seeds", "steps", "jobs", "threads", "point_width", "image_width"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if (args.batch_size is not None and args.batch_size < 2) or args.samples < 2:
        parser.error("--batch-size and --samples must be at least 2")
    if args.first_seed < 0:
        parser.error("--first-seed must be at least 0")
    for path in args.merge or ():
        if not Path(path).is_file():
            parser.error(f"--merge {path}: no such file (give the --json files of earlier runs)")
    return args


def _names(
    parser: argparse.ArgumentParser, flag: str, text: str, accepted: Iterable[str]
) -> list[str]:
    accepted = list(accepted)
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in accepted]
    if unknown or not names:
        parser.error(f"{flag} {text!r}: unknown or empty (accepted: {', '.join(accepted)})")
    return list(dict.fromkeys(names))


def plan(args: argparse.Namespace, work_dir: str) -> list[Task]:
    """Every run, the costly replay runs first so that parallel jobs finish together."""
    tasks = []
    for data in args.datasets:
        image = data in IMAGE_DATASETS
        for model in args.image_models if image else args.models:
            count = args.image_seeds if image else args.seeds
            for seed in range(args.first_seed, args.first_seed + count):
                tasks.append(
                    Task(
                        data=data,
                        model=model,
                        seed=seed,
                        steps=args.steps,
                        batch_size=args.batch_size,
                        samples=args.samples,
                        width=args.image_width if image else args.point_width,
                        threads=args.threads,
                        work_dir=work_dir,
                        keep=args.keep_runs is not None,
                    )
                )
    # The mixtures first (the headline rows), and within each set of data the costly
    # replay runs first so that parallel jobs finish together.
    return sorted(
        tasks,
        key=lambda task: (task.data not in POINT_DATASETS, task.model != "replay"),
    )


def train_options(task: Task) -> dict[str, Any]:
    """The options of one run: the model's own options, quiet logging, and the widths
    only where ``--point-width`` or ``--image-width`` overrides the defaults."""
    model = MODELS[task.model]
    widths: dict[str, Any] = {}
    if task.width is not None:
        widths["energy.width"] = task.width
        if model.sampler.startswith("generator"):
            widths["sampler.width"] = task.width
    return {**widths, **model.options, **QUIET_TRAIN_OPTIONS}


def run_task(task: Task) -> dict[str, Any]:
    """Train one model, score its samples and return a JSON-ready record."""
    import torch

    from ebkit import build_component
    from ebkit.core.errors import NonFiniteLossError
    from ebkit.evaluation.evaluate import evaluate_run

    torch.set_num_threads(task.threads)
    out = Path(task.work_dir) / f"{task.data}-{task.model}-seed{task.seed}"
    record: dict[str, Any] = {
        "data": task.data,
        "model": task.model,
        "seed": task.seed,
        "steps": task.steps,
    }
    start = time.perf_counter()
    cpu_start = time.process_time()
    try:
        run = train_run(task, out)
    except NonFiniteLossError as error:  # a diverged run is a result, not a crash
        if not task.keep:
            shutil.rmtree(out, ignore_errors=True)
        return {**record, "error": str(error), "metrics": {}, "last_logged": {}}
    trained = time.perf_counter()
    train_cpu = time.process_time() - cpu_start
    sampling = MODELS[task.model].sampled_with
    if sampling is not None:  # --sampler none: Langevin on the learnt energy draws them
        eta = 2e-5 * (run.spec.high - run.spec.low) ** 2
        langevin = build_component("sampler", "langevin", run.spec, step_size=eta, **sampling)
        run = dataclasses.replace(run, sampler=langevin.requires_grad_(False))
    results = evaluate_run(run, n=task.samples, seed=0)
    scored = time.perf_counter()
    history = run.metrics_history()
    if not task.keep:
        shutil.rmtree(out, ignore_errors=True)
    record.update(
        steps=history[-1]["step"] if history else task.steps,
        train_seconds=trained - start,
        train_cpu_seconds=train_cpu,
        eval_seconds=scored - trained,
        metrics=results["sets"]["samples"],
        # A sampler that refines a generator's proposals also scores them raw (``raw``).
        other_sets={name: v for name, v in results["sets"].items() if name != "samples"},
        data_energy=results["data_energy"],
        # The training diagnostics of the last logged step (energy gap, PT term, k_t...).
        last_logged=history[-1] if history else {},
    )
    if task.data in POINT_DATASETS and "modes_covered" not in record["metrics"]:
        record["error"] = "some samples are not finite, so they were not scored"
    return record


def train_run(task: Task, out: Path) -> Any:
    """``ebkit.train`` for one task, into ``out``; returns the loaded ``SavedRun``."""
    import ebkit

    model = MODELS[task.model]
    return ebkit.train(
        energy=model.energy,
        sampler=model.sampler,
        loss=model.loss,
        regularizers=list(model.regularizers),
        data=task.data,
        steps=task.steps,
        batch_size=task.batch_size,
        seed=task.seed,
        device="cpu",
        options=train_options(task),
        out=out,
    )


def run_all(
    tasks: Sequence[Task], jobs: int, report: Callable[[str], None]
) -> list[dict[str, Any]]:
    """The records of every task, in the order of ``tasks``."""
    records: list[dict[str, Any]] = []

    def finished(record: dict[str, Any]) -> None:
        records.append(record)
        report(f"[{len(records)}/{len(tasks)}] {describe(record, labels())}")

    if jobs == 1:
        for task in tasks:
            finished(run_task(task))
    else:
        import multiprocessing

        # spawn: workers import torch afresh instead of inheriting a forked OpenMP pool.
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
            futures = [pool.submit(run_task, task) for task in tasks]
            for future in as_completed(futures):
                finished(future.result())
    order = {(task.data, task.model, task.seed): index for index, task in enumerate(tasks)}
    return sorted(
        records, key=lambda record: order[record["data"], record["model"], record["seed"]]
    )


MERGED_SETTINGS = ("steps", "batch_size", "samples", "point_width", "image_width")
"""What the runs of merged files must share to sit in one table."""


def merged_runs(paths: Sequence[str]) -> tuple[dict[str, Any], list[dict[str, Any]], float]:
    """The settings (with the first file's jobs and threads), runs and summed wall time of
    earlier ``--json`` files, for one table
    over all of them (say seeds 0–4 of one run and 5–9 of another). Raises ``ValueError``
    naming the file that cannot join: unreadable, trained with other settings, or
    repeating a run (same data, model and seed)."""
    settings: dict[str, Any] = {}
    shown: dict[str, Any] = {}  # the first file's jobs and threads, printed with the wall time
    records: list[dict[str, Any]] = []
    seen: dict[tuple[str, str, int], str] = {}
    wall = 0.0
    for path in paths:
        try:
            payload = json.loads(Path(path).read_text(encoding="utf-8"))
            these, runs = payload["settings"], payload["runs"]
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise ValueError(f"--merge {path}: not a quality.py --json file ({error})") from None
        shared = {key: these.get(key) for key in MERGED_SETTINGS}
        if settings and shared != settings:
            raise ValueError(
                f"--merge {path}: trained with {shared}, the first file with {settings}"
            )
        settings = shared
        shown = shown or {key: these[key] for key in ("jobs", "threads") if key in these}
        for run in runs:
            key = (run["data"], run["model"], run["seed"])
            if key in seen:
                raise ValueError(f"--merge {path}: {key} is also in {seen[key]}")
            seen[key] = path
            records.append(run)
        wall += float(payload.get("wall_seconds", 0.0))
    return {**settings, **shown}, records, wall


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.merge:
        try:
            settings, records, wall = merged_runs(args.merge)
        except ValueError as error:
            print(f"quality.py: error: {error}", file=sys.stderr)
            return 2
        args = argparse.Namespace(**{**vars(args), **settings})
        args.datasets = [data for data in ALL_DATASETS if any(r["data"] == data for r in records)]
        return report(args, records, wall)
    started = time.perf_counter()
    print(
        f"python {platform.python_version()}, {os.cpu_count()} CPUs, load average "
        f"{load_average()}; {args.jobs} job(s) × {args.threads} thread(s)",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="ebkit-quality-") as scratch:
        work_dir = args.keep_runs or scratch
        Path(work_dir).mkdir(parents=True, exist_ok=True)
        tasks = plan(args, str(Path(work_dir).resolve()))
        records = run_all(tasks, args.jobs, lambda line: print(line, flush=True))
    return report(args, records, time.perf_counter() - started)


def report(args: argparse.Namespace, records: list[dict[str, Any]], wall: float) -> int:
    """Print the tables of ``records`` and write them with the raw numbers to ``--json``."""
    references = computed_references(args.datasets, args.samples)
    text = report_text(args, records, wall, references, labels())
    print()
    print(text, end="", flush=True)
    if args.json_path:
        payload = {
            "settings": {
                key: value for key, value in vars(args).items() if key not in ("json_path",)
            },
            "models": {
                name: {
                    "label": model.label,
                    "energy": model.energy,
                    "sampler": model.sampler,
                    "loss": model.loss,
                    "regularizers": list(model.regularizers),
                    "options": model.options,
                }
                for name, model in MODELS.items()
            },
            "wall_seconds": wall,
            "runs": list(records),
            "references": references,
            "markdown": text,
        }
        Path(args.json_path).write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {args.json_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
