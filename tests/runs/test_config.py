"""Tests for resolving run configurations (ebkit.runs.config): defaults, TOML, -o overrides."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from ebkit import UsageError
from ebkit.plugin.manager import PluginManager
from ebkit.runs.config import (
    TRAIN_COMPONENT,
    ComponentConfig,
    RunConfig,
    TrainOptions,
    load_toml,
    parse_override,
    resolve_config,
)

NAMES = {"energy": "mlp", "sampler": "generator", "loss": "gan"}


@pytest.fixture(scope="module")
def plugins(feature_penalty_plugin) -> PluginManager:
    return PluginManager(
        load_entry_points=False, environ={}, extra_plugins={"ebkit-tests": feature_penalty_plugin}
    )


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "run.toml"
    path.write_text(text)
    return path


def defaults(plugins, kind: str, name: str) -> dict:
    return {o.name: o.default for o in plugins.lookup(kind, name).component.options}


def test_defaults_fill_every_option_and_data_defaults_to_digits(plugins) -> None:
    config = resolve_config(plugins, names=NAMES)
    assert config.energy.id == "ebkit/mlp"
    assert config.sampler.id == "ebkit/generator"
    assert config.loss.id == "ebkit/gan"
    assert config.data.id == "ebkit/digits"
    assert config.data_path is None
    assert config.regularizers == []
    assert config.energy.options == defaults(plugins, "energy", "mlp")
    assert config.energy.options["width"] == 128
    assert config.energy.options["label_dim"] is None
    assert config.sampler.options == defaults(plugins, "sampler", "generator")
    assert config.loss.options == defaults(plugins, "loss", "gan")
    assert config.data.options == defaults(plugins, "dataset", "digits")
    assert config.train == TrainOptions()
    assert config.train.as_flat() == {
        option.name: option.default for option in TRAIN_COMPONENT.options
    }
    # steps is auto until the data is known (ebkit.runs.train_defaults.resolve_train_defaults).
    assert config.train.optimisation.steps is None and config.train.optimisation.seed == 0


@pytest.mark.parametrize("missing", ["energy", "sampler", "loss"])
def test_a_missing_component_name_is_a_usage_error(plugins, missing) -> None:
    names = {key: value for key, value in NAMES.items() if key != missing}
    with pytest.raises(UsageError, match=f"no {missing} chosen: pass --{missing} NAME"):
        resolve_config(plugins, names=names)


def test_unknown_component_names_are_usage_errors(plugins) -> None:
    with pytest.raises(UsageError, match="did you mean 'mlp'"):
        resolve_config(plugins, names={**NAMES, "energy": "mlpp"})
    with pytest.raises(UsageError, match="unknown dataset 'mnsit'"):
        resolve_config(plugins, names={**NAMES, "data": "mnsit"})


def test_qualified_ids_are_accepted(plugins) -> None:
    config = resolve_config(plugins, names={**NAMES, "energy": "ebkit/mlp", "data": "ebkit/moons"})
    assert config.energy.id == "ebkit/mlp"
    assert config.data.id == "ebkit/moons"


def test_toml_tables_set_names_options_train_and_regularizers(plugins, tmp_path) -> None:
    path = write(
        tmp_path,
        textwrap.dedent("""
        [energy]
        name = "mlp"
        width = 64
        activation = "elu"

        [sampler]
        name = "generator"
        latent_dim = 8

        [loss]
        name = "gan"
        generator_loss = "minimax"

        [data]
        name = "25gaussians"
        noise = 0.1

        [train]
        steps = 30
        energy_lr = 1

        [regularizers.feature-penalty]
        weight = 0.5
        """),
    )
    config = resolve_config(plugins, toml=load_toml(path))
    assert config.energy.options["width"] == 64
    assert config.energy.options["activation"] == "elu"
    assert config.sampler.options["latent_dim"] == 8
    assert config.loss.options["generator_loss"] == "minimax"
    assert config.data.id == "ebkit/25gaussians"
    assert config.data.options == {"noise": 0.1}
    assert config.train.optimisation.steps == 30
    energy_lr = config.train.optimisation.energy_lr
    assert energy_lr == 1.0 and type(energy_lr) is float
    assert [reg.id for reg in config.regularizers] == ["ebkit-tests/feature-penalty"]
    assert config.regularizers[0].options == {"weight": 0.5}


def test_toml_data_path(plugins, tmp_path) -> None:
    path = write(tmp_path, '[data]\nname = "moons"\npath = "some/where"\n')
    config = resolve_config(plugins, toml=load_toml(path), names=NAMES)
    # Stored absolute (relative to the working directory), so a run can be resumed,
    # sampled and evaluated from anywhere.
    assert config.data_path == str(Path("some/where").absolute())
    again = resolve_config(plugins, toml=load_toml(path), names=NAMES, data_path="cli/path")
    assert again.data_path == str(Path("cli/path").absolute())
    home = resolve_config(plugins, names=NAMES, data_path="~/data")
    assert home.data_path == str(Path.home() / "data")


def test_unknown_toml_table_is_a_usage_error(tmp_path) -> None:
    path = write(tmp_path, "[optimizer]\nlr = 1\n")
    with pytest.raises(UsageError) as caught:
        load_toml(path)
    message = str(caught.value)
    assert "unknown table [optimizer]" in message
    for table in ("data", "energy", "loss", "regularizers", "sampler", "train"):
        assert table in message


def test_a_toml_key_that_is_not_a_table_is_a_usage_error(tmp_path) -> None:
    with pytest.raises(UsageError, match=r"\[energy\] .* must be a table"):
        load_toml(write(tmp_path, 'energy = "mlp"\n'))


def test_missing_or_invalid_toml_file(tmp_path) -> None:
    with pytest.raises(UsageError, match="does not exist"):
        load_toml(tmp_path / "nope.toml")
    with pytest.raises(UsageError, match="not valid TOML"):
        load_toml(write(tmp_path, "[energy\nname = 1\n"))


def test_unknown_option_key_in_toml_is_a_usage_error(plugins, tmp_path) -> None:
    path = write(tmp_path, '[energy]\nname = "mlp"\nwidht = 3\n')
    with pytest.raises(UsageError) as caught:
        resolve_config(plugins, toml=load_toml(path), names=NAMES)
    message = str(caught.value)
    assert message.startswith("energy.widht: unknown option for 'mlp'")
    assert "width" in message and "n_layers" in message


def test_unknown_train_key_in_toml_is_a_usage_error(plugins, tmp_path) -> None:
    path = write(tmp_path, "[train]\nepochs = 3\n")
    with pytest.raises(UsageError, match=r"train\.epochs: unknown option for 'train'"):
        resolve_config(plugins, toml=load_toml(path), names=NAMES)


def test_a_wrongly_typed_toml_value_names_the_field(plugins, tmp_path) -> None:
    path = write(tmp_path, '[energy]\nwidth = "wide"\n')
    with pytest.raises(UsageError, match=r"energy\.width: 'wide' is not a valid int"):
        resolve_config(plugins, toml=load_toml(path), names=NAMES)


def test_unused_regularizer_table_is_a_usage_error(plugins, tmp_path) -> None:
    path = write(tmp_path, "[regularizers.feature-penalty]\nweight = 0.5\n")
    unused = r"\[regularizers\.feature-penalty\] is set but 'feature-penalty' is not used"
    with pytest.raises(UsageError, match=unused):
        resolve_config(plugins, toml=load_toml(path), names=NAMES, regularizers=["other"])


def test_a_regularizer_entry_that_is_not_a_table_is_a_usage_error(plugins, tmp_path) -> None:
    path = write(tmp_path, "[regularizers]\nfeature-penalty = true\n")
    with pytest.raises(UsageError, match="feature-penalty"):
        resolve_config(plugins, toml=load_toml(path), names=NAMES)


def test_the_same_regularizer_twice_is_a_usage_error(plugins) -> None:
    with pytest.raises(UsageError, match="twice"):
        resolve_config(plugins, names=NAMES, regularizers=["feature-penalty", "feature-penalty"])


@pytest.mark.parametrize(
    "text", ["energy.width", "energy=3", "width=3", ".width=3", "energy.=3", "=3", ""]
)
def test_malformed_overrides_are_usage_errors(text) -> None:
    with pytest.raises(UsageError, match=r"expected COMPONENT\.KEY=VALUE"):
        parse_override(text)


def test_parse_override_splits_component_key_and_value() -> None:
    assert parse_override(" energy.width = 256 ") == ("energy", "width", "256")
    assert parse_override("loss.margin=") == ("loss", "margin", "")
    assert parse_override("sampler.sizes=1,2=3") == ("sampler", "sizes", "1,2=3")


def test_override_errors_propagate_from_resolve_config(plugins) -> None:
    with pytest.raises(UsageError, match=r"expected COMPONENT\.KEY=VALUE"):
        resolve_config(plugins, names=NAMES, overrides=["energy.width"])
    with pytest.raises(UsageError) as caught:
        resolve_config(plugins, names=NAMES, overrides=["optimizer.lr=3"])
    message = str(caught.value)
    assert "unknown component 'optimizer'" in message
    for section in ("energy", "sampler", "loss", "data", "train"):
        assert section in message
    with pytest.raises(UsageError, match=r"energy\.width: 'abc' is not a valid int"):
        resolve_config(plugins, names=NAMES, overrides=["energy.width=abc"])
    with pytest.raises(UsageError, match=r"energy\.nope: unknown option"):
        resolve_config(plugins, names=NAMES, overrides=["energy.nope=1"])


def test_cli_values_override_toml(plugins, tmp_path) -> None:
    path = write(
        tmp_path,
        '[energy]\nname = "mlp"\nwidth = 64\n[data]\nname = "moons"\n'
        "[train]\nsteps = 30\nseed = 3\nbatch_size = 16\n",
    )
    config = resolve_config(
        plugins,
        toml=load_toml(path),
        names={**NAMES, "data": "rings"},
        train={"steps": 7, "seed": None, "batch_size": None},
        overrides=["energy.width=32", "train.batch_size=8"],
    )
    assert config.data.id == "ebkit/rings"
    assert config.energy.options["width"] == 32
    assert config.train.optimisation.steps == 7
    assert config.train.optimisation.seed == 3  # not given on the command line: TOML wins
    assert config.train.optimisation.batch_size == 8


def test_override_wins_over_train_flag(plugins) -> None:
    config = resolve_config(plugins, names=NAMES, train={"steps": 5}, overrides=["train.steps=9"])
    assert config.train.optimisation.steps == 9


def test_override_a_regularizer_option_by_its_name(plugins) -> None:
    chosen = {"names": NAMES, "regularizers": ["feature-penalty"]}
    config = resolve_config(plugins, **chosen, overrides=["feature-penalty.weight=0.25"])
    assert config.regularizers[0].id == "ebkit-tests/feature-penalty"
    assert config.regularizers[0].options == {"weight": 0.25}
    with pytest.raises(UsageError, match=r"feature-penalty\.weight: 'x' is not a valid float"):
        resolve_config(plugins, **chosen, overrides=["feature-penalty.weight=x"])
    with pytest.raises(UsageError, match="unknown component 'feature-penalty'"):
        resolve_config(plugins, names=NAMES, overrides=["feature-penalty.weight=0.25"])


def test_override_a_regularizer_table_from_toml(plugins, tmp_path) -> None:
    path = write(tmp_path, "[regularizers.feature-penalty]\nweight = 0.5\n")
    config = resolve_config(
        plugins, toml=load_toml(path), names=NAMES, overrides=["feature-penalty.weight=0.75"]
    )
    assert config.regularizers[0].options == {"weight": 0.75}


def test_option_bounds_apply_to_train_options(plugins) -> None:
    with pytest.raises(UsageError, match=r"train\.batch_size: '1' is below the minimum 2"):
        resolve_config(plugins, names=NAMES, overrides=["train.batch_size=1"])
    with pytest.raises(UsageError, match=r"train\.device: 'tpu' is not a device \(accepted: auto"):
        resolve_config(plugins, names=NAMES, overrides=["train.device=tpu"])


def test_run_config_json_round_trip(plugins) -> None:
    config = resolve_config(
        plugins,
        names={**NAMES, "data": "25gaussians"},
        regularizers=["feature-penalty"],
        data_path="/some/path",
        overrides=["energy.width=32", "loss.generator_loss=minimax", "feature-penalty.weight=0.2"],
    )
    payload = json.loads(json.dumps(config.as_json()))
    assert payload["data"] == {
        "id": "ebkit/25gaussians",
        "options": {"noise": 0.05},
        "path": "/some/path",
    }
    assert payload["regularizers"] == [
        {"id": "ebkit-tests/feature-penalty", "options": {"weight": 0.2}}
    ]
    again = RunConfig.from_json(payload)
    assert again == config
    assert again.as_json() == config.as_json()


def test_run_config_from_bad_json_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="not an ebkit run configuration"):
        RunConfig.from_json({"energy": {"id": "x", "options": {}}})
    with pytest.raises(UsageError, match="not an ebkit run configuration"):
        RunConfig.from_json(
            {
                "energy": {"id": "x", "options": {}, "extra": 1},
                "sampler": {"id": "s", "options": {}},
                "loss": {"id": "l", "options": {}},
                "data": {"id": "d", "options": {}},
                "regularizers": [],
                "train": {},
            }
        )


def test_component_config_as_json_copies_options() -> None:
    options = {"width": 3}
    payload = ComponentConfig("p/x", options).as_json()
    payload["options"]["width"] = 4
    assert options == {"width": 3}


def test_saved_configs_get_the_saved_default_of_options_they_lack() -> None:
    from ebkit import Component, Option
    from ebkit.plugin.manager import PluginManager, module_plugin
    from ebkit.runs.config import ComponentConfig, RunConfig, complete_saved_options

    options = (
        Option("mode", str, "new", "how", choices=("new", "old"), saved_default="old"),
        Option("width", int, 8, "units"),
    )
    plugin = module_plugin(
        "saved-test",
        ebkit_energies=lambda: [
            Component(name="evolving", summary="gained options", factory=dict, options=options)
        ],
    )
    manager = PluginManager(environ={}, extra_plugins={"saved-test": plugin})

    def saved(energy_options):
        return RunConfig(
            energy=ComponentConfig("saved-test/evolving", dict(energy_options)),
            sampler=ComponentConfig("ebkit/generator", {}),
            loss=ComponentConfig("ebkit/gan", {}),
            data=ComponentConfig("ebkit/digits", {}),
            data_path=None,
            regularizers=[],
            train={},
        )

    old = complete_saved_options(manager, saved({"width": 4}))
    assert old.energy.options == {"width": 4, "mode": "old"}  # width without saved_default
    kept = complete_saved_options(manager, saved({"width": 4, "mode": "new"}))
    assert kept.energy.options == {"width": 4, "mode": "new"}
    gone = RunConfig(
        energy=ComponentConfig("uninstalled/energy", {}),
        sampler=ComponentConfig("ebkit/generator", {}),
        loss=ComponentConfig("ebkit/gan", {}),
        data=ComponentConfig("ebkit/digits", {}),
        data_path=None,
        regularizers=[],
        train={},
    )
    assert complete_saved_options(manager, gone).energy.options == {}
