"""``ebkit compare``: the options that differ, final metrics and evaluation side by side,
and the overlaid curves as a PNG; a folder that is not a run is one line, exit 2."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "saved_runs" / "8gaussians-langevin"
# matplotlib's first three colours (tab:blue, tab:orange, tab:green): one per run.
RUN_COLOURS = [(31, 119, 180), (255, 127, 14), (44, 160, 44)]


def make_run(
    folder: Path,
    *,
    width: int,
    seed: int,
    losses: list[float],
    evaluation: dict[str, Any] | None = None,
) -> Path:
    """A run directory as ebkit writes it: config.json, metrics.jsonl, maybe eval.json."""
    config = copy.deepcopy(json.loads((FIXTURE / "config.json").read_text()))
    config["energy"]["options"]["width"] = width
    config["train"]["seed"] = seed
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps(config))
    records = [
        {"step": 10 * (index + 1), "loss_energy": loss, "energy_gap": loss / 2}
        for index, loss in enumerate(losses)
    ]
    (folder / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    if evaluation is not None:
        (folder / "eval.json").write_text(json.dumps(evaluation))
    return folder


@pytest.fixture
def three_runs(tmp_path) -> list[Path]:
    evaluation = {
        "run": "a", "step": 30, "num_samples": 2000, "seed": 0, "data_energy": -1.5,
        "sets": {"samples": {"energy": 0.25, "mmd2": 0.125, "modes_covered": 7}},
    }  # fmt: skip
    return [
        make_run(tmp_path / "a", width=8, seed=5, losses=[3.0, 2.0, 1.0], evaluation=evaluation),
        make_run(tmp_path / "b", width=16, seed=5, losses=[4.0, 3.5, 3.25]),
        make_run(tmp_path / "c", width=8, seed=6, losses=[1.0, 0.5, 0.75]),
    ]


@pytest.fixture
def cli(ebkit_cli):
    return ebkit_cli


def test_json_lists_differing_options_final_metrics_and_evaluation(cli, three_runs, tmp_path):
    picture = tmp_path / "cmp.png"
    result = cli("compare", *map(str, three_runs), "--out", str(picture), "--json")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["names"] == ["a", "b", "c"]
    assert payload["options"] == {"energy.width": [8, 16, 8], "train.seed": [5, 5, 6]}
    assert payload["final_metrics"] == {
        "step": [30, 30, 30],
        "loss_energy": [1.0, 3.25, 0.75],
        "energy_gap": [0.5, 1.625, 0.375],
    }
    assert payload["evaluation"] == {
        "eval step": [30, None, None],
        "eval data_energy": [-1.5, None, None],
        "eval samples.energy": [0.25, None, None],
        "eval samples.mmd2": [0.125, None, None],
        "eval samples.modes_covered": [7, None, None],
    }
    assert payload["picture"] == str(picture)


def test_the_picture_overlays_every_runs_curves(cli, three_runs, tmp_path):
    picture = tmp_path / "cmp.png"
    assert cli("compare", *map(str, three_runs), "--out", str(picture)).exit_code == 0
    with Image.open(picture) as image:
        assert image.format == "PNG"
        pixels = np.asarray(image.convert("RGB")).reshape(-1, 3)
    for colour in RUN_COLOURS:
        assert (np.abs(pixels.astype(int) - colour).sum(axis=1) < 10).sum() > 100, colour
    # Two metrics, two subplots side by side, overlaid runs: not three subplots per metric.
    with Image.open(picture) as image:
        assert image.size[0] < 1000


def test_a_run_without_a_colour_of_its_own_is_missing_from_the_picture(cli, tmp_path):
    # The same check on two runs: the third colour must not appear (the test can fail).
    runs = [
        make_run(tmp_path / "x", width=8, seed=1, losses=[1.0, 2.0]),
        make_run(tmp_path / "y", width=9, seed=1, losses=[2.0, 1.0]),
    ]
    picture = tmp_path / "two.png"
    assert cli("compare", *map(str, runs), "--out", str(picture)).exit_code == 0
    pixels = np.asarray(Image.open(picture).convert("RGB")).reshape(-1, 3).astype(int)
    assert (np.abs(pixels - RUN_COLOURS[2]).sum(axis=1) < 10).sum() == 0


def test_the_table_shows_what_differs_and_not_what_is_equal(cli, three_runs, tmp_path):
    result = cli("compare", *map(str, three_runs), "--out", str(tmp_path / "cmp.png"))
    assert result.exit_code == 0, result.output
    table = result.stdout
    for text in ("energy.width", "train.seed", "loss_energy", "3.25", "eval samples.mmd2"):
        assert text in table
    assert "energy.n_layers" not in table and "sampler.steps" not in table
    assert "Wrote" in result.stderr and (tmp_path / "cmp.png").is_file()


def test_the_default_picture_is_written_here_and_never_overwritten(
    cli, three_runs, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    assert cli("compare", *map(str, three_runs)).exit_code == 0
    written = (tmp_path / "comparison.png").read_bytes()
    again = cli("compare", *map(str, three_runs))
    assert again.exit_code == 2
    assert "comparison.png exists" in again.stderr
    assert (tmp_path / "comparison.png").read_bytes() == written


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda root: root / "missing", "no such run directory"),
        (lambda root: root, "is not an ebkit run (it has no config.json)"),
        (lambda root: _bad_config(root), "is not an ebkit run configuration"),
    ],
)
def test_a_folder_that_is_not_a_run_is_one_line_exit_2(cli, three_runs, tmp_path, make, message):
    picture = tmp_path / "cmp.png"
    result = cli("compare", str(three_runs[0]), str(make(tmp_path)), "--out", str(picture))
    assert result.exit_code == 2
    (line,) = [line for line in result.stderr.splitlines() if line.strip()]
    assert line.startswith("Error: ") and message in line
    assert not picture.exists()


def _bad_config(root: Path) -> Path:
    folder = root / "notarun"
    folder.mkdir()
    (folder / "config.json").write_text('{"hello": "world"}')
    return folder


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["ONE"], "compare needs at least two runs, got 1"),
        (["ONE", "TWO", "--out", "cmp.txt"], "the picture must be a .png file"),
    ],
)
def test_bad_arguments_are_one_line_exit_2(cli, three_runs, args, message):
    args = [{"ONE": str(three_runs[0]), "TWO": str(three_runs[1])}.get(a, a) for a in args]
    result = cli("compare", *args)
    assert result.exit_code == 2
    assert message in result.stderr


def test_a_metrics_line_cut_short_by_a_kill_is_ignored(cli, three_runs, tmp_path):
    with (three_runs[1] / "metrics.jsonl").open("a") as handle:
        handle.write('{"step": 40, "loss_ener')
    result = cli("compare", *map(str, three_runs), "--out", str(tmp_path / "c.png"), "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["final_metrics"]["step"] == [30, 30, 30]


def test_compare_imports_no_torch(three_runs, tmp_path):
    script = (
        "import sys\nfrom ebkit.cli.main import main\n"
        f"try:\n    main(['compare', *{[str(path) for path in three_runs]!r}, "
        f"'--out', {str(tmp_path / 'p.png')!r}])\n"
        "except SystemExit as exit:\n    print('EXIT', exit.code, 'torch' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert "EXIT 0 False" in result.stdout, result.stdout + result.stderr
