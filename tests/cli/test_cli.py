"""Tests for the ``ebkit`` command line (docs/cli.md): listing plugins and components, and
import-lightness (``ebkit train``'s errors: test_train_errors.py)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from cli_runs import TORCH_LINE, error_lines

from ebkit import Component, Option
from ebkit.plugin.manager import module_plugin

FIRST_PARTY = [
    "ebkit-autoencoder",
    "ebkit-losses",
    "ebkit-pt",
    "ebkit-ladder",
    "ebkit-lecun",
    "ebkit-rae",
    "ebkit-estimation",
    "ebkit-hmc",
]
INSTALLED = [
    *("ebkit.energies", "ebkit.samplers", "ebkit.losses", "ebkit.datasets", "ebkit.loggers"),
    *FIRST_PARTY,
]

# -- plugins and components ----------------------------------------------------------------


@pytest.mark.integration(*FIRST_PARTY)
def test_plugins_json_lists_the_installed_plugins(installed_cli) -> None:
    result = installed_cli("plugins", "--json")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    by_name = {item["name"]: item for item in payload}
    assert set(INSTALLED) <= set(by_name)
    builtins = ["ebkit.datasets", "ebkit.energies", "ebkit.loggers", "ebkit.losses"]
    builtins.append("ebkit.samplers")
    assert [item["name"] for item in payload[:5]] == builtins
    assert {item["source"] for item in payload[:5]} == {"builtin"}
    for name in INSTALLED:
        assert by_name[name]["status"] == "loaded"
        assert by_name[name]["error"] is None
    assert "generator" in by_name["ebkit.samplers"]["components"]["sampler"]
    assert "25gaussians" in by_name["ebkit.datasets"]["components"]["dataset"]
    assert "autoencoder" in by_name["ebkit-autoencoder"]["components"]["energy"]
    assert "margin" in by_name["ebkit-losses"]["components"]["loss"]
    assert "square-square" in by_name["ebkit-lecun"]["components"]["loss"]
    assert by_name["ebkit-estimation"]["components"]["loss"] == ["dsm", "ssm", "nce"]
    assert by_name["ebkit-hmc"]["components"] == {"sampler": ["hmc"]}
    assert by_name["ebkit-pt"]["components"] == {"regularizer": ["pt"]}
    assert by_name["ebkit-pt"]["requires_ebkit"] == ">=0.1,<0.2"
    assert by_name["ebkit-pt"]["source"] == "entry point"
    assert by_name["ebkit-pt"]["version"]


@pytest.mark.integration(*FIRST_PARTY)
def test_plugins_table(installed_cli) -> None:
    result = installed_cli("plugins")
    assert result.exit_code == 0
    for name in INSTALLED:
        assert name in result.stdout
    assert "regularizer: pt" in result.stdout


def test_plugins_shows_incompatible_plugins_with_the_reason(ebkit_plugins, ebkit_cli) -> None:
    later = module_plugin("later", ebkit_energies=lambda: [])
    later.EBKIT_HOOK_VERSION = 99
    ebkit_plugins({"later": later})
    payload = json.loads(ebkit_cli("plugins", "--json").stdout)
    (info,) = [item for item in payload if item["name"] == "later"]
    assert info["status"] == "incompatible" and "hook version 99" in info["error"]
    table = ebkit_cli("plugins").stdout
    assert "incompatible" in table and "later" in table


def test_plugins_shows_broken_plugins_with_their_error(ebkit_plugins, ebkit_cli) -> None:
    def boom():
        raise RuntimeError("kaput")

    ebkit_plugins({"shaky": module_plugin("shaky", ebkit_energies=boom)})
    payload = json.loads(ebkit_cli("plugins", "--json").stdout)
    shaky = next(item for item in payload if item["name"] == "shaky")
    assert shaky["status"] == "broken" and "kaput" in shaky["error"]
    assert "kaput" in ebkit_cli("plugins").stdout


def test_components_json_lists_every_kind(run_cli) -> None:
    result = run_cli("components", "--json")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    ids = {(item["kind"], item["id"]) for item in payload}
    assert {
        ("energy", "ebkit/mlp"),
        ("sampler", "ebkit/generator"),
        ("loss", "ebkit/gan"),
        ("regularizer", "ebkit-tests/feature-penalty"),
        ("dataset", "ebkit/digits"),
        ("dataset", "ebkit/25gaussians"),
        ("logger", "ebkit/tensorboard"),
    } <= ids
    gan = next(item for item in payload if item["name"] == "gan")
    assert gan["id"] == "ebkit/gan" and gan["summary"]
    kinds = [item["kind"] for item in payload]
    order = ["energy", "sampler", "loss", "regularizer", "dataset", "logger"]
    assert kinds == sorted(kinds, key=order.index)


@pytest.mark.parametrize("kind", ["energy", "energies"])
def test_components_of_one_kind(run_cli, kind) -> None:
    result = run_cli("components", kind)
    assert result.exit_code == 0
    assert "mlp" in result.stdout and "conv" in result.stdout
    assert "generator" not in result.stdout and "langevin" not in result.stdout
    payload = json.loads(run_cli("components", kind, "--json").stdout)
    assert {item["kind"] for item in payload} == {"energy"}


def test_components_show_langevin_options(run_cli) -> None:
    from ebkit.plugin.manager import get_plugin_manager

    record = get_plugin_manager().lookup("sampler", "langevin").component
    result = run_cli("components", "show", "sampler", "langevin", "--json")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["id"] == "ebkit/langevin" and payload["kind"] == "sampler"
    assert payload["summary"] == record.summary
    assert [option["name"] for option in payload["options"]] == [o.name for o in record.options]
    for shown, option in zip(payload["options"], record.options, strict=True):
        assert shown["type"] == option.type_name
        assert shown["default"] == option.default
        assert shown["help"] == option.help and shown["help"]
        assert shown["choices"] == (list(option.choices) if option.choices else None)
    options = {option["name"]: option for option in payload["options"]}
    assert options["step_size"]["type"] == "float"
    assert options["init"]["type"] == "str" and "gaussian" in options["init"]["choices"]

    table = run_cli("components", "show", "sampler", "langevin")
    assert table.exit_code == 0
    text = table.stdout
    assert "ebkit/langevin" in text
    for option in record.options:
        assert f"sampler.{option.name}" in text
        assert option.type_name in text
    assert "'uniform'" in text


def test_components_show_labels_regularizer_and_dataset_options(run_cli) -> None:
    shown = run_cli("components", "show", "regularizer", "feature-penalty").stdout
    assert "feature-penalty.weight" in shown
    assert "data.noise" in run_cli("components", "show", "dataset", "25gaussians").stdout
    assert "No options." in run_cli("components", "show", "dataset", "digits").stdout


def test_components_show_lists_list_types(ebkit_plugins, ebkit_cli) -> None:
    record = Component(
        name="listy",
        summary="has list options",
        factory="ebkit.builtins.datasets.toy:Moons",
        options=(Option("sizes", list[int], [1, 2], "layer sizes"),),
    )
    ebkit_plugins({"p": module_plugin("p", ebkit_energies=lambda: [record])})
    payload = json.loads(ebkit_cli("components", "show", "energy", "listy", "--json").stdout)
    assert payload["options"] == [
        {
            "name": "sizes",
            "type": "list[int]",
            "default": [1, 2],
            "help": "layer sizes",
            "choices": None,
            "minimum": None,
            "maximum": None,
            "minimum_inclusive": True,
            "maximum_inclusive": True,
        }
    ]


def test_components_with_an_ambiguous_name_show_qualified_ids(ebkit_plugins, ebkit_cli) -> None:
    def offer():
        return [
            Component(name="twin", summary="a twin", factory="ebkit.builtins.datasets.toy:Moons")
        ]

    ebkit_plugins(
        {
            "left": module_plugin("left", ebkit_energies=offer),
            "right": module_plugin("right", ebkit_energies=offer),
        }
    )
    result = ebkit_cli("components", "energy")
    assert "left/twin" in result.stdout and "right/twin" in result.stdout
    shown = ebkit_cli("components", "show", "energy", "twin")
    assert shown.exit_code == 2
    assert "left/twin" in shown.stderr and "right/twin" in shown.stderr
    assert ebkit_cli("components", "show", "energy", "right/twin").exit_code == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("components", "widgets"), "unknown component kind 'widgets'"),
        (("components", "show", "loss"), "usage: ebkit components show KIND NAME"),
        (("components", "energy", "loss"), "usage: ebkit components [KIND]"),
        (("components", "show", "loss", "gann"), "did you mean 'gan'"),
    ],
)
def test_components_usage_errors(run_cli, args, message) -> None:
    result = run_cli(*args)
    assert result.exit_code == 2
    (line,) = error_lines(result.stderr)
    assert line.startswith("Error: ") and message in line


# -- import-lightness ----------------------------------------------------------------------------


def test_importing_the_cli_does_not_import_torch() -> None:
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import ebkit.cli.main"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "ebkit.cli.main" in result.stderr  # importtime did report
    assert not TORCH_LINE.search(result.stderr)


def test_listing_commands_do_not_import_torch() -> None:
    script = """
import json, sys
from ebkit.cli.main import main
report = {}
for argv in (["--help"], ["plugins"], ["plugins", "--json"], ["components"],
             ["components", "energy"], ["components", "show", "loss", "gan"],
             ["plugins", "--requirements"], ["install", "--help"], ["uninstall", "--help"],
             ["plugin", "new", "--help"]):
    try:
        main(argv)
    except SystemExit as exit:
        report[" ".join(argv)] = [exit.code, "torch" in sys.modules]
print("REPORT " + json.dumps(report))
"""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.split("REPORT ", 1)[1])
    assert len(report) == 10
    for command, (code, torch_loaded) in report.items():
        assert code in (0, None), command
        assert not torch_loaded, f"`ebkit {command}` imported torch"
    assert not TORCH_LINE.search(result.stderr)


def test_help_and_version(run_cli) -> None:
    result = run_cli("--help")
    assert result.exit_code == 0
    for command in ("train", "sample", "plugins", "components", "install", "uninstall", "plugin"):
        assert command in result.stdout
    version = run_cli("--version")
    assert version.exit_code == 0 and "0.1.0" in version.stdout
