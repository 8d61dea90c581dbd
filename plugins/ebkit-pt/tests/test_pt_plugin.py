"""Tests for the ebkit-pt plugin's registration (hooks, options, packaging)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import ebkit_pt
from ebkit import Component, DataSpec, EnergyOutput
from ebkit_pt.pulling_away import PullingAwayTerm

PLUGIN_ROOT = Path(__file__).resolve().parents[1]


def the_component() -> Component:
    (component,) = ebkit_pt.ebkit_regularizers()
    return component


def test_hook_returns_one_valid_component() -> None:
    component = the_component()
    assert isinstance(component, Component)
    assert component.name == "pt"
    assert component.factory == "ebkit_pt.pulling_away:PullingAwayTerm"
    (weight,) = component.options
    assert (weight.name, weight.type, weight.default, weight.minimum) == ("weight", float, None, 0)


@pytest.mark.parametrize("event_shape", [(2,), (1, 8, 8)])
def test_factory_builds_a_working_regularizer(event_shape: tuple[int, ...]) -> None:
    component = the_component()
    options = component.resolve_options({"weight": "0.25"}, prefix="pt")
    term = component.load_factory()(DataSpec(event_shape), **options)
    assert isinstance(term, PullingAwayTerm)
    assert term.weight == 0.25
    fake = EnergyOutput(energy=torch.zeros(4), features=torch.eye(4))
    torch.testing.assert_close(term.penalty(None, fake), torch.tensor(0.0))


def test_factory_accepts_the_defaults() -> None:
    component = the_component()
    options = component.resolve_options({}, prefix="pt")
    assert component.load_factory()(DataSpec((2,)), **options).weight == 0.02  # vectors
    assert component.load_factory()(DataSpec((1, 8, 8)), **options).weight == 0.1  # images


def test_pyproject_declares_the_entry_point() -> None:
    tomllib = pytest.importorskip("tomllib")
    project = tomllib.loads((PLUGIN_ROOT / "pyproject.toml").read_text())["project"]
    assert project["name"] == "ebkit-pt"
    assert project["entry-points"]["ebkit"] == {"pt": "ebkit_pt"}
    assert project["dependencies"] == ["ebkit>=0.1,<0.2"]
