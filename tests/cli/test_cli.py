"""Tests for the ``ebkit`` command line (docs/cli.md): listing plugins and components, clear
one-line errors with the right exit codes, and import-lightness."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from ebkit import Component, Option, UsageError
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
SMALL = [
    "--energy",
    "mlp",
    "--sampler",
    "generator",
    "--loss",
    "gan",
    "--data",
    "25gaussians",
    "-o",
    "energy.width=8",
    "-o",
    "sampler.width=8",
    "-o",
    "sampler.latent_dim=2",
    "--batch-size",
    "8",
]
MAIN = "import sys; from ebkit.cli.main import main; main(sys.argv[1:])"
TORCH_LINE = re.compile(r"\|\s+torch\s*$", re.MULTILINE)


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """In-process training of tiny models is far faster on one thread."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture
def run_cli(ebkit_plugins, ebkit_cli, feature_penalty_plugin):
    """``ebkit_cli`` against the built-ins and a test regularizer, ``feature-penalty``."""
    ebkit_plugins({"ebkit-tests": feature_penalty_plugin})
    return ebkit_cli


@pytest.fixture
def installed_cli(ebkit_plugins, ebkit_cli):
    """``ebkit_cli`` against the installed plugins (entry points loaded)."""
    ebkit_plugins(entry_points=True)
    return ebkit_cli


def ebkit(*args: str, cwd: Path | None = None, **env: str) -> subprocess.CompletedProcess:
    """Run the real command line in a fresh interpreter."""
    environ = {**os.environ, "EBKIT_STRICT_PLUGINS": "", **env}
    environ.pop("EBKIT_DEBUG", None)
    return subprocess.run(
        [sys.executable, "-c", MAIN, *args],
        capture_output=True,
        text=True,
        env=environ,
        cwd=cwd,
        timeout=120,
    )


def error_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


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


# -- train errors, end to end ------------------------------------------------------------------


def test_unknown_energy_exits_2_with_one_line_and_a_suggestion(tmp_path) -> None:
    result = ebkit(
        "train", "--energy", "mlpp", "--sampler", "generator", "--loss", "gan",
        "--out", str(tmp_path / "run"),
    )  # fmt: skip
    assert result.returncode == 2
    lines = error_lines(result.stderr)
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: unknown energy 'mlpp'")
    assert "did you mean 'mlp'" in lines[0]
    assert "available: " in lines[0] and "conv" in lines[0]
    assert "Traceback" not in result.stdout + result.stderr
    assert not (tmp_path / "run").exists()


def test_bad_option_value_exits_2_naming_field_value_and_type(tmp_path) -> None:
    result = ebkit("train", *SMALL, "-o", "energy.width=abc", "--out", str(tmp_path / "run"))
    assert result.returncode == 2
    lines = error_lines(result.stderr)
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: energy.width:")
    assert "'abc'" in lines[0] and "int" in lines[0]
    assert "Traceback" not in result.stdout + result.stderr


def test_the_installed_script_reports_errors_the_same_way(tmp_path) -> None:
    script = Path(sys.executable).parent / "ebkit"
    if not script.exists():
        pytest.skip("no ebkit script next to the interpreter")
    result = subprocess.run(
        [str(script), "train", "--energy", "nope", "--sampler", "generator", "--loss", "gan"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert result.returncode == 2
    (line,) = error_lines(result.stderr)
    assert line.startswith("Error: unknown energy 'nope'")


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["-o", "energy.width"], "expected COMPONENT.KEY=VALUE"),
        (["-o", "optimizer.lr=1"], "unknown component 'optimizer'"),
        (["-o", "energy.depth=3"], "energy.depth: unknown option"),
        (["-o", "loss.generator_loss=cube"], "loss.generator_loss: 'cube' is not one of"),
        (["--steps", "0"], "train.steps: 0 is below the minimum 1"),
        (["--regularizer", "feature-penalti"], "did you mean 'feature-penalty'"),
        (["--config", "missing.toml"], "missing.toml does not exist"),
        (["--data-path", "/no/such/ebkit/path"], "--data-path /no/such/ebkit/path does not exist"),
    ],
)
def test_train_usage_errors_exit_2_with_one_line(run_cli, tmp_path, extra, message) -> None:
    result = run_cli("train", *SMALL, *extra, "--out", str(tmp_path / "run"), "--quiet")
    assert result.exit_code == 2, result.output
    lines = error_lines(result.stderr)
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: ") and message in lines[0]
    assert not (tmp_path / "run").exists()


def needs_path(path, **options):
    raise UsageError("dataset 'needs-path' reads files: pass --data-path DIR")


