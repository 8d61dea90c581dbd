"""The ebkit-lecun plugin: its hook module, the loss classes against ebkit's conformance
kit, options and metrics, and the command line."""

from __future__ import annotations

import inspect
import json
import subprocess
import sys

import pytest
import torch

import ebkit_lecun
from ebkit import Component, DataSpec, EnergyOutput
from ebkit.testing import check_loss, check_option_round_trip
from ebkit_lecun.losses import (
    HingeLoss,
    LogLoss,
    MCELoss,
    SquareExponentialLoss,
    SquareSquareLoss,
)

COMPONENTS: dict[str, Component] = {c.name: c for c in ebkit_lecun.ebkit_losses()}
CLASSES = {
    "square-square": SquareSquareLoss,
    "square-exponential": SquareExponentialLoss,
    "pair-hinge": HingeLoss,
    "log-loss": LogLoss,
    "mce": MCELoss,
}
SPEC = DataSpec((2,), low=-2.0, high=2.0)


def test_the_plugin_registers_five_losses() -> None:
    assert sorted(COMPONENTS) == sorted(CLASSES)
    for name, component in COMPONENTS.items():
        assert component.load_factory() is CLASSES[name]


def test_listing_the_plugin_does_not_import_torch() -> None:
    code = "import sys, ebkit_lecun; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


@pytest.mark.parametrize("name", sorted(CLASSES))
def test_declared_options_are_the_class_keywords(name: str) -> None:
    declared = {option.name: option.default for option in COMPONENTS[name].options}
    parameters = inspect.signature(CLASSES[name]).parameters
    keywords = {key: p.default for key, p in parameters.items() if p.kind is p.KEYWORD_ONLY}
    assert declared == keywords
    check_option_round_trip(COMPONENTS[name])


@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("square-square", {}),
        ("square-square", {"margin": 0.0}),
        ("square-exponential", {"gamma": 0.3}),
        ("pair-hinge", {}),
        ("pair-hinge", {"margin": 2.0, "pairing": "hardest"}),
        ("log-loss", {}),
        ("log-loss", {"pairing": "hardest"}),
        ("mce", {}),
        ("mce", {"pairing": "hardest"}),
    ],
)
def test_losses_conform(name: str, options: dict) -> None:
    check_loss(COMPONENTS[name], **options)  # on 8×8 images
    check_loss(COMPONENTS[name], SPEC, batch=3, **options)


def test_invalid_options_are_errors() -> None:
    with pytest.raises(ValueError, match="margin must be a non-negative number"):
        SquareSquareLoss(SPEC, margin=-1.0)
    with pytest.raises(ValueError, match="gamma must be a positive number"):
        SquareExponentialLoss(SPEC, gamma=0.0)
    with pytest.raises(ValueError, match="pairing must be one of all, hardest"):
        LogLoss(SPEC, pairing="nearest")


def test_energy_loss_metrics_by_hand() -> None:
    real = EnergyOutput(torch.tensor([0.5, -1.0]))
    fake = EnergyOutput(torch.tensor([2.0, 0.0, 1.0]))
    # pairs with E⁻ > E⁺: 0.5 < 2, 1 and −1 < 2, 0, 1 -> 5 of 6
    metrics = SquareSquareLoss(SPEC, margin=1.5).energy_loss(real, fake).metrics
    assert float(metrics["pairs_ordered"]) == pytest.approx(5 / 6)
    assert float(metrics["fake_above_margin"]) == pytest.approx(1 / 3)  # only 2.0 ≥ 1.5
    assert float(metrics["energy_gap"]) == pytest.approx(1.0 - (-0.25))
    assert float(metrics["loss_energy"]) == pytest.approx(0.625 + 2.5 / 3)
    # pairs with 1 + E⁺ − E⁻ > 0: (0.5, 0) and (0.5, 1) -> 2 of 6; hardest: 0.5 vs 0 only
    hinge = HingeLoss(SPEC, margin=1.0).energy_loss(real, fake).metrics
    assert float(hinge["pairs_within_margin"]) == pytest.approx(2 / 6)
    hardest = HingeLoss(SPEC, margin=1.0, pairing="hardest").energy_loss(real, fake).metrics
    assert float(hardest["pairs_within_margin"]) == pytest.approx(1 / 2)


def test_sampler_losses_by_hand() -> None:
    fake = EnergyOutput(torch.tensor([2.0, 0.0, 1.0]))
    for loss in (SquareSquareLoss(SPEC), SquareExponentialLoss(SPEC)):
        output = loss.sampler_loss(fake)
        assert float(output.loss) == pytest.approx(5 / 3)  # mean E(G(z))²
        assert set(output.metrics) == {"loss_sampler"}
    for loss in (HingeLoss(SPEC), LogLoss(SPEC), MCELoss(SPEC)):
        assert float(loss.sampler_loss(fake).loss) == pytest.approx(1.0)  # mean E(G(z))


def test_square_square_is_the_margin_loss_with_f_square() -> None:
    """Square-square is EBGAN's margin loss with f = square (Zhao et al. 2017, eq. 1–2),
    generator loss included; ebkit-losses implements the latter on its own."""
    margin_module = pytest.importorskip("ebkit_losses.margin")
    real = EnergyOutput(torch.tensor([0.3, 1.7, 0.9]))
    fake = EnergyOutput(torch.tensor([0.2, 2.5]))
    ours = SquareSquareLoss(SPEC, margin=1.2)
    theirs = margin_module.MarginLoss(SPEC, margin=1.2, f="square")
    torch.testing.assert_close(
        ours.energy_loss(real, fake).loss, theirs.energy_loss(real, fake).loss
    )
    torch.testing.assert_close(ours.sampler_loss(fake).loss, theirs.sampler_loss(fake).loss)


def test_cli_lists_and_shows_the_losses(ebkit_plugins, ebkit_cli) -> None:
    ebkit_plugins({"ebkit-lecun": ebkit_lecun})
    result = ebkit_cli("components", "--json")
    assert result.exit_code == 0, result.output
    ids = {item["id"] for item in json.loads(result.stdout)}
    assert {f"ebkit-lecun/{name}" for name in CLASSES} <= ids
    result = ebkit_cli("components", "show", "loss", "pair-hinge", "--json")
    assert result.exit_code == 0, result.output
    assert [o["name"] for o in json.loads(result.stdout)["options"]] == ["margin", "pairing"]


@pytest.mark.parametrize(
    ("option", "message"),
    [("loss.gamma=0", "loss.gamma"), ("loss.pairing=nearest", "loss.pairing")],
)
def test_cli_rejects_bad_options(ebkit_plugins, ebkit_cli, tmp_path, option, message) -> None:
    ebkit_plugins({"ebkit-lecun": ebkit_lecun})
    loss = "square-exponential" if "gamma" in option else "log-loss"
    run = tmp_path / "run"
    result = ebkit_cli(
        "train", "--energy", "mlp", "--sampler", "generator", "--loss", loss,
        "--data", "8gaussians", "--out", str(run), "-o", option,
    )  # fmt: skip
    assert result.exit_code == 2
    assert message in result.stderr
    assert "Traceback" not in result.output
    assert not run.exists()
