"""Tests of the ebkit-example plugin, written with ebkit's testing kit.

``ebkit.testing`` is a pytest plugin installed with ebkit: the ``ebkit_plugins`` and
``ebkit_cli`` fixtures are available without any import, and ``check_energy`` and
``check_loss`` run the interface conformance checks.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch
from ebkit import Component, DataSpec, EnergyOutput
from ebkit.testing import check_energy, check_loss

import ebkit_example
from ebkit_example.energy import QuadraticMLPEnergy
from ebkit_example.loss import HingeLoss, hinge_energy_loss, hinge_sampler_loss


def energy_component() -> Component:
    (component,) = ebkit_example.ebkit_energies()
    return component


def loss_component() -> Component:
    (component,) = ebkit_example.ebkit_losses()
    return component


# -- conformance ----------------------------------------------------------------------


def test_energy_conforms() -> None:
    check_energy(energy_component())  # on a 2-D toy spec and on 8×8 images
    check_energy(energy_component(), width=8, alpha=0.0)


def test_loss_conforms() -> None:
    check_loss(loss_component())
    check_loss(loss_component(), DataSpec((2,)), margin=0.5)


def test_listing_the_plugin_does_not_import_torch() -> None:
    code = "import sys, ebkit_example; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_declared_defaults_match_the_classes() -> None:
    assert {o.name: o.default for o in energy_component().options} == {"width": 64, "alpha": 0.1}
    assert {o.name: o.default for o in loss_component().options} == {"margin": 1.0}
    assert isinstance(energy_component().load_factory()(DataSpec((2,))), QuadraticMLPEnergy)
    assert isinstance(loss_component().load_factory()(DataSpec((2,))), HingeLoss)


# -- formulas -------------------------------------------------------------------------


def test_energy_is_the_quadratic_when_the_mlp_outputs_zero() -> None:
    energy = QuadraticMLPEnergy(DataSpec((2,)), width=4, alpha=0.5)
    torch.nn.init.zeros_(energy.mlp[-1].weight)
    torch.nn.init.zeros_(energy.mlp[-1].bias)
    x = torch.tensor([[3.0, 4.0], [0.0, 0.0]])
    # ½ · 0.5 · ‖(3, 4)‖² = 6.25
    torch.testing.assert_close(energy(x).energy, torch.tensor([6.25, 0.0]))


def test_hinge_losses_by_hand() -> None:
    real = torch.tensor([-2.0, 0.0])  # [1 − 2]⁺ = 0, [1 + 0]⁺ = 1 -> mean 0.5
    fake = torch.tensor([3.0, -1.0])  # [1 − 3]⁺ = 0, [1 + 1]⁺ = 2 -> mean 1
    torch.testing.assert_close(hinge_energy_loss(real, fake, 1.0), torch.tensor(1.5))
    torch.testing.assert_close(hinge_sampler_loss(fake), torch.tensor(1.0))
    output = HingeLoss(DataSpec((2,))).energy_loss(EnergyOutput(real), EnergyOutput(fake))
    torch.testing.assert_close(output.loss, torch.tensor(1.5))
    assert float(output.metrics["energy_fake"]) == pytest.approx(1.0)


def test_invalid_options_are_errors() -> None:
    with pytest.raises(ValueError, match="alpha"):
        QuadraticMLPEnergy(DataSpec((2,)), alpha=-1.0)
    with pytest.raises(ValueError, match="margin"):
        HingeLoss(DataSpec((2,)), margin=-1.0)


# -- command line ---------------------------------------------------------------------


def test_cli_lists_and_shows_the_components(ebkit_plugins, ebkit_cli) -> None:
    ebkit_plugins({"ebkit-example": ebkit_example})
    result = ebkit_cli("components", "--json")
    assert result.exit_code == 0, result.output
    ids = {item["id"] for item in json.loads(result.stdout)}
    assert {"ebkit-example/quadratic-mlp", "ebkit-example/hinge"} <= ids
    result = ebkit_cli("components", "show", "energy", "quadratic-mlp", "--json")
    assert result.exit_code == 0, result.output
    assert [o["name"] for o in json.loads(result.stdout)["options"]] == ["width", "alpha"]


def test_cli_rejects_a_bad_option_value(ebkit_plugins, ebkit_cli, tmp_path) -> None:
    ebkit_plugins({"ebkit-example": ebkit_example})
    result = ebkit_cli(
        "train", "--energy", "quadratic-mlp", "--sampler", "generator", "--loss", "hinge",
        "--out", str(tmp_path / "run"), "-o", "energy.alpha=-1",
    )  # fmt: skip
    assert result.exit_code == 2
    assert "energy.alpha" in result.stderr


def test_cli_trains_with_the_generator(ebkit_plugins, ebkit_cli, tmp_path) -> None:
    ebkit_plugins({"ebkit-example": ebkit_example})
    run = tmp_path / "run"
    result = ebkit_cli(
        "train", "--energy", "quadratic-mlp", "--sampler", "generator", "--loss", "hinge",
        "--data", "25gaussians", "--steps", "20", "--out", str(run), "--quiet",
        "-o", "sampler.width=32", "-o", "train.log_every=5",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert list((run / "checkpoints").glob("step-0000020.safetensors"))
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [record["step"] for record in records] == [5, 10, 15, 20]
    assert {"loss_energy", "loss_sampler", "energy_real", "energy_fake"} <= set(records[-1])
