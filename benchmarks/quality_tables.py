"""The tables of ``benchmarks/quality.py``: the published numbers printed beside its
rows, the computed chance and ceiling references, one line per finished run, and the
Markdown report (medians with the interquartile range over seeds).

The summaries take ``labels``: the benchmark's model names mapped to the labels printed
in the tables, in the order the rows are printed.
"""

from __future__ import annotations

import argparse
import datetime
import math
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

POINT_DATASETS = ("8gaussians", "25gaussians")
SHAPE_DATASETS = ("moons", "swissroll", "rings", "checkerboard", "pinwheel", "2spirals")
IMAGE_DATASETS = ("digits",)
ALL_DATASETS = (*POINT_DATASETS, *SHAPE_DATASETS, *IMAGE_DATASETS)
DEFAULT_DATASETS = ("8gaussians", "25gaussians", "moons", "swissroll", "digits")
"""What a run without ``--datasets`` trains on; ``rings`` and Grathwohl et al.'s (2019)
checkerboard, pinwheel and two spirals run by name."""

PUBLISHED: dict[tuple[str, str], str] = {
    ("8gaussians", "gan"): "6.3 modes, 98.2 % (PacGAN Table 1)",
    ("25gaussians", "gan"): "17.3 modes, 94.8 % (PacGAN Table 1)",
}
"""Published numbers printed beside our rows (Lin et al. 2018, PacGAN, Table 1: 10
trials, 2500 samples); other rows have none."""

PUBLISHED_ROWS: dict[str, tuple[tuple[str, str, str, str], ...]] = {
    "8gaussians": (
        ("PacGAN4 (published)", "7.8", "95.9", "PacGAN Table 1, ring"),
        ("unrolled GAN (published)", "7.6", "35.6", "VEEGAN Table 1, ring"),
        ("VEEGAN (published)", "8.0", "52.9", "VEEGAN Table 1, ring"),
    ),
    "25gaussians": (
        ("PacGAN4 (published)", "24.8", "93.6", "PacGAN Table 1, grid"),
        ("unrolled GAN (published)", "23.6", "16.0", "VEEGAN Table 1, grid"),
        ("VEEGAN (published)", "24.6", "40.0", "VEEGAN Table 1, grid"),
    ),
}
"""Reference rows per dataset: (model, modes, high-quality share, source); Lin et al.
2018 (PacGAN) and Srivastava et al. 2017 (VEEGAN), both on a ring of 8 and a 5×5 grid of
Gaussians with the same mode-width-to-spacing ratios as ours, 2500 samples scored."""


def describe(record: dict[str, Any], labels: Mapping[str, str]) -> str:
    """One line about a finished run."""
    metrics = record["metrics"]
    head = f"{record['data']} {labels[record['model']]} seed {record['seed']}: "
    if "error" in record:
        return f"{head}FAILED: {record['error']}"
    if "modes_covered" in metrics:
        body = (
            f"{metrics['modes_covered']}/{metrics['num_modes']} modes, "
            f"high quality {100 * metrics['high_quality_share']:.1f} %"
        )
    elif "frechet_distance" in metrics:
        body = (
            f"FD {metrics['frechet_distance']:.2f}, IS {metrics['inception_score']:.2f}, "
            f"{metrics['classes_covered']} classes"
        )
    else:
        body = f"SW {metrics.get('sliced_wasserstein', math.nan):.4g}"
    raw = record.get("other_sets", {}).get("raw", {})
    if "high_quality_share" in raw:  # a generator's proposals before refinement
        share = 100 * raw["high_quality_share"]
        body += f" (raw {raw['modes_covered']}/{raw['num_modes']} modes, {share:.1f} %)"
    elif "sliced_wasserstein" in raw:
        body += f" (raw SW {raw['sliced_wasserstein']:.4g})"
    return f"{head}{body} (train {record['train_seconds']:.1f} s)"


# -- computed references -------------------------------------------------------------------


