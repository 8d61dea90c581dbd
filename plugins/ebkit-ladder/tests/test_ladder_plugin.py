"""Tests for the ebkit-ladder plugin's registration: the hook, its options, packaging and
the command line's handling of them."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest
import torch

import ebkit_ladder
from ebkit import Component, DataSpec
from ebkit_ladder.ladder import LadderEnergy

PLUGIN_ROOT = Path(__file__).resolve().parents[1]


def the_component() -> Component:
    (component,) = ebkit_ladder.ebkit_energies()
    return component


def test_hook_returns_the_ladder_energy_with_a_lazy_factory() -> None:
    component = the_component()
    assert isinstance(component, Component)
    assert component.name == "ladder"
    assert component.factory == "ebkit_ladder.ladder:LadderEnergy"
    assert component.load_factory() is LadderEnergy
    assert [option.name for option in component.options] == [
        "sizes",
        "num_classes",
        "noise_std",
        "costs",
        "bottom_weight",
        "input_range",
        "contrastive_normalization",
        "contrastive_noise",
        "layer_weights",
    ]


def test_option_defaults_follow_the_spec() -> None:
    component = the_component()
    defaults = {option.name: option.default for option in component.options}
    assert defaults == {
        "sizes": [1000, 500, 250, 250, 250],
        "num_classes": None,
        "noise_std": 0.3,
        "costs": "bottom",
        "bottom_weight": 1000.0,
        "input_range": "unit",
        "contrastive_normalization": "data",
        "contrastive_noise": "own",
        "layer_weights": None,
    }
    assert component.option("costs").choices == ("bottom", "full")
    assert component.option("sizes").minimum == 1
    assert component.option("num_classes").minimum == 2
    assert component.option("noise_std").minimum == 0.0


def test_declared_defaults_match_the_class_defaults() -> None:
    parameters = inspect.signature(LadderEnergy).parameters
    for option in the_component().options:
        default = parameters[option.name].default
        assert (list(default) if option.name == "sizes" else default) == option.default


def test_factory_builds_from_command_line_strings() -> None:
    component = the_component()
    options = component.resolve_options(
        {"sizes": "6,5", "costs": "full", "layer_weights": "1,2,3", "noise_std": "0.1"},
        prefix="energy",
    )
    energy = component.load_factory()(DataSpec((1, 4, 4), num_classes=3), **options)
    assert energy.widths == (16, 6, 5, 3)
    assert energy.layer_weights == (1000.0, 1.0, 2.0, 3.0)
    assert energy.noise_std == 0.1
    output = energy(torch.randn(4, 1, 4, 4))
    assert output.energy.shape == (4,)
    assert output.logits.shape == (4, 3)
    assert output.features.shape == (4, 5)


def test_pyproject_declares_the_entry_point() -> None:
    tomllib = pytest.importorskip("tomllib")
    project = tomllib.loads((PLUGIN_ROOT / "pyproject.toml").read_text())["project"]
    assert project["name"] == "ebkit-ladder"
    assert project["version"] == "0.1.0"
    assert project["entry-points"]["ebkit"] == {"ladder": "ebkit_ladder"}
    assert project["dependencies"] == ["ebkit>=0.1,<0.2"]
    assert "placeholder" not in project["description"]
    assert "Ladder" in project["description"]


def test_loads_as_a_plugin_with_the_ladder_energy(ebkit_plugins) -> None:
    manager = ebkit_plugins({"ebkit-ladder": ebkit_ladder})
    info = manager.plugins["ebkit-ladder"]
    assert info.status == "loaded"
    entry = manager.lookup("energy", "ladder")
    assert entry.qualified_id == "ebkit-ladder/ladder"
    assert entry.component.factory == "ebkit_ladder.ladder:LadderEnergy"


def test_cli_shows_the_component(ebkit_plugins, ebkit_cli) -> None:
    ebkit_plugins({"ebkit-ladder": ebkit_ladder})
    result = ebkit_cli("components", "show", "energy", "ladder")
    assert result.exit_code == 0, result.output
    for name in ("sizes", "num_classes", "noise_std", "costs", "bottom_weight", "layer_weights"):
        assert name in result.output


def test_cli_rejects_a_bad_costs_value_in_one_line(ebkit_plugins, ebkit_cli, tmp_path) -> None:
    ebkit_plugins({"ebkit-ladder": ebkit_ladder})
    result = ebkit_cli(
        "train", "--energy", "ladder", "--sampler", "generator", "--loss", "margin",
        "--out", str(tmp_path / "run"), "-o", "energy.costs=middle",
    )  # fmt: skip
    assert result.exit_code == 2
    assert "energy.costs" in result.stderr
    assert "Traceback" not in result.output


def test_ladder_runs_saved_before_input_range_load_as_they_were_trained(tmp_path: Path) -> None:
    import json

    import ebkit
    from ebkit.runs.saved import SavedRun

    run = ebkit.train(
        energy="ladder",
        sampler="none",
        loss="none",
        data="digits",
        steps=2,
        options={"train.labels": 20, "train.batch_size": 16, "energy.sizes": [8]},
        out=tmp_path / "run",
        progress=False,
    )
    assert run.energy.input_range == "unit"
    config_path = run.path / "config.json"
    config = json.loads(config_path.read_text())
    del config["energy"]["options"]["input_range"]  # as written before the option existed
    config_path.write_text(json.dumps(config))
    assert SavedRun.open(run.path).energy.input_range == "data"
    resumed = ebkit.resume(run.path, steps=3)
    assert resumed.energy.input_range == "data"
