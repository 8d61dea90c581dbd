"""Smoke tests of ``benchmarks/quality.py`` and its tables (``quality_tables.py``): its
plan, its summaries and a whole tiny run
(one seed, a few steps, 8-unit networks) that must print the Markdown tables and write
every raw number to JSON."""

from __future__ import annotations

import functools
import importlib
import json
import math
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "quality.py"


@pytest.fixture(scope="module")
def quality() -> Iterator[ModuleType]:
    # Imported by name from sys.path (appended, so it shadows nothing), because the
    # script's spawned worker processes import it again to unpickle their tasks.
    sys.path.append(str(SCRIPT.parent))
    try:
        yield importlib.import_module(SCRIPT.stem)
    finally:
        sys.path.remove(str(SCRIPT.parent))
        sys.modules.pop(SCRIPT.stem, None)
        sys.modules.pop("quality_tables", None)
        sys.modules.pop("quality_models", None)


@pytest.fixture(scope="module")
def tables(quality: ModuleType) -> ModuleType:
    return sys.modules["quality_tables"]  # imported by the script, beside it


@pytest.fixture(scope="module")
def models(quality: ModuleType) -> ModuleType:
    return sys.modules["quality_models"]  # the rows, imported by the script


def record(model: str, modes: int, share: float = 0.5, data: str = "25gaussians") -> dict:
    metrics = {"modes_covered": modes, "num_modes": 25, "high_quality_share": share}
    return {"data": data, "model": model, "seed": 0, "metrics": metrics}


def test_quartiles_are_the_median_and_the_interquartile_range(
    quality: ModuleType, tables: ModuleType
) -> None:
    assert tables.quartiles([1, 2, 3, 4, 5]) == (3.0, 2.0, 4.0)
    assert tables.quartiles([10, 0]) == (5.0, 2.5, 7.5)
    assert tables.format_spread([1, 2, 3, 4, 5], tables._count) == "3 [2–4]"
    assert tables.format_spread([3, 4], tables._count) == "3.5 [3.2–3.8]"
    assert tables.format_spread([0.25], tables._percent) == "25.0"


def test_the_pt_verdict_compares_the_medians(quality: ModuleType, tables: ModuleType) -> None:
    ebgan = [record("ebgan", modes) for modes in (3, 5, 9)]
    more = [record("ebgan-pt", modes) for modes in (1, 6, 20)]
    fewer = [record("ebgan-pt", modes) for modes in (4, 4, 25)]
    assert tables.pt_verdict(ebgan + more).endswith("6 vs 5; EBGAN-PT covers at least as many: yes")
    assert tables.pt_verdict(ebgan + fewer).endswith("4 vs 5; EBGAN-PT covers at least as many: no")
    assert tables.pt_verdict(ebgan) is None  # nothing to compare
    on_the_ring = [record("ebgan-pt", 8, data="8gaussians")]
    assert tables.pt_verdict(ebgan + on_the_ring) is None


def test_the_point_table_lists_models_in_order_beside_the_references(
    quality: ModuleType, tables: ModuleType
) -> None:
    references = {"25gaussians": {"uniform": {"modes_covered": 19, "num_modes": 25}}}
    references["25gaussians"]["uniform"]["high_quality_share"] = 0.0192
    rows = tables.point_table(
        [record("replay", 2, 0.125), record("gan", 7, 0.5)], references, quality.labels()
    )
    assert rows[2] == (
        "| 25gaussians | GAN | 7 of 25 | 50.0 | — | 1 | 17.3 modes, 94.8 % (PacGAN Table 1) |"
    )
    assert rows[3] == "| 25gaussians | replay EBM | 2 of 25 | 12.5 | — | 1 | — |"
    assert rows[4] == (
        "| 25gaussians | uniform noise on the data box (computed) | 19 of 25 | 1.9 | — | — "
        "| chance level |"
    )
    assert rows[5].startswith("| 25gaussians | PacGAN4 (published) | 24.8 | 93.6 |")
    assert rows[7] == (
        "| 25gaussians | VEEGAN (published) | 24.6 | 40.0 | — | — | VEEGAN Table 1, grid |"
    )