def chance_references(data: str, samples: int, seed: int = 0) -> dict[str, dict[str, Any]]:
    """Mode coverage of two samplers that need no training, scored like the models:
    ``uniform`` noise on the data's box (what a sampler that learnt only the data's
    range gets by chance) and ``exact`` samples of the mixture (the ceiling)."""
    import torch

    import ebkit
    from ebkit.metrics import mode_coverage

    mixture = ebkit.build_component("dataset", data)  # as the runs build it
    generator = torch.Generator().manual_seed(seed)
    low, high = mixture.spec.low, mixture.spec.high
    uniform = low + (high - low) * torch.rand(samples, 2, generator=generator)
    exact = mixture.sample(samples, generator).x
    return {
        name: mode_coverage(points, mixture.modes, mixture.mode_std).as_dict()
        for name, points in (("uniform", uniform), ("exact", exact))
    }


def shape_references(
    data: str, samples: int, draws: int = 5, seed: int = 0
) -> dict[str, dict[str, float]]:
    """The distances of two samplers that need no training, scored like the models and
    averaged over ``draws`` draws: ``exact`` samples of the data (the noise floor of the
    distances at ``samples`` points) and ``gaussian``, a Gaussian with the data's mean and
    covariance (what ignoring the shape costs)."""
    import torch

    import ebkit
    from ebkit.metrics import rbf_mmd2, sliced_wasserstein

    shape = ebkit.build_component("dataset", data)  # as the runs build it
    generator = torch.Generator().manual_seed(seed)
    large = shape.sample(20 * samples, generator).x
    factor = torch.linalg.cholesky(torch.cov(large.T))
    scores: dict[str, list[tuple[float, float]]] = {"exact": [], "gaussian": []}
    for draw in range(draws):
        real = shape.sample(samples, generator).x
        gaussian = torch.randn(samples, 2, generator=generator) @ factor.T + large.mean(0)
        for name, points in (("exact", shape.sample(samples, generator).x), ("gaussian", gaussian)):
            directions = torch.Generator().manual_seed(seed + draw)
            distance = float(sliced_wasserstein(real, points, generator=directions))
            scores[name].append((distance, float(rbf_mmd2(real, points))))
    return {
        name: {
            "sliced_wasserstein": float(np.mean([pair[0] for pair in pairs])),
            "mmd2": float(np.mean([pair[1] for pair in pairs])),
        }
        for name, pairs in scores.items()
    }


def computed_references(datasets: Sequence[str], samples: int) -> dict[str, dict[str, Any]]:
    """The reference rows of each dataset's table: :func:`chance_references` on the
    mixtures, :func:`shape_references` on the shapes."""
    references: dict[str, dict[str, Any]] = {}
    for data in datasets:
        if data in POINT_DATASETS:
            references[data] = chance_references(data, samples)
        elif data in SHAPE_DATASETS:
            references[data] = shape_references(data, samples)
    return references


SHAPE_REFERENCE_LABELS = {
    "exact": "exact samples of the data (computed): the noise floor",
    "gaussian": "a Gaussian with the data's mean and covariance (computed)",
}


# -- summaries ----------------------------------------------------------------------------


def quartiles(values: Sequence[float]) -> tuple[float, float, float]:
    """(median, first quartile, third quartile), linear interpolation between ranks."""
    array = np.asarray(values, dtype=np.float64)
    q1, median, q3 = np.percentile(array, [25, 50, 75])
    return float(median), float(q1), float(q3)


def format_spread(values: Sequence[float], fmt: Callable[[float], str]) -> str:
    """``median [Q1–Q3]``; only the median for one value."""
    median, q1, q3 = quartiles(values)
    if len(values) == 1:
        return fmt(median)
    return f"{fmt(median)} [{fmt(q1)}–{fmt(q3)}]"


def _number(digits: int) -> Callable[[float], str]:
    def fmt(value: float) -> str:
        return f"{value:.{digits}f}" if math.isfinite(value) else str(value)

    return fmt


def _count(value: float) -> str:
    """A count, or a median between two counts (``12.5``)."""
    return str(int(value)) if value == int(value) else f"{value:.1f}"


def _percent(value: float) -> str:
    return f"{100 * value:.1f}"


