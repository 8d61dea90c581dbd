"""The typed train options (ebkit/runs/settings.py): one source of defaults for the
TOML/-o validation, the CLI flags' help, `ebkit components show train`, the docs and the
engine; the flat config.json shape; one-line validation errors."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import pytest

from ebkit import UsageError
from ebkit.core.engine import TrainSettings
from ebkit.plugin.components import Option
from ebkit.runs.config import COMPONENT_SLOTS, TABLES, RunConfig, load_toml
from ebkit.runs.settings import (
    TRAIN_OPTIONS,
    OptimisationSettings,
    TrainOptions,
    flag_help,
    flags,
    section_of,
    train_option,
)
from ebkit.runs.training import settings_from_config

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "saved_runs"
SMALL = ["--energy", "mlp", "--sampler", "langevin", "--loss", "cd", "--data", "8gaussians"]


def squeeze(text: str) -> str:
    return " ".join(text.split())


# -- one source of defaults ----------------------------------------------------------------


def test_the_options_are_the_sections_fields() -> None:
    defaults = TrainOptions().as_flat()
    assert [option.name for option in TRAIN_OPTIONS] == list(defaults)
    assert {option.name: option.default for option in TRAIN_OPTIONS} == defaults
    for option in TRAIN_OPTIONS:
        section = getattr(TrainOptions(), section_of(option.name))
        assert getattr(section, option.name) == option.default


def test_the_engine_settings_are_the_optimisation_section() -> None:
    optimisation = {field.name for field in dataclasses.fields(OptimisationSettings)}
    engine = {field.name for field in dataclasses.fields(TrainSettings)}
    assert optimisation == engine
    for name in optimisation:  # a Trainer built by hand gets the same defaults
        if name == "steps":  # auto in a run (from the data); a bare Trainer takes 2000
            assert OptimisationSettings().steps is None and TrainSettings().steps == 2000
            continue
        if name == "sampler_lr":  # auto in a run (a component's choice); a Trainer: 1e-3
            assert OptimisationSettings().sampler_lr is None
            assert TrainSettings().sampler_lr == 1e-3
            continue
        if name in ("batch_size", "beta1", "beta2"):  # auto in a run; a Trainer: 64, Adam's
            assert getattr(OptimisationSettings(), name) is None
            assert (TrainSettings().batch_size, TrainSettings().beta1) == (64, 0.5)
            assert TrainSettings().beta2 == 0.999
            continue
        assert getattr(TrainSettings(), name) == getattr(OptimisationSettings(), name), name


def test_the_engine_settings_are_built_from_the_optimisation_section() -> None:
    payload = json.loads((FIXTURES / "8gaussians-langevin" / "config.json").read_text())
    config = RunConfig.from_json(payload)
    settings = settings_from_config(config)
    assert settings.energy_lr == 0.002 == config.train.optimisation.energy_lr
    assert (settings.steps, settings.batch_size, settings.seed) == (4, 8, 5)


def test_the_cli_flags_help_is_derived_from_the_sections(ebkit_cli) -> None:
    result = ebkit_cli("train", "--help")
    assert result.exit_code == 0
    text = squeeze(result.output)
    assert set(flags()) == {
        "steps",
        "batch_size",
        "seed",
        "device",
        "precision",
        "compile",
        "workers",
        "labels",
        "conditional",
    }
    for name, flag in flags().items():
        assert flag in text
        assert squeeze(flag_help(name)) in text, name
    assert "Number of training steps; auto = a component's choice, else 2000 images" in text
    assert "[default: auto]." in text
    for slot in COMPONENT_SLOTS:
        assert slot.flag in text
    assert "[default: digits]" in text


def test_components_show_train_lists_every_option_with_its_default(ebkit_cli) -> None:
    result = ebkit_cli("components", "show", "train", "--json")
    assert result.exit_code == 0, result.output
    options = json.loads(result.stdout)["options"]
    defaults = TrainOptions().as_flat()
    assert {item["name"]: item["default"] for item in options} == defaults
    by_name = {item["name"]: item for item in options}
    assert by_name["steps"]["section"] == "optimisation"
    assert by_name["steps"]["flag"] == "--steps"
    assert by_name["labels"]["section"] == "semi_supervised"
    assert by_name["test_fraction"]["maximum_inclusive"] is False
    table = ebkit_cli("components", "show", "train")
    assert table.exit_code == 0
    for name in defaults:
        assert f"train.{name}" in table.stdout


def docs_default(option: Option) -> str:
    if option.default is None:
        return "auto"
    return str(option.default).lower() if isinstance(option.default, bool) else str(option.default)


def test_the_docs_table_of_train_options_matches_the_sections() -> None:
    text = (ROOT / "docs" / "cli.md").read_text()
    pattern = r"^\| `train\.(\w+)` \| (\w+) \| (\w+) \| `([^`]*)` \| (.*) \|$"
    rows = re.findall(pattern, text, re.M)
    assert [row[0] for row in rows] == [option.name for option in TRAIN_OPTIONS]
    for name, section, type_name, default, meaning in rows:
        option = next(option for option in TRAIN_OPTIONS if option.name == name)
        assert section == section_of(name), name
        assert type_name == option.type_name, name
        assert default == docs_default(option), name
        assert meaning.replace("`", "").replace("\\|", "|").startswith(option.help), name


# -- the flat shape of config.json ---------------------------------------------------------


def test_config_json_keeps_the_flat_train_keys_of_older_runs() -> None:
    for run in ("digits-conditional", "8gaussians-langevin"):
        payload = json.loads((FIXTURES / run / "config.json").read_text())
        config = RunConfig.from_json(payload)
        written = config.as_json()
        # Options added since the fixture was saved are written with their defaults.
        added = {
            key: written["train"].pop(key) for key in set(written["train"]) - set(payload["train"])
        }
        assert added == {key: train_option(key).default for key in added}
        assert written["train"] == payload["train"]
        assert written == payload


def test_a_saved_run_missing_newer_options_reads_their_defaults_and_keeps_unknown_keys() -> None:
    payload = json.loads((FIXTURES / "digits-conditional" / "config.json").read_text())
    payload["train"] = {"steps": 4, "seed": 3, "from_a_newer_ebkit": [1, 2]}
    config = RunConfig.from_json(payload)
    assert config.train.optimisation.steps == 4
    assert config.train.schedule == TrainOptions().schedule
    assert config.as_json()["train"]["from_a_newer_ebkit"] == [1, 2]


def test_a_saved_run_with_a_bad_train_value_is_one_clear_error() -> None:
    payload = json.loads((FIXTURES / "digits-conditional" / "config.json").read_text())
    payload["train"]["batch_size"] = "many"
    with pytest.raises(UsageError, match=r"^config\.json: train\.batch_size: 'many' is not"):
        RunConfig.from_json(payload)


def test_typed_values_round_trip_and_replace_validates() -> None:
    options = TrainOptions.from_values({"steps": "30", "energy_lr": "2e-4", "conditional": "yes"})
    assert options.optimisation.steps == 30 and options.optimisation.energy_lr == 2e-4
    assert options.conditioning.conditional is True
    assert TrainOptions.from_values(options.as_flat()) == options
    assert options.replace(steps=60).optimisation.steps == 60
    with pytest.raises(UsageError, match=r"train\.steps: 0 is below the minimum 1"):
        options.replace(steps=0)
    assert options["steps"] == 30  # read by flat name, as scripts of earlier versions did


# -- validation: one line, exit 2, nothing written ------------------------------------------


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["-o", "train.test_fraction=1"], "train.test_fraction: '1' must be below 1"),
        (["-o", "train.lr_halve_smoothing=1.0"], "train.lr_halve_smoothing: '1.0' must be below 1"),
        (
            ["-o", "train.stepz=3"],
            "train.stepz: unknown option for 'train' (did you mean 'steps'? accepted: steps,",
        ),
        (["-o", "train.device=tpu"], "train.device: 'tpu' is not a device (accepted: auto, cpu,"),
        (["--precision", "fp8"], "train.precision: 'fp8' is not one of 'fp32', 'bf16', 'fp16'"),
        (["--batch-size", "1"], "train.batch_size: 1 is below the minimum 2"),
        (["-o", "train.beta1=1.5"], "train.beta1: '1.5' is above the maximum 1"),
    ],
)
def test_bad_train_options_exit_2_with_one_line(ebkit_cli, tmp_path, extra, message) -> None:
    result = ebkit_cli("train", *SMALL, *extra, "--out", str(tmp_path / "run"), "--quiet")
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    assert message in lines[0]
    assert not (tmp_path / "run").exists()


def test_a_toml_train_table_is_validated_like_flags(ebkit_cli, tmp_path) -> None:
    config = tmp_path / "run.toml"
    config.write_text("[train]\nsteps = 2\ntest_fraction = 1.5\n")
    result = ebkit_cli("train", *SMALL, "--config", str(config), "--out", str(tmp_path / "r"))
    assert result.exit_code == 2
    assert "train.test_fraction: 1.5 must be below 1" in result.stderr


def test_exclusive_bounds() -> None:
    share = Option("share", float, 0.5, "a", minimum=0.0, maximum=1.0, maximum_inclusive=False)
    assert share.coerce("0") == 0.0 and share.coerce("0.999") == 0.999
    with pytest.raises(UsageError, match="share: '1' must be below 1"):
        share.coerce("1")
    assert share.describe_bounds() == ">= 0 and < 1"
    rate = Option("rate", float, 1.0, "a rate", minimum=0.0, minimum_inclusive=False)
    with pytest.raises(UsageError, match="rate: 0 must be above 0"):
        rate.coerce(0)
    assert rate.describe_bounds() == "> 0"
    assert Option("p", float, 0.5, "p", minimum=0.0, maximum=1.0).describe_bounds() == "0 to 1"


# -- the run's keywords, defined once -------------------------------------------------------


def test_the_run_keywords_are_defined_once(tmp_path) -> None:
    import inspect

    import ebkit

    keywords = inspect.signature(ebkit.train).parameters
    for slot in COMPONENT_SLOTS:
        assert slot.key in keywords, slot.key
    assert "regularizers" in keywords
    toml = tmp_path / "all.toml"
    toml.write_text("".join(f"[{table}]\n" for table in TABLES if table != "regularizers"))
    assert set(load_toml(toml)) == set(TABLES) - {"regularizers"}
    toml.write_text("[optimizer]\n")
    with pytest.raises(UsageError, match="unknown table"):
        load_toml(toml)
