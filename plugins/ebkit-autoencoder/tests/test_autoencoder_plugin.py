"""Tests for the ebkit-autoencoder plugin's registration (hooks, options, packaging)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import ebkit_autoencoder
from ebkit import Component, DataSpec
from ebkit_autoencoder.began import BEGANAutoEncoderEnergy
from ebkit_autoencoder.conv import ConvAutoEncoderEnergy
from ebkit_autoencoder.factory import autoencoder_energy
from ebkit_autoencoder.mlp import MLPAutoEncoderEnergy

PLUGIN_ROOT = Path(__file__).resolve().parents[1]


def the_component() -> Component:
    (component,) = ebkit_autoencoder.ebkit_energies()
    return component


def test_hook_returns_one_valid_component() -> None:
    component = the_component()
    assert isinstance(component, Component)
    assert component.name == "autoencoder"
    assert component.factory == "ebkit_autoencoder.factory:autoencoder_energy"
    assert [option.name for option in component.options] == [
        "arch",
        "n_layers",
        "width",
        "channels",
        "filters",
        "embedding",
        "distance",
        "dropout",
        "batchnorm",
        "label_dim",
        "bottleneck",
        "features",
    ]


def test_option_defaults_and_bounds() -> None:
    component = the_component()
    defaults = {option.name: option.default for option in component.options}
    assert defaults == {
        "arch": "auto",
        "n_layers": None,
        "width": None,
        "channels": [64, 128, 256],
        "filters": 64,
        "embedding": 64,
        "distance": "auto",
        "dropout": False,
        "batchnorm": None,
        "label_dim": None,
        "bottleneck": None,
        "features": "auto",
    }
    assert component.option("n_layers").minimum == 2
    assert component.option("width").minimum == 1
    assert component.option("distance").choices == ("auto", "l2", "mse", "l1", "mae")
    assert component.option("arch").choices == ("auto", "mlp", "conv", "began")
    assert component.option("channels").minimum == 1
    assert component.option("filters").minimum == 1
    assert component.option("embedding").minimum == 1
    assert component.option("label_dim").minimum == 1


def test_options_of_one_architecture_say_so_in_their_help() -> None:
    component = the_component()
    for name in ("n_layers", "width", "dropout", "label_dim", "bottleneck"):
        assert component.option(name).help.startswith("mlp only"), name
    assert component.option("channels").help.startswith("conv only")
    for name in ("filters", "embedding"):
        assert component.option(name).help.startswith("began only"), name
    assert "loss.units" in component.option("distance").help


def test_declared_defaults_match_the_factory_and_class_defaults() -> None:
    import inspect

    factory = inspect.signature(autoencoder_energy).parameters
    for option in the_component().options:
        default = factory[option.name].default
        assert (list(default) if option.name == "channels" else default) == option.default
    for cls in (MLPAutoEncoderEnergy, ConvAutoEncoderEnergy, BEGANAutoEncoderEnergy):
        for name, parameter in inspect.signature(cls).parameters.items():
            if name != "spec":
                assert parameter.default == factory[name].default, (cls.__name__, name)


@pytest.mark.parametrize("event_shape", [(2,), (1, 8, 8)])
def test_factory_builds_a_working_energy(event_shape: tuple[int, ...]) -> None:
    component = the_component()
    spec = DataSpec(event_shape)
    options = component.resolve_options({"width": "16", "n_layers": 3}, prefix="energy")
    energy = component.load_factory()(spec, **options)
    assert isinstance(energy, MLPAutoEncoderEnergy)
    out = energy(torch.randn(4, *event_shape))
    assert out.energy.shape == (4,)


@pytest.mark.parametrize("event_shape", [(2,), (1, 8, 8)])
def test_factory_accepts_the_defaults(event_shape: tuple[int, ...]) -> None:
    component = the_component()
    energy = component.load_factory()(
        DataSpec(event_shape), **component.resolve_options({}, prefix="energy")
    )
    assert isinstance(energy, MLPAutoEncoderEnergy)
    # The paper's 1024-unit code on images, 128 units on vectors.
    width = 1024 if len(event_shape) == 3 else 128
    assert energy(torch.randn(2, *event_shape)).features.shape == (2, width)


def test_factory_accepts_the_defaults_for_large_images() -> None:
    component = the_component()
    energy = component.load_factory()(
        DataSpec((3, 28, 28)), **component.resolve_options({}, prefix="energy")
    )
    assert isinstance(energy, ConvAutoEncoderEnergy)
    # 28×28 is padded to 32×32; three stride-2 convolutions leave 256 maps of 4×4.
    assert energy(torch.randn(2, 3, 28, 28)).features.shape == (2, 256 * 4 * 4)


def test_factory_takes_cli_strings_for_the_conv_net() -> None:
    component = the_component()
    options = component.resolve_options(
        {"arch": "conv", "channels": "4,8", "distance": "l1"}, prefix="energy"
    )
    energy = component.load_factory()(DataSpec((1, 8, 8)), **options)
    assert isinstance(energy, ConvAutoEncoderEnergy)
    assert energy.distance == "l1"
    assert energy(torch.randn(2, 1, 8, 8)).features.shape == (2, 8 * 2 * 2)


def test_factory_takes_cli_strings_for_the_began_net() -> None:
    component = the_component()
    options = component.resolve_options(
        {"arch": "began", "filters": "4", "embedding": "6"}, prefix="energy"
    )
    energy = component.load_factory()(DataSpec((1, 16, 16)), **options)
    assert isinstance(energy, BEGANAutoEncoderEnergy)
    assert (energy.filters, energy.embedding, energy.distance) == (4, 6, "mae")
    assert energy(torch.randn(2, 1, 16, 16)).features.shape == (2, 6)


def test_pyproject_declares_the_entry_point() -> None:
    tomllib = pytest.importorskip("tomllib")
    project = tomllib.loads((PLUGIN_ROOT / "pyproject.toml").read_text())["project"]
    assert project["name"] == "ebkit-autoencoder"
    assert project["entry-points"]["ebkit"] == {"autoencoder": "ebkit_autoencoder"}
    assert project["dependencies"] == ["ebkit>=0.1,<0.2"]


def test_saved_runs_keep_their_layer_count() -> None:
    # config.json records n_layers as a number (2 before the auto default existed), so a
    # saved run rebuilds the energy it trained.
    component = the_component()
    saved = component.resolve_options({"n_layers": 2}, prefix="energy")
    energy = component.load_factory()(DataSpec((2,)), **saved)
    assert sum(isinstance(m, torch.nn.Linear) for m in energy.modules()) == 2
    new = component.resolve_options({}, prefix="energy")
    assert new["n_layers"] is None
    energy = component.load_factory()(DataSpec((2,)), **new)
    assert sum(isinstance(m, torch.nn.Linear) for m in energy.modules()) == 4
