"""Tests for the library API (ebkit/runs/library.py, the lazy names of ebkit/__init__.py and
SavedRun): the same runs as the command line, from Python."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import ebkit
from ebkit import EbkitError, UsageError
from ebkit.plugin.manager import PluginManager, module_plugin
from ebkit.runs.library import default_run_dir, resolve_run_config

SMALL = {
    "energy.width": 8,
    "sampler.width": 8,
    "sampler.latent_dim": 2,
    "train.log_every": 5,
    "train.sample_count": 8,
}
NAMES = {"energy": "mlp", "sampler": "generator", "loss": "gan", "data": "8gaussians"}


@pytest.fixture(autouse=True)
def _plugins(ebkit_plugins, feature_penalty_plugin):
    """A fresh manager over the built-ins and a test regularizer for each test."""
    ebkit_plugins({"ebkit-tests": feature_penalty_plugin})


def small_run(tmp_path, name: str = "run", **changes):
    arguments = {**NAMES, "steps": 10, "batch_size": 8, "options": SMALL}
    arguments.update(changes)
    return ebkit.train(out=tmp_path / name, **arguments)


# -- the public names -----------------------------------------------------------------------


def test_every_public_name_resolves() -> None:
    for name in ebkit.__all__:
        assert getattr(ebkit, name) is not None, name
    with pytest.raises(AttributeError, match="no attribute 'trian'"):
        ebkit.trian  # noqa: B018


def test_the_library_names_do_not_import_torch() -> None:
    code = (
        "import sys, ebkit\n"
        "ebkit.train, ebkit.resume, ebkit.load_run, ebkit.build_component\n"
        "ebkit.get_plugin_manager().components('energy')\n"
        "sys.exit('torch' in sys.modules)\n"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


# -- build_component --------------------------------------------------------------------------


def test_build_component_builds_by_name_with_validated_options() -> None:
    data = ebkit.build_component("dataset", "8gaussians", noise="0.02")
    assert isinstance(data, ebkit.Dataset) and data.noise == 0.02
    energy = ebkit.build_component("energy", "ebkit/mlp", data.spec, width=8)
    assert isinstance(energy, ebkit.EnergyFunction)
    assert energy(torch.zeros(3, 2)).energy.shape == (3,)
    regularizer = ebkit.build_component("regularizer", "feature-penalty", data.spec, weight=0.5)
    assert regularizer.weight == 0.5


def test_build_component_with_a_seed_is_reproducible_and_leaves_the_global_rng() -> None:
    spec = ebkit.DataSpec((2,))
    before = torch.get_rng_state()
    first = ebkit.build_component("energy", "mlp", spec, width=8, seed=4)
    second = ebkit.build_component("energy", "mlp", spec, width=8, seed=4)
    assert torch.equal(torch.get_rng_state(), before)
    for (name, a), b in zip(first.state_dict().items(), second.state_dict().values(), strict=True):
        assert torch.equal(a, b), name


@pytest.mark.parametrize(
    ("arguments", "options", "message"),
    [
        (("energy", "mlp", ebkit.DataSpec((2,))), {"width": "wide"}, "energy.width"),
        (("energy", "mlp", ebkit.DataSpec((2,))), {"depth": 3}, "energy.depth: unknown"),
        (("energy", "mlpp", ebkit.DataSpec((2,))), {}, "did you mean 'mlp'"),
        (("energy", "mlp"), {}, "pass the DataSpec of the data"),
        (("dataset", "8gaussians", ebkit.DataSpec((2,))), {}, "built from path=, not"),
        (("regularizer", "feature-penalty", ebkit.DataSpec((2,))), {"weight": -1}, "weight"),
        (("sampler", "generator", ebkit.DataSpec((2,))), {"path": "x"}, "datasets only"),
    ],
)
def test_build_component_errors_are_one_line_usage_errors(arguments, options, message) -> None:
    with pytest.raises(UsageError, match=message) as caught:
        ebkit.build_component(*arguments, **options)
    assert "\n" not in str(caught.value)


def test_build_component_rejects_a_missing_path(tmp_path) -> None:
    with pytest.raises(UsageError, match="does not exist"):
        ebkit.build_component("dataset", "npz", path=tmp_path / "missing.npz")


def refuses(spec, **options):
    raise ValueError("this combination is not supported")


def not_an_energy(spec, **options):
    return object()


def test_build_component_reports_factory_errors_and_wrong_types(ebkit_plugins) -> None:
    records = [
        ebkit.Component("refuses", "raises ValueError", refuses),
        ebkit.Component("wrong-type", "returns an object", not_an_energy),
    ]
    manager = ebkit_plugins({"odd": module_plugin("odd", ebkit_energies=lambda: records)})
    spec = ebkit.DataSpec((2,))
    with pytest.raises(UsageError, match="energy 'odd/refuses': this combination"):
        ebkit.build_component("energy", "refuses", spec)
    with pytest.raises(EbkitError, match=r"not an ebkit\.EnergyFunction"):
        ebkit.build_component("energy", "wrong-type", spec, manager=manager)


# -- train and load_run ----------------------------------------------------------------------


class Steps(ebkit.Callback):
    def __init__(self) -> None:
        self.steps: list[int] = []

    def on_step_end(self, trainer, metrics) -> None:
        self.steps.append(trainer.step)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[ebkit.SavedRun, Steps]:
    """One small run trained with ebkit.train, shared by the tests that only read it,
    with a callback that saw its steps."""
    steps = Steps()
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        run = small_run(
            tmp_path_factory.mktemp("library"),
            callbacks=[steps],
            manager=PluginManager(load_entry_points=False, environ={}),
        )
    finally:
        torch.set_num_threads(previous)
    return run, steps


def test_train_writes_the_same_run_as_the_command_line(trained, ebkit_plugins, ebkit_cli) -> None:
    run, _ = trained
    flags = [f"--{key}={value}" for key, value in NAMES.items()]
    overrides = [item for key, value in SMALL.items() for item in ("-o", f"{key}={value}")]
    cli_run = run.path.parent / "cli"
    result = ebkit_cli(
        "train", *flags, "--steps", "10", "--batch-size", "8", "--quiet", *overrides,
        "--out", str(cli_run),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    for name in ("config.json", "metrics.jsonl"):
        assert (run.path / name).read_text() == (cli_run / name).read_text()
    assert run.step == 10 and isinstance(run, ebkit.SavedRun)
    assert (run.path / "samples" / "final.png").is_file()


def test_callbacks_see_every_step(trained) -> None:
    _, steps = trained
    assert steps.steps == list(range(1, 11))


def test_the_returned_run_samples_scores_and_loads_back(trained) -> None:
    run, _ = trained
    samples = run.sample(7, seed=1)
    assert samples.shape == (7, 2)
    assert torch.equal(samples, run.sample(7, seed=1))
    energies = run.energies(samples)
    assert energies.shape == (7,)
    again = ebkit.load_run(run.path, device="cpu")
    assert again.step == 10
    torch.testing.assert_close(again.energies(samples), energies)
    assert [record["step"] for record in again.metrics_history()] == [5, 10]
    assert {"loss_energy", "loss_sampler"} <= set(again.metrics_history()[-1])


def test_load_run_changes_sampler_options_that_keep_the_weights(trained) -> None:
    run, _ = trained
    uniform = ebkit.load_run(run.path, sampler_options={"noise": "uniform"})
    assert uniform.config.sampler.options["noise"] == "uniform"
    with pytest.raises(UsageError, match=r"sampler\.noise"):
        ebkit.load_run(run.path, sampler_options={"noise": "cauchy"})


def test_resume_continues_the_run(trained, tmp_path) -> None:
    run, _ = trained
    shutil.copytree(run.path, tmp_path / "copy")
    resumed = ebkit.resume(tmp_path / "copy", steps=13)
    assert resumed.step == 13
    assert [record["step"] for record in resumed.metrics_history()] == [5, 10, 13]


def test_options_may_be_dotted_tables_or_strings_and_win_over_keywords() -> None:
    manager = ebkit.get_plugin_manager()
    config = resolve_run_config(
        manager,
        **NAMES,
        regularizers="feature-penalty",  # one name as a string
        steps=50,
        options={
            "energy": {"width": 16},
            "sampler.width": "24",
            "feature-penalty.weight": 0.3,
            "train.steps": 7,
        },
        config={
            "loss": {"name": "gan", "generator_loss": "minimax"},
            "train": {"steps": 3, "seed": 5},
        },
    )
    assert config.energy.options["width"] == 16
    assert config.sampler.options["width"] == 24
    assert config.loss.options["generator_loss"] == "minimax"
    assert config.regularizers[0].id == "ebkit-tests/feature-penalty"
    assert config.regularizers[0].options["weight"] == 0.3
    assert (config.train.optimisation.steps, config.train.optimisation.seed) == (7, 5)


def test_a_toml_config_file_is_read(tmp_path) -> None:
    path = tmp_path / "run.toml"
    path.write_text('[energy]\nname = "mlp"\nwidth = 12\n\n[train]\nseed = 9\n')
    config = resolve_run_config(
        ebkit.get_plugin_manager(), sampler="generator", loss="gan", config=path
    )
    assert (config.energy.options["width"], config.train.optimisation.seed) == (12, 9)
    assert config.data.id == "ebkit/digits"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"options": {"enrgy.width": 8}}, "options: unknown component 'enrgy' in 'enrgy.width'"),
        ({"options": {"energy": 8}}, "needs a table of options"),
        ({"options": {"feature-penalty.weight": 0.1}}, "unknown component 'feature-penalty'"),
        ({"options": {"energy.width": "wide"}}, "energy.width"),
        ({"loss": None}, "no loss chosen"),
        ({"config": "missing.toml"}, "missing.toml does not exist"),
    ],
)
def test_train_errors_come_before_anything_is_written(tmp_path, changes, message) -> None:
    with pytest.raises(UsageError, match=message):
        small_run(tmp_path, **changes)
    assert not (tmp_path / "run").exists()


def test_the_default_run_directory_is_named_after_the_components() -> None:
    config = resolve_run_config(ebkit.get_plugin_manager(), **NAMES)
    name = default_run_dir(config)
    assert re.fullmatch(r"runs/8gaussians-mlp-generator-gan-\d{8}-\d{6}", name)


def test_a_component_defined_in_a_script_gets_a_full_run(tmp_path, monkeypatch) -> None:
    class Shift(ebkit.EnergyFunction):
        def __init__(self, spec: ebkit.DataSpec) -> None:
            super().__init__(spec)
            self.centre = torch.nn.Parameter(torch.zeros(spec.dim))

        def forward(self, x: torch.Tensor) -> ebkit.EnergyOutput:
            return ebkit.EnergyOutput(energy=(x.flatten(1) - self.centre).square().sum(1))

    plugin = module_plugin(
        "script", ebkit_energies=lambda: [ebkit.Component("shift", "‖x − c‖²", Shift)]
    )
    manager = PluginManager(load_entry_points=False, extra_plugins={"script": plugin}, environ={})
    monkeypatch.chdir(tmp_path)
    options = {"sampler.width": 8, "sampler.latent_dim": 2}
    run = ebkit.train(**{**NAMES, "energy": "shift"}, steps=2, options=options, manager=manager)
    assert run.config.energy.id == "script/shift"
    assert run.path.parent == Path("runs")  # the default run directory, as on the CLI
    assert ebkit.load_run(run.path, manager=manager).sample(3).shape == (3, 2)
