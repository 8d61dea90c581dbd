"""The example logger plugin of docs/tracking.md (docs/logger-plugin) installs into a fresh
virtual environment and receives every logged step there; the page shows its files as
they are."""

from __future__ import annotations

import csv
import json
import re
import shutil
from pathlib import Path

import pytest

from ebkit.testing.venv import IsolatedVenv, explain

REPO = Path(__file__).resolve().parents[2]
PLUGIN = REPO / "docs" / "logger-plugin"
PAGE = REPO / "docs" / "tracking.md"


@pytest.mark.slow
def test_the_csv_logger_installs_and_receives_every_logged_step(tmp_path) -> None:
    pytest.importorskip("pip", reason="installing the example needs pip")
    copy = tmp_path / "ebkit-csv-logger"
    shutil.copytree(
        PLUGIN, copy, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__")
    )
    venv = IsolatedVenv.create(tmp_path / "venv")
    install = venv.run([str(venv.python), "-m", "pip", "install", *venv.OFFLINE, str(copy)])
    assert install.returncode == 0, explain(install)

    run = tmp_path / "run"
    trained = venv.run(
        venv.ebkit(
            "train", "--energy", "mlp", "--sampler", "generator", "--loss", "gan",
            "--data", "8gaussians", "--steps", "10", "--batch-size", "16", "--quiet",
            "-o", "energy.width=8", "-o", "sampler.width=8", "-o", "train.log_every=3",
            "-o", "train.sample_every=5", "-o", "train.sample_count=16",
            "--logger", "csv", "--out", str(run),
        ),
        tmp_path,
    )  # fmt: skip
    assert trained.returncode == 0, explain(trained)
    config = json.loads((run / "config.json").read_text())
    assert config["loggers"] == [{"id": "ebkit-csv-logger/csv", "options": {"file": "log.csv"}}]

    with (run / "log.csv").open(newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["step", "tag", "value"]
    scalars: dict[int, dict[str, float]] = {}
    images, means = [], []
    for step, tag, value in rows[1:]:
        if tag.startswith("image/"):
            images.append((int(step), tag, value))
        elif tag.endswith("/mean"):
            means.append((int(step), tag))
        else:
            scalars.setdefault(int(step), {})[tag] = float(value)
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    # Every logged step (3, 6, 9 and the last, 10), with metrics.jsonl's very values.
    assert [{"step": step, **values} for step, values in scalars.items()] == records
    assert [record["step"] for record in records] == [3, 6, 9, 10]
    assert images == [
        (5, "image/samples", "samples/step-0000005.png"),
        (5, "image/landscape", "samples/landscape-step-0000005.png"),
        (10, "image/samples", "samples/final.png"),
        (10, "image/landscape", "samples/landscape.png"),
    ]
    assert means == [
        (step, tag)
        for step in (3, 6, 9, 10)
        for tag in ("energy/data/mean", "energy/contrastive/mean")
    ]


_EMBEDDED = re.compile(
    r"<!-- example-plugin: logger-plugin/(?P<path>\S+) -->\s*\n"
    r"(?P<fence>`{3,})[^\n]*\n(?P<body>.*?)\n(?P=fence)",
    re.DOTALL,
)


def test_the_page_shows_every_file_of_the_plugin_as_it_is() -> None:
    embedded = {match["path"]: match["body"] for match in _EMBEDDED.finditer(PAGE.read_text())}
    files = {
        path.relative_to(PLUGIN).as_posix(): path.read_text()
        for path in PLUGIN.rglob("*")
        if path.is_file() and path.suffix in (".py", ".toml") and "__pycache__" not in path.parts
    }
    assert set(embedded) == set(files)
    for path, text in files.items():
        assert embedded[path] + "\n" == text, f"docs/tracking.md shows an outdated {path}"
