"""Tests for the ebkit-losses plugin's registration (hooks, options, packaging)."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest
import torch

import ebkit_losses
from ebkit import Component, DataSpec, EnergyOutput
from ebkit_losses.began import BEGANLoss
from ebkit_losses.margin import MarginLoss

PLUGIN_ROOT = Path(__file__).resolve().parents[1]


def the_component(name: str = "margin") -> Component:
    (component,) = [c for c in ebkit_losses.ebkit_losses() if c.name == name]
    return component


def test_hook_returns_the_margin_and_began_losses() -> None:
    assert [c.name for c in ebkit_losses.ebkit_losses()] == ["margin", "began"]
    component = the_component()
    assert isinstance(component, Component)
    assert component.name == "margin"
    assert component.factory == "ebkit_losses.margin:MarginLoss"
    assert {option.name: option.default for option in component.options} == {
        "margin": None,
        "units": "l2",
        "f": "identity",
        "schedule": "constant",
        "final_margin": 0.0,
        "schedule_steps": 10000,
        "relative_to": "zero",
        "generator": "energy",
        "r1": None,  # auto: 0.1 on vectors, none on images
        "hinge_weight": 1.0,  # eq. 1
    }
    assert component.option("relative_to").choices == ("zero", "data")
    assert component.option("generator").choices == ("energy", "feature-matching")
    assert component.option("f").choices == ("identity", "square")
    assert component.option("units").choices == ("l2", "mse", "l1", "mae")
    assert component.option("schedule").choices == ("constant", "linear", "cosine")
    assert component.option("margin").minimum == 0
    assert component.option("final_margin").minimum == 0
    assert component.option("schedule_steps").minimum == 1


def test_the_began_record_declares_its_options_and_defaults() -> None:
    component = the_component("began")
    assert component.factory == "ebkit_losses.began:BEGANLoss"
    assert {option.name: option.default for option in component.options} == {
        "eta": 1.0,
        "gamma": None,  # auto: 1 (the paper's CelebA runs: 0.5)
        "lambda_k": None,  # auto: 0.001 on images, 0 on vectors (k_t held at k_0)
        "k_min": 0.0,  # the paper's clip of k_t to [0, 1]
        "k0": None,  # auto: 0.8 on images, 1 on vectors
        "bound": None,  # auto: none on images, (high − low)^η on vectors
        "r1": None,  # auto: none on images, 1 on vectors
        "constraint": 0.0,  # BEGAN-CS's latent constraint, off
        "constraint_generator": 0.0,
    }
    assert (component.option("k0").minimum, component.option("k0").maximum) == (0.0, 1.0)
    assert (component.option("k_min").minimum, component.option("k_min").maximum) == (0.0, 1.0)
    options = component.resolve_options({"eta": "2", "gamma": "0.7"}, prefix="loss")
    loss = component.load_factory()(DataSpec((1, 8, 8)), **options)
    assert isinstance(loss, BEGANLoss)
    assert (loss.eta, loss.gamma, loss.lambda_k) == (2.0, 0.7, 0.001)
    assert float(loss.k) == pytest.approx(0.8)  # k0 auto on images


@pytest.mark.parametrize(("name", "cls"), [("margin", MarginLoss), ("began", BEGANLoss)])
def test_declared_defaults_match_the_class_defaults(name: str, cls: type) -> None:
    parameters = inspect.signature(cls).parameters
    for option in the_component(name).options:
        assert parameters[option.name].default == option.default


@pytest.mark.parametrize("event_shape", [(2,), (1, 8, 8)])
def test_factory_builds_a_working_loss(event_shape: tuple[int, ...]) -> None:
    component = the_component()
    spec = DataSpec(event_shape)
    loss = component.load_factory()(spec, **component.resolve_options({}, prefix="loss"))
    assert isinstance(loss, MarginLoss)
    assert loss.margin == pytest.approx(0.3 * spec.dim**0.5)
    out = loss.energy_loss(EnergyOutput(torch.rand(3)), EnergyOutput(torch.rand(3)))
    assert out.loss.shape == ()


def test_factory_takes_cli_strings() -> None:
    component = the_component()
    options = component.resolve_options({"margin": "10", "f": "square"}, prefix="loss")
    loss = component.load_factory()(DataSpec((1, 8, 8)), **options)
    assert (loss.margin, loss.f) == (10.0, "square")
    options = component.resolve_options(
        {"units": "mse", "schedule": "cosine", "final_margin": "1", "schedule_steps": "50"},
        prefix="loss",
    )
    loss = component.load_factory()(DataSpec((1, 8, 8)), **options)
    assert (loss.margin, loss.schedule, loss.final_margin, loss.schedule_steps) == (
        pytest.approx(0.09),
        "cosine",
        1.0,
        50,
    )


def test_pyproject_declares_the_entry_point() -> None:
    tomllib = pytest.importorskip("tomllib")
    project = tomllib.loads((PLUGIN_ROOT / "pyproject.toml").read_text())["project"]
    assert project["name"] == "ebkit-losses"
    assert project["entry-points"]["ebkit"] == {"losses": "ebkit_losses"}
    assert project["dependencies"] == ["ebkit>=0.1,<0.2"]