def _group(
    records: Sequence[dict[str, Any]], labels: Mapping[str, str]
) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """Records by (data, model), the models in the order of ``labels``."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    ordered = sorted(records, key=lambda record: list(labels).index(record["model"]))
    for record in ordered:
        groups.setdefault((record["data"], record["model"]), []).append(record)
    return groups


def _succeeded(group: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    return [record for record in group if "error" not in record]


def _seeds_cell(group: Sequence[dict[str, Any]]) -> str:
    """How many seeds a row summarises, and how many failed (they are not in it)."""
    failed = len(group) - len(_succeeded(group))
    done = len(group) - failed
    return f"{done} ({failed} failed)" if failed else str(done)


REFERENCE_LABELS = {
    "uniform": ("uniform noise on the data box (computed)", "chance level"),
    "exact": ("exact samples of the mixture (computed)", "the ceiling"),
}


def point_table(
    records: Sequence[dict[str, Any]],
    references: dict[str, dict[str, dict[str, Any]]],
    labels: Mapping[str, str],
) -> list[str]:
    """Markdown rows of modes covered and high-quality share per dataset and model, then
    the computed ``references`` (:func:`chance_references` by dataset) and the published
    numbers. Failed runs are counted in the seeds column, not summarised."""
    lines = [
        "| data | model | modes covered | high-quality share (%) | train CPU s | seeds "
        "| published |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    groups = _group([record for record in records if record["data"] in POINT_DATASETS], labels)
    for data in POINT_DATASETS:
        rows = [(key, group) for key, group in groups.items() if key[0] == data]
        if not rows:
            continue
        for (_, model), group in rows:
            done = _succeeded(group)
            scored = [record["metrics"] for record in done]
            if scored:
                modes = format_spread([metrics["modes_covered"] for metrics in scored], _count)
                modes += f" of {scored[0]['num_modes']}"
                share = format_spread([m["high_quality_share"] for m in scored], _percent)
            else:
                modes = share = "—"
            lines.append(
                f"| {data} | {labels[model]} | {modes} | {share} | {_cpu_cell(done)} | "
                f"{_seeds_cell(group)} | {PUBLISHED.get((data, model), '—')} |"
            )
        for name, coverage in references.get(data, {}).items():
            label, meaning = REFERENCE_LABELS[name]
            lines.append(
                f"| {data} | {label} | {coverage['modes_covered']} of {coverage['num_modes']} | "
                f"{_percent(coverage['high_quality_share'])} | — | — | {meaning} |"
            )
        for label, modes_text, share_text, source in PUBLISHED_ROWS.get(data, ()):
            lines.append(f"| {data} | {label} | {modes_text} | {share_text} | — | — | {source} |")
    return lines


SHAPE_COLUMNS = (
    ("sliced_wasserstein", "sliced Wasserstein ↓", lambda value: f"{value:.4f}"),
    ("mmd2", "MMD² ↓", lambda value: f"{value:.5f}"),
)


def shape_table(
    records: Sequence[dict[str, Any]],
    labels: Mapping[str, str],
    references: Mapping[str, dict[str, dict[str, float]]] | None = None,
) -> list[str]:
    """Markdown rows of the distances to held-out data on the shapes (moons, swissroll and
    FFJORD's), with the median CPU time of a run's training, then the computed
    ``references`` (:func:`shape_references` by dataset)."""
    header = " | ".join(title for _, title, _ in SHAPE_COLUMNS)
    lines = [
        f"| data | model | {header} | train CPU s | seeds |",
        "|" + " --- |" * (len(SHAPE_COLUMNS) + 4),
    ]
    groups = _group([record for record in records if record["data"] in SHAPE_DATASETS], labels)
    for data in SHAPE_DATASETS:
        runs = [(model, group) for (shape, model), group in groups.items() if shape == data]
        if not runs:
            continue
        for model, group in runs:
            done = _succeeded(group)
            cells = [
                format_spread([record["metrics"][key] for record in done], fmt) if done else "—"
                for key, _, fmt in SHAPE_COLUMNS
            ]
            cells.append(_cpu_cell(done))
            lines.append(
                f"| {data} | {labels[model]} | {' | '.join(cells)} | {_seeds_cell(group)} |"
            )
        for name, scores in (references or {}).get(data, {}).items():
            cells = [fmt(scores[key]) for key, _, fmt in SHAPE_COLUMNS]
            label = SHAPE_REFERENCE_LABELS[name]
            lines.append(f"| {data} | {label} | {' | '.join(cells)} | — | — |")
    return lines


def _cpu_cell(done: Sequence[dict[str, Any]]) -> str:
    """The median training CPU seconds of finished runs (— for records without them)."""
    seconds = [record["train_cpu_seconds"] for record in done if "train_cpu_seconds" in record]
    return f"{quartiles(seconds)[0]:.0f}" if seconds else "—"


IMAGE_COLUMNS = (
    ("frechet_distance", "FD ↓", _number(2)),
    ("kid", "KID ↓", _number(4)),
    ("inception_score", "IS ↑", _number(2)),
    ("ebgan_inception_score", "I′", _number(2)),
    ("classes_covered", "classes covered ↑", _count),
    ("largest_class_share", "largest class (%) ↓", _percent),
)


def image_table(records: Sequence[dict[str, Any]], labels: Mapping[str, str]) -> list[str]:
    """Markdown rows of the image metrics per dataset and model, plus the real data's IS."""
    header = " | ".join(title for _, title, _ in IMAGE_COLUMNS)
    lines = [f"| data | model | {header} | seeds |", "|" + " --- |" * (len(IMAGE_COLUMNS) + 3)]
    groups = _group([record for record in records if record["data"] in IMAGE_DATASETS], labels)
    for data in IMAGE_DATASETS:
        real_score = None
        for (group_data, model), group in groups.items():
            if group_data != data:
                continue
            scored = [record["metrics"] for record in _succeeded(group)]
            cells = [
                format_spread([metrics[key] for metrics in scored], fmt) if scored else "—"
                for key, _, fmt in IMAGE_COLUMNS
            ]
            row = f"| {data} | {labels[model]} | {' | '.join(cells)} | {_seeds_cell(group)} |"
            lines.append(row)
            real_score = scored[0]["real_inception_score"] if scored else real_score
        if real_score is not None:
            blanks = ["—", "—", f"{real_score:.2f}", "—", "—", "—"]
            lines.append(f"| {data} | real images | {' | '.join(blanks)} | — |")
    return lines


def pt_verdict(records: Sequence[dict[str, Any]]) -> str | None:
    """The issue's check: EBGAN-PT's median modes on 25gaussians against EBGAN's, over
    the runs that finished (None when either model has none)."""

    def runs(model: str) -> list[dict[str, Any]]:
        return [r for r in records if r["data"] == "25gaussians" and r["model"] == model]

    with_pt = _succeeded(runs("ebgan-pt"))
    without = _succeeded(runs("ebgan"))
    if not with_pt or not without:
        return None
    median_pt = quartiles([record["metrics"]["modes_covered"] for record in with_pt])[0]
    median = quartiles([record["metrics"]["modes_covered"] for record in without])[0]
    verdict = "yes" if median_pt >= median else "no"
    return (
        f"EBGAN-PT vs EBGAN on 25gaussians, median modes covered: {median_pt:g} vs {median:g}; "
        f"EBGAN-PT covers at least as many: {verdict}"
    )


def _setting(value: int | None) -> str:
    return "default" if value is None else str(value)


def report_text(
    args: argparse.Namespace,
    records: Sequence[dict[str, Any]],
    wall: float,
    references: dict[str, dict[str, dict[str, Any]]],
    labels: Mapping[str, str],
) -> str:
    """The Markdown block printed at the end: settings line, tables, verdict."""
    lines = [
        f"Quality benchmark of {datetime.date.today().isoformat()}: {_setting(args.steps)} "
        f"steps per run, batch {_setting(args.batch_size)}, {args.samples} samples scored per run; "
        f"widths {_setting(args.point_width)} (2-D) and {_setting(args.image_width)} "
        "(digits); medians with the interquartile range [Q1–Q3] over seeds; wall time "
        f"{wall / 60:.1f} min with {args.jobs} job(s) × {args.threads} thread(s); load "
        f"average {load_average()}.",
        "",
    ]
    if any(record["data"] in POINT_DATASETS for record in records):
        lines += [*point_table(records, references, labels), ""]
    if any(record["data"] in SHAPE_DATASETS for record in records):
        lines += [*shape_table(records, labels, references), ""]
    if any(record["data"] in IMAGE_DATASETS for record in records):
        lines += [*image_table(records, labels), ""]
    verdict = pt_verdict(records)
    if verdict:
        lines.append(verdict)
    return "\n".join(lines).rstrip() + "\n"


def load_average() -> str:
    """The 1, 5 and 15-minute load averages, printed with every timing."""
    try:
        return " ".join(f"{value:.2f}" for value in os.getloadavg())
    except OSError:  # pragma: no cover - no load average on this platform
        return "unknown"