def test_the_point_table_gives_the_median_training_cpu_time(
    quality: ModuleType, tables: ModuleType
) -> None:
    timed = [{**record("ebgan", 8, data="8gaussians"), "train_cpu_seconds": t} for t in (50, 70)]
    for run in timed:
        run["metrics"]["num_modes"] = 8
    rows = tables.point_table(timed, {}, quality.labels())
    assert rows[2].startswith("| 8gaussians | EBGAN | 8 [8–8] of 8 | 50.0 [50.0–50.0] | 60 | 2 |")
    assert rows[3].startswith("| 8gaussians | PacGAN4 (published) | 7.8 | 95.9 |")


def test_the_shape_table_gives_the_distances_to_held_out_data(
    quality: ModuleType, tables: ModuleType
) -> None:
    runs = [
        {
            "data": "moons",
            "model": "replay",
            "seed": seed,
            "metrics": {"sliced_wasserstein": sw, "mmd2": 0.001},
            "train_cpu_seconds": 100.0,
        }
        for seed, sw in enumerate((0.01, 0.03))
    ]
    rows = tables.shape_table(runs, quality.labels())
    assert rows[0].startswith("| data | model | sliced Wasserstein ↓ | MMD² ↓ |")
    assert rows[2] == (
        "| moons | replay EBM | 0.0200 [0.0150–0.0250] | 0.00100 [0.00100–0.00100] | 100 | 2 |"
    )
    references = {"moons": {"exact": {"sliced_wasserstein": 0.0005, "mmd2": 0.00001}}}
    rows = tables.shape_table(runs, quality.labels(), references)
    assert rows[3] == (
        "| moons | exact samples of the data (computed): the noise floor | 0.0005 | 0.00001 "
        "| — | — |"
    )


def test_the_shape_references_are_the_noise_floor_and_a_gaussian_fit(tables: ModuleType) -> None:
    references = tables.shape_references("checkerboard", 1000, draws=2)
    floor, gaussian = references["exact"], references["gaussian"]
    # A second exact draw is close; a Gaussian cannot make the squares: both distances
    # are several times larger for it.
    assert floor["sliced_wasserstein"] * 5 < gaussian["sliced_wasserstein"]
    assert abs(floor["mmd2"]) * 5 < gaussian["mmd2"]
    assert tables.shape_references("checkerboard", 1000, draws=2) == references  # seeded


def test_each_dataset_gets_the_references_of_its_kind(tables: ModuleType) -> None:
    references = tables.computed_references(["8gaussians", "moons", "digits"], 200)
    assert set(references) == {"8gaussians", "moons"}  # digits has none
    assert set(references["8gaussians"]) == {"uniform", "exact"}  # mode coverage
    assert set(references["moons"]) == {"exact", "gaussian"}  # distances
    assert set(references["moons"]["exact"]) == {"sliced_wasserstein", "mmd2"}


def test_failed_runs_are_counted_not_summarised(quality: ModuleType, tables: ModuleType) -> None:
    failed = {**record("ebgan", 0), "error": "the energy's loss became nan at step 7"}
    rows = tables.point_table(
        [record("ebgan", 4), record("ebgan", 6), failed], {}, quality.labels()
    )
    assert (
        rows[2]
        == "| 25gaussians | EBGAN | 5 [4.5–5.5] of 25 | 50.0 [50.0–50.0] | — | 2 (1 failed) | — |"
    )
    rows = tables.point_table([failed], {}, quality.labels())
    assert rows[2] == "| 25gaussians | EBGAN | — | — | — | 0 (1 failed) | — |"
    assert tables.pt_verdict([failed, record("ebgan-pt", 3)]) is None
    assert tables.describe(failed, quality.labels()).endswith(
        "seed 0: FAILED: the energy's loss became nan at step 7"
    )


def test_a_diverged_run_is_recorded_as_failed(
    quality: ModuleType, tmp_path: Path, monkeypatch
) -> None:
    from ebkit.core.errors import NonFiniteLossError

    def diverge(task, out):
        out.mkdir()
        raise NonFiniteLossError("the energy's loss became nan at step 3")

    monkeypatch.setattr(quality, "train_run", diverge)
    args = quality.parse_args(["--datasets", "8gaussians", "--models", "began", "--seeds", "1"])
    (task,) = quality.plan(args, str(tmp_path))
    result = quality.run_task(task)
    assert result["error"] == "the energy's loss became nan at step 3"
    assert result["metrics"] == {} and not any(tmp_path.iterdir())  # the run dir is gone


