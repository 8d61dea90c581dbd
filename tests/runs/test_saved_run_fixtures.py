"""Runs saved by an older ebkit (tests/fixtures/saved_runs) still sample, evaluate and
resume, computing what that version computed."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from ebkit.evaluation.evaluate import evaluate_run
from ebkit.runs.library import load_run, resume

FIXTURES = Path(__file__).parents[1] / "fixtures" / "saved_runs"
EXPECTED = json.loads((FIXTURES / "expected.json").read_text())


@pytest.fixture
def saved_run(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    """A copy of the fixture run: resuming and evaluating write into the run directory."""
    target = tmp_path / request.param
    shutil.copytree(FIXTURES / request.param, target)
    return target


@pytest.mark.parametrize("saved_run", sorted(EXPECTED), indirect=True)
def test_old_run_samples_evaluates_and_resumes(saved_run: Path) -> None:
    expected = EXPECTED[saved_run.name]
    run = load_run(saved_run, device="cpu")
    assert run.step == 4
    samples = run.sample(6, seed=1)
    energies = run.energies(samples, run.sample_labels(6, None))
    assert float(samples.double().sum()) == pytest.approx(expected["sample_sum"], rel=1e-5)
    assert energies.tolist() == pytest.approx(expected["sample_energies"], rel=1e-5)

    results = evaluate_run(run, n=64, seed=2)
    assert results["data_energy"] == pytest.approx(expected["data_energy"], rel=1e-5)
    assert results["sets"]["samples"]["energy"] == pytest.approx(
        expected["samples_energy"], rel=1e-5
    )

    resumed = resume(saved_run, steps=6, device="cpu")
    assert resumed.step == expected["resumed_step"]
    last = resumed.metrics_history()[-1]
    for key, value in expected["resumed_last_metrics"].items():
        assert last[key] == pytest.approx(value, rel=1e-5), key
    # The resumed run's config.json still reads as a saved run.
    assert load_run(saved_run, device="cpu").step == 6
