"""One build path: training, saved runs, evaluation and scoring, the library's
build_component and the conformance kit all build components through
ebkit.runs.build.make_component, with the registry's option records."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

import ebkit
from ebkit import UsageError
from ebkit.core.interfaces import DataSpec
from ebkit.runs import build

FIXTURE = Path(__file__).parents[1] / "fixtures" / "saved_runs" / "8gaussians-langevin"


@pytest.fixture
def built(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """Every ``(kind, component name)`` that goes through the one build function."""
    calls: list[tuple[str, str]] = []
    real = build.make_component

    def spy(component, kind, options, **where):
        calls.append((kind, component.name))
        return real(component, kind, options, **where)

    monkeypatch.setattr(build, "make_component", spy)
    return calls


def test_the_library_builds_through_it(built, ebkit_plugins) -> None:
    ebkit_plugins()
    energy = ebkit.build_component("energy", "mlp", DataSpec((2,)), width=8, seed=1)
    assert energy.spec.event_shape == (2,)
    ebkit.build_component("dataset", "8gaussians")
    assert built == [("energy", "mlp"), ("dataset", "8gaussians")]


def test_saved_runs_and_evaluation_build_through_it(built, ebkit_plugins, tmp_path) -> None:
    from ebkit.evaluation.evaluate import evaluate_run, load_inputs

    ebkit_plugins()
    run = ebkit.load_run(FIXTURE, device="cpu")
    assert built == [("energy", "mlp"), ("sampler", "langevin"), ("loss", "cd")]
    built.clear()
    evaluate_run(run, n=8)
    assert ("dataset", "8gaussians") in built
    built.clear()
    points = tmp_path / "points.npz"
    np.savez(points, x=np.zeros((5, 2), dtype=np.float32))
    x, labels = load_inputs(str(points), run)
    assert tuple(x.shape) == (5, 2) and labels is None
    assert built == [("dataset", "npz")]  # through the registry, like every dataset


def test_scoring_an_npz_file_validates_it_like_a_dataset(ebkit_plugins, tmp_path) -> None:
    from ebkit.evaluation.evaluate import load_inputs

    ebkit_plugins()
    run = ebkit.load_run(FIXTURE, device="cpu")
    wrong = tmp_path / "wrong.npz"
    np.savez(wrong, x=np.zeros((5, 3), dtype=np.float32))
    with pytest.raises(UsageError, match=r"samples of shape \(3,\)"):
        load_inputs(str(wrong), run)


def test_training_builds_through_it(built, ebkit_plugins, tmp_path) -> None:
    ebkit_plugins()
    copy = tmp_path / "run"
    shutil.copytree(FIXTURE, copy)
    ebkit.resume(copy, steps=5, device="cpu")
    kinds = [kind for kind, _ in built]
    assert kinds[:4] == ["dataset", "energy", "sampler", "loss"]


def test_the_conformance_kit_builds_through_it(built, ebkit_plugins) -> None:
    from ebkit.testing import check_energy

    record = ebkit_plugins().lookup("energy", "mlp").component
    check_energy(record, DataSpec((2,)), width=8)
    check_energy(record.load_factory(), DataSpec((2,)), width=8)  # a bare factory
    assert built[0] == ("energy", "mlp") and built[-1] == ("energy", "under-test")


def test_a_conditional_spec_refuses_an_energy_without_labels(ebkit_plugins) -> None:
    ebkit_plugins()
    spec = DataSpec((2,), num_classes=3, conditional=True)

    class Plain(ebkit.EnergyFunction):
        def forward(self, x, labels=None):
            raise AssertionError("never called")

    record = ebkit.Component(name="plain", summary="no labels", factory=Plain)
    with pytest.raises(UsageError, match="cannot condition on class labels"):
        build.make_component(record, "energy", {}, spec=spec)