def test_the_chance_references_are_uniform_noise_and_exact_samples(
    quality: ModuleType, tables: ModuleType
) -> None:
    references = tables.chance_references("25gaussians", 4000)
    exact, uniform = references["exact"], references["uniform"]
    assert exact["num_samples"] == uniform["num_samples"] == 4000
    assert exact["modes_covered"] == 25
    assert abs(exact["high_quality_share"] - 0.9889) < 0.01  # 1 − e^−4.5, chi with 2 dof
    # Uniform on the box [−4.7, 4.7]²: the share is the area of 25 discs of radius 3σ.
    area_share = 25 * math.pi * 0.15**2 / 9.4**2
    assert abs(uniform["high_quality_share"] - area_share) < 0.006
    assert tables.chance_references("25gaussians", 4000) == references  # seeded


def test_the_plan_runs_every_model_at_its_defaults(quality: ModuleType) -> None:
    argv = ["--datasets", "digits,moons,8gaussians", "--seeds", "2", "--models", "all"]
    tasks = quality.plan(quality.parse_args(argv), "/tmp/nowhere")
    points = [task for task in tasks if task.data == "8gaussians"]
    images = [task for task in tasks if task.data == "digits"]
    # Every model on the 2-D data (--models all), GAN and EBGAN x 3 seeds on digits.
    assert len(points) == len(quality.MODELS) * 2 and len(images) == 2 * 3
    assert {task.data for task in tasks[: len(points)]} == {"8gaussians"}  # the mixtures first
    assert tasks[0].model == "replay"  # the costly runs start first
    # No overrides: steps, widths and every other option are the components' defaults
    # (EBGAN's 20000 steps on 2-D data come from its margin loss), except what a row
    # declares (SSM's activation, the rae rows' margin units).
    assert {task.steps for task in tasks} == {None}
    for task in tasks:
        own = set(quality.MODELS[task.model].options)  # SSM's activation...
        assert set(quality.train_options(task)) == set(quality.QUIET_TRAIN_OPTIONS) | own


def test_width_overrides_reach_the_energy_and_any_generator(quality: ModuleType) -> None:
    argv = ["--datasets", "8gaussians", "--seeds", "1", "--point-width", "16", "--steps", "9"]
    tasks = {task.model: task for task in quality.plan(quality.parse_args(argv), "/tmp/x")}
    assert tasks["hybrid"].steps == 9
    assert quality.train_options(tasks["hybrid"])["sampler.width"] == 16
    assert quality.train_options(tasks["began"])["sampler.width"] == 16
    assert "sampler.width" not in quality.train_options(tasks["replay"])
    assert {quality.train_options(task)["energy.width"] for task in tasks.values()} == {16}


@pytest.mark.parametrize(
    "argv",
    [
        ["--models", "ebgan,vae"],
        ["--datasets", "mnist"],
        ["--steps", "0"],
        ["--samples", "1"],
        ["--first-seed", "-1"],
        ["--merge", "/no/such/quality.json"],
    ],
)
def test_bad_options_stop_with_status_2(quality: ModuleType, argv: list[str], capsys) -> None:
    with pytest.raises(SystemExit) as stopped:
        quality.parse_args(argv)
    assert stopped.value.code == 2
    assert argv[0] in capsys.readouterr().err


@pytest.mark.integration("ebkit-estimation")
def test_a_row_trained_without_a_sampler_is_scored_on_langevin_samples(
    quality: ModuleType, models: ModuleType, tmp_path: Path, monkeypatch
) -> None:
    import dataclasses

    short = {**models.LANGEVIN_AT_T1, "steps": 5}  # the pipeline, not the numbers
    row = dataclasses.replace(quality.MODELS["dsm"], sampled_with=short)
    monkeypatch.setitem(quality.MODELS, "dsm", row)
    argv = ["--datasets", "8gaussians", "--models", "dsm", "--seeds", "1", "--steps", "3"]
    argv += ["--samples", "32", "--point-width", "8"]
    [task] = quality.plan(quality.parse_args(argv), str(tmp_path))
    record = quality.run_task(task)
    assert "error" not in record and record["metrics"]["num_modes"] == 8
    assert 0 <= record["metrics"]["modes_covered"] <= 8