def test_a_dataset_without_its_data_path_exits_2(ebkit_plugins, ebkit_cli, tmp_path) -> None:
    record = Component(name="needs-path", summary="reads files", factory=needs_path)
    ebkit_plugins({"files": module_plugin("files", ebkit_datasets=lambda: [record])})
    args = [arg if arg != "25gaussians" else "needs-path" for arg in SMALL]
    result = ebkit_cli("train", *args, "--out", str(tmp_path / "run"), "--quiet")
    assert result.exit_code == 2
    (line,) = error_lines(result.stderr)
    assert line == "Error: dataset 'needs-path' reads files: pass --data-path DIR"


def test_a_file_dataset_without_data_path_exits_2(run_cli, tmp_path) -> None:
    from ebkit.plugin.manager import get_plugin_manager

    if "mnist" not in {entry.name for entry in get_plugin_manager().components("dataset")}:
        pytest.skip("no mnist dataset registered")
    args = [arg if arg != "25gaussians" else "mnist" for arg in SMALL]
    result = run_cli("train", *args, "--quiet", "--out", str(tmp_path / "run"))
    assert result.exit_code == 2
    (line,) = error_lines(result.stderr)
    assert line.startswith("Error: ") and "--data-path" in line
    assert not (tmp_path / "run").exists()


def test_unwritable_out_exits_1_with_one_line(tmp_path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory\n")
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", MAIN, "train", *SMALL, "--steps", "2",
         "--quiet", "--out", str(blocker / "run")],
        capture_output=True,
        text=True,
        timeout=120,
        env={key: value for key, value in os.environ.items() if key != "EBKIT_DEBUG"},
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    # Training imports torch before it checks --out: this also shows that the torch probe
    # of the import-lightness tests below can see torch when it is imported.
    assert TORCH_LINE.search(result.stderr)
    lines = [line for line in error_lines(result.stderr) if not line.startswith("import time:")]
    assert len(lines) == 1, lines
    assert lines[0].startswith("Error: cannot write to --out")
    assert "Traceback" not in result.stdout + result.stderr
    assert blocker.read_text() == "not a directory\n"


def test_out_that_is_a_file_exits_2(run_cli, tmp_path) -> None:
    target = tmp_path / "taken"
    target.write_text("x")
    result = run_cli("train", *SMALL, "--steps", "2", "--quiet", "--out", str(target))
    assert result.exit_code == 2
    (line,) = error_lines(result.stderr)
    assert "is not a directory" in line
    assert target.read_text() == "x"


def test_existing_non_empty_out_is_refused_and_left_untouched(run_cli, tmp_path) -> None:
    out = tmp_path / "run"
    out.mkdir()
    keep = out / "notes.txt"
    keep.write_text("precious\n")
    before = keep.stat().st_mtime_ns
    result = run_cli("train", *SMALL, "--steps", "2", "--quiet", "--out", str(out))
    assert result.exit_code == 2
    (line,) = error_lines(result.stderr)
    assert line.startswith("Error: --out") and "already holds files" in line
    assert sorted(path.name for path in out.iterdir()) == ["notes.txt"]
    assert keep.read_text() == "precious\n" and keep.stat().st_mtime_ns == before


def test_train_writes_a_run_directory(run_cli, tmp_path) -> None:
    out = tmp_path / "run"
    result = run_cli(
        "train", *SMALL, "--steps", "3", "--seed", "5", "--quiet", "--out", str(out),
        "-o", "train.sample_count=8",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "Trained" in result.stderr and "step 3" in result.stderr
    config = json.loads((out / "config.json").read_text())
    assert config["train"]["steps"] == 3 and config["train"]["seed"] == 5
    assert config["energy"]["options"]["width"] == 8
    assert (out / "samples" / "final.png").is_file()
    assert list((out / "checkpoints").glob("step-0000003.*"))


def test_an_empty_existing_out_is_accepted(run_cli, tmp_path) -> None:
    out = tmp_path / "empty"
    out.mkdir()
    result = run_cli("train", *SMALL, "--steps", "1", "--quiet", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert (out / "config.json").is_file()


def test_unexpected_errors_are_one_line_unless_debugging(
    ebkit_plugins, ebkit_cli, monkeypatch
) -> None:
    def crash(spec, **options):
        raise ZeroDivisionError("bad plugin code")

    record = Component(name="crashy", summary="crashes when built", factory=crash)
    ebkit_plugins({"c": module_plugin("c", ebkit_energies=lambda: [record])})
    args = ["train", "--energy", "crashy", "--sampler", "generator", "--loss", "gan"]
    args += ["--data", "25gaussians", "--quiet", "--out", "unused-dir"]
    monkeypatch.delenv("EBKIT_DEBUG", raising=False)
    result = ebkit_cli(*args)
    assert result.exit_code == 1
    (line,) = error_lines(result.stderr)
    assert "unexpected ZeroDivisionError: bad plugin code" in line
    assert "EBKIT_DEBUG=1" in line
    monkeypatch.setenv("EBKIT_DEBUG", "1")
    with pytest.raises(ZeroDivisionError, match="bad plugin code"):
        ebkit_cli(*args)


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