def test_the_hybrid_records_its_raw_proposals_beside_the_refined_samples(
    quality: ModuleType, tables: ModuleType, tmp_path: Path
) -> None:
    argv = ["--datasets", "8gaussians", "--models", "hybrid", "--seeds", "1", "--steps", "3"]
    argv += ["--samples", "32", "--point-width", "8"]
    [task] = quality.plan(quality.parse_args(argv), str(tmp_path))
    record = quality.run_task(task)
    raw, refined = record["other_sets"]["raw"], record["metrics"]
    assert raw["num_modes"] == refined["num_modes"] == 8
    assert raw["energy"] != refined["energy"]  # Langevin moved the proposals
    line = tables.describe(record, quality.labels())
    share = 100 * raw["high_quality_share"]
    assert f"(raw {raw['modes_covered']}/8 modes, {share:.1f} %)" in line


TINY = ["--seeds", "1", "--image-seeds", "1", "--steps", "3", "--samples", "64"]
TINY += ["--point-width", "8", "--image-width", "8", "--threads", "1"]


@pytest.mark.integration("ebkit-autoencoder", "ebkit-losses", "ebkit-pt")
def test_a_tiny_run_prints_the_tables_and_writes_the_raw_numbers(
    quality: ModuleType, tmp_path: Path, monkeypatch, capsys
) -> None:
    import ebkit.metrics

    # The digits classifier, trained for one epoch only into a temporary cache: the
    # numbers do not matter here, the pipeline does.
    monkeypatch.setenv("EBKIT_CACHE_DIR", str(tmp_path / "cache"))
    one_epoch = functools.partial(ebkit.metrics.cached_classifier, epochs=1)
    monkeypatch.setattr(ebkit.metrics, "cached_classifier", one_epoch)
    out = tmp_path / "quality.json"
    argv = [*TINY, "--datasets", "25gaussians,digits", "--models", "ebgan,ebgan-pt"]
    argv += ["--image-models", "gan", "--jobs", "1", "--json", str(out)]
    assert quality.main(argv) == 0
    printed = capsys.readouterr().out
    assert "| 25gaussians | EBGAN | " in printed and "| 25gaussians | EBGAN-PT | " in printed
    assert "| digits | GAN | " in printed and "| digits | real images | " in printed
    assert "EBGAN-PT covers at least as many:" in printed
    assert "| 25gaussians | exact samples of the mixture (computed) | " in printed
    payload = json.loads(out.read_text())
    assert payload["settings"]["steps"] == 3
    assert all(run["steps"] == 3 and run["train_cpu_seconds"] > 0 for run in payload["runs"])
    runs = payload["runs"]
    assert [(run["data"], run["model"]) for run in runs] == [
        ("25gaussians", "ebgan"),
        ("25gaussians", "ebgan-pt"),
        ("digits", "gan"),
    ]
    grid = runs[0]["metrics"]
    assert grid["num_modes"] == 25 and 0 <= grid["modes_covered"] <= 25
    assert 0.0 <= grid["high_quality_share"] <= 1.0
    assert "penalty_pt" in runs[1]["last_logged"]  # the PT term's value is kept as evidence
    assert runs[2]["metrics"]["num_fake"] == 64 and runs[2]["metrics"]["classes_covered"] >= 1
    assert payload["markdown"] in printed
    assert set(payload["references"]) == {"25gaussians"}


def test_parallel_jobs_give_the_same_numbers_as_one_job(
    quality: ModuleType, tmp_path: Path, capsys
) -> None:
    argv = [*TINY, "--datasets", "8gaussians", "--models", "gan", "--seeds", "2"]
    kept = tmp_path / "runs"
    assert quality.main([*argv, "--jobs", "2", "--json", str(tmp_path / "two.json")]) == 0
    one = [*argv, "--jobs", "1", "--json", str(tmp_path / "one.json"), "--keep-runs", str(kept)]
    assert quality.main(one) == 0
    assert "[2/2] 8gaussians GAN seed " in capsys.readouterr().out
    in_two = json.loads((tmp_path / "two.json").read_text())["runs"]
    in_one = json.loads((tmp_path / "one.json").read_text())["runs"]
    assert [run["seed"] for run in in_two] == [0, 1]
    assert [run["metrics"] for run in in_two] == [run["metrics"] for run in in_one]
    assert in_one[0]["metrics"] != in_one[1]["metrics"]  # the seeds differ
    assert sorted(path.name for path in kept.iterdir()) == [
        "8gaussians-gan-seed0",
        "8gaussians-gan-seed1",
    ]


def test_the_seed_systems_run_by_default_and_all_runs_every_row(quality) -> None:
    assert quality.parse_args([]).models == list(quality.SEED_MODELS)
    assert quality.parse_args(["--models", "all"]).models == list(quality.MODELS)
    assert set(quality.SEED_MODELS) < set(quality.MODELS)
    shapes = ["rings", "checkerboard", "pinwheel", "2spirals"]  # held-out: by name only
    assert not set(shapes) & set(quality.parse_args([]).datasets)
    assert quality.parse_args(["--datasets", ",".join(shapes)]).datasets == shapes


def test_first_seed_starts_every_run_there(quality: ModuleType) -> None:
    argv = ["--datasets", "8gaussians,digits", "--models", "gan", "--image-models", "gan"]
    argv += ["--seeds", "2", "--image-seeds", "1", "--first-seed", "5"]
    tasks = quality.plan(quality.parse_args(argv), "/tmp/nowhere")
    assert [(task.data, task.seed) for task in tasks] == [
        ("8gaussians", 5),
        ("8gaussians", 6),
        ("digits", 5),
    ]


def _saved(path: Path, seeds: list[int], modes: list[int], steps: int | None = None) -> str:
    runs = [
        {**record("gan", count, 0.5, data="8gaussians"), "seed": seed, "train_cpu_seconds": 60.0}
        for seed, count in zip(seeds, modes, strict=True)
    ]
    for run in runs:
        run["metrics"]["num_modes"] = 8
    settings = {"steps": steps, "batch_size": 64, "samples": 2500, "jobs": 1, "threads": 1}
    payload = {"settings": settings, "runs": runs, "wall_seconds": 100.0}
    path.write_text(json.dumps(payload), encoding="utf-8")
    return str(path)


def test_merged_files_give_one_table_over_all_their_seeds(
    quality: ModuleType, tmp_path: Path, capsys
) -> None:
    first = _saved(tmp_path / "a.json", [0, 1], [8, 6])
    second = _saved(tmp_path / "b.json", [2, 3, 4], [7, 7, 8])
    out = tmp_path / "merged.json"
    assert quality.main(["--merge", first, second, "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "with 1 job(s) × 1 thread(s)" in printed  # the files' own, not --jobs' default 2
    # The median over all five seeds (6, 7, 7, 8, 8), not over either file alone.
    assert "| 8gaussians | GAN | 7 [7–8] of 8 | 50.0 [50.0–50.0] | 60 | 5 |" in printed
    merged = json.loads(out.read_text())
    assert [run["seed"] for run in merged["runs"]] == [0, 1, 2, 3, 4]
    assert merged["wall_seconds"] == 200.0 and merged["settings"]["steps"] is None


@pytest.mark.parametrize(
    ("second_seeds", "second_steps", "complaint"),
    [([1, 2], None, "('8gaussians', 'gan', 1) is also in"), ([2], 3000, "trained with")],
)
def test_files_that_cannot_share_a_table_are_refused_in_one_line(
    quality: ModuleType, tmp_path: Path, capsys, second_seeds, second_steps, complaint
) -> None:
    first = _saved(tmp_path / "a.json", [0, 1], [8, 8])
    second = _saved(tmp_path / "b.json", second_seeds, [8] * len(second_seeds), second_steps)
    assert quality.main(["--merge", first, second]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith(f"quality.py: error: --merge {second}: ") and complaint in error
    assert "\n" not in error
