"""Tests for the plugin manager in ebkit.plugin.manager: loading, isolation of broken plugins,
environment switches and name resolution."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import click
import pytest

from ebkit import Component, Option, PluginError, UsageError
from ebkit.cli.main import cli, main
from ebkit.plugin.compat import (
    declared_ebkit_range,
    format_range,
    plugin_distributions,
    running_version,
    supported_by,
)
from ebkit.plugin.hookspecs import HOOK_VERSION
from ebkit.plugin.manager import PluginManager, module_plugin

TOY_DATASETS = ["8gaussians", "25gaussians", "moons", "swissroll", "rings"]


def energy_factory(spec, **options):
    return ("energy", spec, options)


def energy(name: str, **changes) -> Component:
    fields = {"name": name, "summary": f"test energy {name}", "factory": energy_factory}
    fields.update(changes)
    return Component(**fields)


def energies(*names: str):
    return lambda: [energy(name) for name in names]


def manager(environ=None, **plugins) -> PluginManager:
    """A manager with the built-ins and in-memory plugins, keyed by keyword (with '_'
    spelled '-')."""
    extra = {name.replace("_", "-"): plugin for name, plugin in plugins.items()}
    return PluginManager(load_entry_points=False, extra_plugins=extra, environ=environ or {})


def raise_runtime_error():
    raise RuntimeError("boom\nsecond line of the error")


def added(plugins: PluginManager, kind: str) -> list:
    """The components of ``kind`` that plugins other than the built-ins provide."""
    return [entry for entry in plugins.components(kind) if entry.namespace != "ebkit"]


def stderr_lines(capsys) -> list[str]:
    return [line for line in capsys.readouterr().err.splitlines() if line.strip()]


# -- the built-ins ----------------------------------------------------------------------


def test_builtins_register_through_the_hooks(capsys) -> None:
    plugins = manager()
    families = {
        "ebkit.energies": "energy",
        "ebkit.samplers": "sampler",
        "ebkit.losses": "loss",
        "ebkit.datasets": "dataset",
        "ebkit.loggers": "logger",
    }
    assert {name for name, info in plugins.plugins.items() if info.source == "builtin"} == set(
        families
    )
    for name, kind in families.items():
        info = plugins.plugins[name]
        assert info.status == "loaded" and info.error is None
        assert list(info.components) == [kind]
    assert "generator" in plugins.plugins["ebkit.samplers"].components["sampler"]
    assert {*TOY_DATASETS, "digits"} <= set(plugins.plugins["ebkit.datasets"].components["dataset"])
    entry = plugins.lookup("sampler", "generator")
    assert entry.plugin == "ebkit.samplers" and entry.qualified_id == "ebkit/generator"
    assert entry.component.factory == "ebkit.builtins.samplers.generator:GeneratorSampler"
    assert plugins.lookup("dataset", "ebkit/digits").name == "digits"
    names = [entry.name for entry in plugins.components("dataset")]
    assert names == sorted(names) and {*TOY_DATASETS, "digits"} <= set(names)
    assert stderr_lines(capsys) == []


def test_plugin_info_as_json() -> None:
    payload = manager(p=module_plugin("p", ebkit_energies=energies("e1"))).plugins["p"].as_json()
    assert payload == {
        "name": "p",
        "version": None,
        "source": "registered",
        "status": "loaded",
        "error": None,
        "components": {"energy": ["e1"]},
        "requires_ebkit": None,
    }


def test_module_plugin_components_of_every_kind_are_collected() -> None:
    plugin = module_plugin(
        "every",
        ebkit_energies=energies("e1"),
        ebkit_samplers=energies("s1"),
        ebkit_losses=energies("l1"),
        ebkit_regularizers=energies("r1"),
        ebkit_datasets=energies("d1"),
    )
    plugins = manager(every=plugin)
    for kind, name in [
        ("energy", "e1"),
        ("sampler", "s1"),
        ("loss", "l1"),
        ("regularizer", "r1"),
        ("dataset", "d1"),
    ]:
        entry = plugins.lookup(kind, name)
        assert (entry.kind, entry.plugin, entry.qualified_id) == (kind, "every", f"every/{name}")
    assert plugins.plugins["every"].components == {
        "energy": ["e1"],
        "sampler": ["s1"],
        "loss": ["l1"],
        "regularizer": ["r1"],
        "dataset": ["d1"],
    }


def test_a_hook_may_return_a_single_component_or_none() -> None:
    plugins = manager(
        single=module_plugin("single", ebkit_energies=lambda: energy("lonely")),
        empty=module_plugin("empty", ebkit_losses=lambda: None),
    )
    assert plugins.lookup("energy", "lonely").plugin == "single"
    assert plugins.plugins["empty"].status == "loaded"
    assert plugins.plugins["empty"].components == {}


# -- broken plugins are isolated ------------------------------------------------------------


def test_a_plugin_whose_hook_raises_is_skipped_with_one_line(capsys) -> None:
    plugins = manager(
        bad=module_plugin("bad", ebkit_energies=raise_runtime_error),
        good=module_plugin("good", ebkit_energies=energies("fine")),
    )
    lines = stderr_lines(capsys)
    assert len(lines) == 1, lines
    assert "'bad'" in lines[0]
    assert "EBKIT_DISABLE_PLUGINS=bad" in lines[0]
    assert "RuntimeError: boom" in lines[0]
    assert "second line" not in lines[0]
    info = plugins.plugins["bad"]
    assert info.status == "broken" and "boom" in info.error
    assert plugins.plugins["good"].status == "loaded"
    assert plugins.lookup("energy", "fine").component.load_factory() is energy_factory
    assert plugins.lookup("sampler", "generator").plugin == "ebkit.samplers"


def test_a_broken_plugin_contributes_no_component_even_from_its_other_hooks(capsys) -> None:
    plugin = module_plugin("half", ebkit_energies=energies("ok-energy"), ebkit_losses=lambda: 1 / 0)
    plugins = manager(half=plugin)
    assert plugins.plugins["half"].status == "broken"
    assert "ZeroDivisionError" in plugins.plugins["half"].error
    assert added(plugins, "energy") == []
    assert len(stderr_lines(capsys)) == 1


@pytest.mark.parametrize(
    "returned",
    [["not a component"], [{"name": "x"}], [energy("good-one"), 42]],
    ids=["str", "dict", "mixed"],
)
def test_a_hook_returning_non_components_is_skipped(capsys, returned) -> None:
    plugins = manager(
        odd=module_plugin("odd", ebkit_energies=lambda: returned),
        good=module_plugin("good", ebkit_energies=energies("fine")),
    )
    lines = stderr_lines(capsys)
    assert len(lines) == 1 and "'odd'" in lines[0] and "EBKIT_DISABLE_PLUGINS=odd" in lines[0]
    assert "not ebkit.Component" in lines[0]
    assert plugins.plugins["odd"].status == "broken"
    assert [entry.name for entry in added(plugins, "energy")] == ["fine"]


def test_a_hook_raising_while_building_a_record_is_skipped(capsys) -> None:
    def invalid_record():
        return [Component(name="Bad Name", summary="s", factory=energy_factory)]

    plugins = manager(invalid=module_plugin("invalid", ebkit_energies=invalid_record))
    assert plugins.plugins["invalid"].status == "broken"
    assert "component name" in plugins.plugins["invalid"].error
    assert len(stderr_lines(capsys)) == 1


def test_a_plugin_registering_the_same_name_twice_is_broken(capsys) -> None:
    plugins = manager(twice=module_plugin("twice", ebkit_energies=energies("dup", "dup")))
    assert plugins.plugins["twice"].status == "broken"
    assert "registered twice" in plugins.plugins["twice"].error
    assert len(stderr_lines(capsys)) == 1


def ebkit_energys():  # the typo a plugin author makes: the hook is ebkit_energies
    return [energy("lost")]


def test_a_misspelled_hook_name_is_reported_broken(capsys) -> None:
    plugins = manager(
        typo=module_plugin("typo", ebkit_energys=ebkit_energys),
        good=module_plugin("good", ebkit_energies=energies("fine")),
    )
    info = plugins.plugins["typo"]
    assert info.status == "broken"
    assert "unknown hook 'ebkit_energys'" in info.error
    lines = stderr_lines(capsys)
    assert len(lines) == 1 and "'typo'" in lines[0] and "ebkit_energys" in lines[0]
    assert [entry.name for entry in added(plugins, "energy")] == ["fine"]


def test_a_misspelled_hook_is_named_even_when_its_function_has_another_name() -> None:
    plugins = manager(typo=module_plugin("typo", ebkit_energys=energies("lost")))
    assert plugins.plugins["typo"].status == "broken"
    assert "ebkit_energys" in plugins.plugins["typo"].error


def test_strict_mode_raises_plugin_error() -> None:
    with pytest.raises(PluginError, match=r"plugin 'bad' failed: .*boom"):
        manager(
            {"EBKIT_STRICT_PLUGINS": "1"},
            bad=module_plugin("bad", ebkit_energies=raise_runtime_error),
        )
    with pytest.raises(PluginError, match="ebkit_energys"):
        manager({"EBKIT_STRICT_PLUGINS": "1"}, typo=module_plugin("t", ebkit_energys=ebkit_energys))
    with pytest.raises(PluginError, match=r"not ebkit\.Component"):
        manager({"EBKIT_STRICT_PLUGINS": "1"}, odd=module_plugin("o", ebkit_energies=lambda: [1]))


def test_strict_mode_off_with_zero(capsys) -> None:
    plugins = manager(
        {"EBKIT_STRICT_PLUGINS": "0"}, bad=module_plugin("bad", ebkit_energies=raise_runtime_error)
    )
    assert plugins.plugins["bad"].status == "broken"
    assert len(stderr_lines(capsys)) == 1


def test_the_suggested_disable_switch_silences_the_broken_plugin(capsys) -> None:
    bad = module_plugin("bad", ebkit_energies=raise_runtime_error)
    manager(bad=bad)
    (line,) = stderr_lines(capsys)
    switch = line.split("EBKIT_DISABLE_PLUGINS=")[1].rstrip(")")
    plugins = manager({"EBKIT_DISABLE_PLUGINS": switch}, bad=bad)
    assert stderr_lines(capsys) == []
    assert plugins.plugins["bad"].status == "disabled"


def test_a_duplicate_plugin_name_does_not_break_the_plugin_already_loaded(capsys) -> None:
    impostor = module_plugin("impostor", ebkit_energies=energies("x"))
    plugins = manager(**{"ebkit.samplers": impostor})
    assert plugins.plugins["ebkit.samplers"].status == "loaded"
    assert plugins.lookup("sampler", "generator").plugin == "ebkit.samplers"
    lines = stderr_lines(capsys)
    assert len(lines) == 1 and "another plugin named 'ebkit.samplers'" in lines[0]
    with pytest.raises(UsageError):
        plugins.lookup("energy", "x")


def test_the_name_ebkit_is_reserved_for_the_builtins(capsys) -> None:
    """``ebkit`` is the plugin part of the built-ins' qualified ids (``ebkit/mlp``): a
    plugin of that name could pass its components off as built-ins."""
    plugins = manager(ebkit=module_plugin("impostor", ebkit_energies=energies("x")))
    (line,) = stderr_lines(capsys)
    assert "the name 'ebkit' is reserved for ebkit's built-ins" in line
    assert "ebkit" not in plugins.plugins
    with pytest.raises(UsageError):
        plugins.lookup("energy", "ebkit/x")
    assert plugins.lookup("energy", "ebkit/mlp").plugin == "ebkit.energies"


# -- name resolution ---------------------------------------------------------------------


def test_a_short_name_offered_by_two_plugins_is_ambiguous() -> None:
    plugins = manager(
        a=module_plugin("a", ebkit_energies=energies("x")),
        b=module_plugin("b", ebkit_energies=energies("x", "y")),
    )
    with pytest.raises(UsageError) as caught:
        plugins.lookup("energy", "x")
    message = str(caught.value)
    assert "a/x" in message and "b/x" in message and "qualified" in message
    assert plugins.lookup("energy", "a/x").plugin == "a"
    assert plugins.lookup("energy", "b/x").plugin == "b"
    assert plugins.lookup("energy", "y").qualified_id == "b/y"
    assert [e.qualified_id for e in added(plugins, "energy")] == ["a/x", "b/x", "b/y"]


def test_an_unknown_name_suggests_a_close_match_and_lists_the_names() -> None:
    plugins = manager(p=module_plugin("p", ebkit_energies=energies("autoencoder", "ladder")))
    with pytest.raises(UsageError) as caught:
        plugins.lookup("energy", "autoencodr")
    message = str(caught.value)
    assert message.startswith("unknown energy 'autoencodr'")
    assert "did you mean 'autoencoder'" in message
    names = sorted({entry.name for entry in plugins.components("energy")})
    assert {"autoencoder", "ladder"} <= set(names)
    assert message.endswith(f"available: {', '.join(names)}")


def test_an_unknown_name_without_close_match_has_no_suggestion() -> None:
    plugins = manager(p=module_plugin("p", ebkit_energies=energies("autoencoder")))
    with pytest.raises(UsageError) as caught:
        plugins.lookup("energy", "zzz")
    assert "did you mean" not in str(caught.value)
    assert "available: autoencoder" in str(caught.value)
    losses = ", ".join(sorted({entry.name for entry in plugins.components("loss")})) or "none"
    with pytest.raises(UsageError) as caught:
        plugins.lookup("loss", "margin")
    assert str(caught.value).endswith(f"available: {losses}")


def test_an_unknown_qualified_id_is_an_error() -> None:
    plugins = manager(p=module_plugin("p", ebkit_energies=energies("x")))
    with pytest.raises(UsageError, match=r"unknown energy 'q/x'"):
        plugins.lookup("energy", "q/x")


def test_an_unknown_kind_is_an_error() -> None:
    with pytest.raises(UsageError, match=r"unknown component kind 'energies'"):
        manager().lookup("energies", "x")


# -- environment switches ------------------------------------------------------------------


def test_allow_list_loads_only_the_named_plugins() -> None:
    plugins = manager(
        {"EBKIT_LOAD_PLUGINS": " a , "},
        a=module_plugin("a", ebkit_energies=energies("ea")),
        b=module_plugin("b", ebkit_energies=energies("eb")),
    )
    assert plugins.plugins["a"].status == "loaded"
    assert plugins.plugins["b"].status == "disabled"
    assert plugins.plugins["ebkit.samplers"].status == "loaded"
    assert [entry.name for entry in added(plugins, "energy")] == ["ea"]
    with pytest.raises(UsageError):
        plugins.lookup("energy", "eb")


def test_an_empty_allow_list_loads_only_the_builtins() -> None:
    plugins = manager(
        {"EBKIT_LOAD_PLUGINS": ""}, a=module_plugin("a", ebkit_energies=energies("e"))
    )
    assert plugins.plugins["a"].status == "disabled"
    assert added(plugins, "energy") == []
    assert plugins.lookup("sampler", "generator").plugin == "ebkit.samplers"


def test_deny_list_disables_the_named_plugins() -> None:
    plugins = manager(
        {"EBKIT_DISABLE_PLUGINS": "b,c"},
        a=module_plugin("a", ebkit_energies=energies("ea")),
        b=module_plugin("b", ebkit_energies=energies("eb")),
    )
    assert plugins.plugins["a"].status == "loaded"
    assert plugins.plugins["b"].status == "disabled"
    assert plugins.plugins["b"].components == {}
    assert [entry.name for entry in added(plugins, "energy")] == ["ea"]


def test_a_builtin_family_can_be_disabled_alone() -> None:
    plugins = manager({"EBKIT_DISABLE_PLUGINS": "ebkit.samplers"})
    assert plugins.plugins["ebkit.samplers"].status == "disabled"
    assert plugins.components("sampler") == []
    with pytest.raises(UsageError, match="unknown sampler 'langevin'"):
        plugins.lookup("sampler", "langevin")
    assert plugins.lookup("energy", "mlp").plugin == "ebkit.energies"
    assert plugins.lookup("loss", "cd").plugin == "ebkit.losses"
    assert plugins.lookup("dataset", "digits").plugin == "ebkit.datasets"


def test_an_allow_list_that_names_builtin_families_loads_only_those() -> None:
    plugins = manager(
        {"EBKIT_LOAD_PLUGINS": "ebkit.losses,a"},
        a=module_plugin("a", ebkit_energies=energies("ea")),
        b=module_plugin("b", ebkit_energies=energies("eb")),
    )
    loaded = {name for name, info in plugins.plugins.items() if info.status == "loaded"}
    assert loaded == {"ebkit.losses", "a"}
    assert [entry.name for entry in plugins.components("energy")] == ["ea"]
    assert plugins.lookup("loss", "ebkit/cd").plugin == "ebkit.losses"


def test_an_allow_list_of_third_party_plugins_keeps_every_builtin_family() -> None:
    plugins = manager(
        {"EBKIT_LOAD_PLUGINS": "a"}, a=module_plugin("a", ebkit_energies=energies("ea"))
    )
    builtin = {name for name, info in plugins.plugins.items() if info.source == "builtin"}
    assert builtin == {
        *("ebkit.energies", "ebkit.samplers", "ebkit.losses", "ebkit.datasets", "ebkit.loggers")
    }
    assert all(plugins.plugins[name].status == "loaded" for name in builtin)


def test_a_builtin_family_that_fails_to_import_is_skipped_alone(capsys, monkeypatch) -> None:
    from ebkit.plugin.manager import BUILTIN_FAMILIES

    families = {**BUILTIN_FAMILIES, "ebkit.losses": "ebkit.builtins.losses.missing"}
    monkeypatch.setattr("ebkit.plugin.manager.BUILTIN_FAMILIES", families)
    plugins = manager()
    (line,) = stderr_lines(capsys)
    assert "'ebkit.losses'" in line and "EBKIT_DISABLE_PLUGINS=ebkit.losses" in line
    assert plugins.plugins["ebkit.losses"].status == "broken"
    assert plugins.components("loss") == []
    assert plugins.lookup("sampler", "langevin").plugin == "ebkit.samplers"


@pytest.mark.parametrize("run", ["8gaussians-langevin", "digits-conditional"])
def test_ids_saved_before_the_families_split_resolve_to_the_family_plugins(run) -> None:
    """Saved runs record built-ins as ``ebkit/NAME`` (config.json of a run written before
    the built-ins became four plugins): each id still names one component."""
    import json

    config = json.loads(
        (Path(__file__).parents[1] / "fixtures" / "saved_runs" / run / "config.json").read_text()
    )
    plugins = manager()
    sections = {
        "energy": ("energy", "ebkit.energies"),
        "sampler": ("sampler", "ebkit.samplers"),
        "loss": ("loss", "ebkit.losses"),
        "data": ("dataset", "ebkit.datasets"),
    }
    for section, (kind, family) in sections.items():
        saved_id = config[section]["id"]
        entry = plugins.lookup(kind, saved_id)
        assert saved_id.startswith("ebkit/") and entry.qualified_id == saved_id
        assert entry.plugin == family
        assert plugins.plugins[entry.plugin].source == "builtin"


@pytest.mark.integration("ebkit-autoencoder", "ebkit-losses", "ebkit-pt", "ebkit-ladder")
def test_environment_switches_apply_to_installed_entry_point_plugins() -> None:
    everything = PluginManager(environ={})
    for name in ("ebkit-autoencoder", "ebkit-losses", "ebkit-pt", "ebkit-ladder"):
        assert everything.plugins[name].status == "loaded"
        assert everything.plugins[name].source == "entry point"
    assert everything.lookup("regularizer", "pt").plugin == "ebkit-pt"

    denied = PluginManager(environ={"EBKIT_DISABLE_PLUGINS": "ebkit-pt"})
    assert denied.plugins["ebkit-pt"].status == "disabled"
    with pytest.raises(UsageError, match="unknown regularizer 'pt'"):
        denied.lookup("regularizer", "pt")
    assert denied.lookup("loss", "margin").plugin == "ebkit-losses"

    allowed = PluginManager(environ={"EBKIT_LOAD_PLUGINS": "ebkit-losses"})
    assert allowed.plugins["ebkit-losses"].status == "loaded"
    assert allowed.plugins["ebkit-autoencoder"].status == "disabled"
    assert allowed.lookup("loss", "margin").plugin == "ebkit-losses"
    assert added(allowed, "energy") == []


# -- real distributions with entry points ---------------------------------------------------------

GOOD_PLUGIN = '''
"""A working test plugin whose energy factory is a plain callable."""
from ebkit import Component, Option, hookimpl


def make_energy(spec, *, scale=1.0):
    import torch

    from ebkit import EnergyFunction, EnergyOutput

    class Quadratic(EnergyFunction):
        def __init__(self):
            super().__init__(spec)
            self.scale = torch.nn.Parameter(torch.tensor(float(scale)))

        def forward(self, x):
            return EnergyOutput(energy=self.scale * x.flatten(1).pow(2).sum(1))

    return Quadratic()


@hookimpl
def ebkit_energies():
    return [
        Component(
            name="tmp-quadratic",
            summary="a quadratic energy from a test distribution",
            factory=make_energy,
            options=(Option("scale", float, 1.0, "scale of the quadratic"),),
        )
    ]
'''

BROKEN_PLUGIN = """
raise ImportError("ebkit_tmp_broken needs the frobnicator package")
"""


@pytest.fixture
def distributions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Write packages with ``*.dist-info`` metadata on a temporary sys.path entry."""
    created: list[str] = []

    def make(
        dist: str,
        modules: dict[str, str],
        entry_points: dict[str, str],
        requires: tuple[str, ...] = (),
    ) -> None:
        for module, source in modules.items():
            (tmp_path / f"{module}.py").write_text(textwrap.dedent(source))
            created.append(module)
        info = tmp_path / f"{dist}-1.2.3.dist-info"
        info.mkdir()
        requires_dist = "".join(f"Requires-Dist: {line}\n" for line in requires)
        (info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.2.3\n{requires_dist}"
        )
        lines = "".join(f"{name} = {target}\n" for name, target in entry_points.items())
        (info / "entry_points.txt").write_text(f"[ebkit]\n{lines}")

    monkeypatch.syspath_prepend(str(tmp_path))
    yield make
    for module in created:
        sys.modules.pop(module, None)


def test_entry_point_plugin_that_fails_to_import_is_reported_broken(distributions, capsys) -> None:
    distributions(
        "ebkit_tmp_broken", {"ebkit_tmp_broken": BROKEN_PLUGIN}, {"broken": "ebkit_tmp_broken"}
    )
    plugins = PluginManager(environ={})
    info = plugins.plugins["ebkit-tmp-broken"]
    assert info.status == "broken"
    assert info.source == "entry point"
    assert info.version == "1.2.3"
    assert "import failed" in info.error and "frobnicator" in info.error
    lines = stderr_lines(capsys)
    assert len(lines) == 1
    assert "'ebkit-tmp-broken'" in lines[0]
    assert "EBKIT_DISABLE_PLUGINS=ebkit-tmp-broken" in lines[0]
    # The rest keeps working.
    assert plugins.lookup("loss", "gan").component.name == "gan"


def test_entry_point_plugin_that_fails_to_import_raises_in_strict_mode(distributions) -> None:
    distributions(
        "ebkit_tmp_broken", {"ebkit_tmp_broken": BROKEN_PLUGIN}, {"broken": "ebkit_tmp_broken"}
    )
    with pytest.raises(PluginError, match=r"ebkit-tmp-broken.*frobnicator"):
        PluginManager(environ={"EBKIT_STRICT_PLUGINS": "1"})


def test_entry_point_plugin_that_fails_is_not_imported_when_disabled(distributions, capsys) -> None:
    distributions(
        "ebkit_tmp_broken", {"ebkit_tmp_broken": BROKEN_PLUGIN}, {"broken": "ebkit_tmp_broken"}
    )
    plugins = PluginManager(environ={"EBKIT_DISABLE_PLUGINS": "ebkit-tmp-broken"})
    assert plugins.plugins["ebkit-tmp-broken"].status == "disabled"
    assert stderr_lines(capsys) == []


def test_working_entry_point_plugin_is_loaded_under_its_distribution_name(
    distributions, capsys
) -> None:
    distributions("ebkit_tmp_good", {"ebkit_tmp_good": GOOD_PLUGIN}, {"good": "ebkit_tmp_good"})
    plugins = PluginManager(environ={})
    info = plugins.plugins["ebkit-tmp-good"]
    assert (info.status, info.source, info.version) == ("loaded", "entry point", "1.2.3")
    assert info.components == {"energy": ["tmp-quadratic"]}
    entry = plugins.lookup("energy", "tmp-quadratic")
    assert entry.qualified_id == "ebkit-tmp-good/tmp-quadratic"
    assert plugins.lookup("energy", "ebkit-tmp-good/tmp-quadratic") == entry

    import torch

    from ebkit import DataSpec, EnergyFunction

    options = entry.component.resolve_options({"scale": "2"}, prefix="energy")
    built = entry.component.load_factory()(DataSpec((2,)), **options)
    assert isinstance(built, EnergyFunction)
    assert built(torch.ones(3, 2)).energy.tolist() == [4.0, 4.0, 4.0]
    assert stderr_lines(capsys) == []


def test_broken_and_working_distributions_side_by_side(distributions, capsys) -> None:
    distributions("ebkit_tmp_good", {"ebkit_tmp_good": GOOD_PLUGIN}, {"good": "ebkit_tmp_good"})
    distributions(
        "ebkit_tmp_broken", {"ebkit_tmp_broken": BROKEN_PLUGIN}, {"broken": "ebkit_tmp_broken"}
    )
    plugins = PluginManager(environ={})
    assert plugins.plugins["ebkit-tmp-good"].status == "loaded"
    assert plugins.plugins["ebkit-tmp-broken"].status == "broken"
    assert plugins.lookup("energy", "tmp-quadratic").plugin == "ebkit-tmp-good"
    assert len(stderr_lines(capsys)) == 1


def test_a_distribution_with_two_entry_points_keeps_working(distributions, capsys) -> None:
    second = GOOD_PLUGIN.replace("tmp-quadratic", "tmp-quadratic-two")
    distributions(
        "ebkit_tmp_pair",
        {"ebkit_tmp_pair_one": GOOD_PLUGIN, "ebkit_tmp_pair_two": second},
        {"one": "ebkit_tmp_pair_one", "two": "ebkit_tmp_pair_two"},
    )
    plugins = PluginManager(environ={})
    assert plugins.plugins["ebkit-tmp-pair"].status == "loaded"
    assert plugins.lookup("energy", "tmp-quadratic").plugin == "ebkit-tmp-pair"
    assert plugins.lookup("energy", "tmp-quadratic-two").plugin == "ebkit-tmp-pair"
    assert plugins.plugins["ebkit-tmp-pair"].components == {
        "energy": ["tmp-quadratic", "tmp-quadratic-two"]
    }
    assert stderr_lines(capsys) == []


# -- compatibility --------------------------------------------------------------------------

EXPLODES_IF_IMPORTED = """
raise RuntimeError("an incompatible plugin must not be imported")
"""


def test_a_distribution_requiring_another_ebkit_is_incompatible_and_not_imported(
    distributions, capsys
) -> None:
    distributions(
        "ebkit_tmp_future",
        {"ebkit_tmp_future": EXPLODES_IF_IMPORTED},
        {"future": "ebkit_tmp_future"},
        requires=("ebkit>=99,<100", "numpy>=1"),
    )
    plugins = PluginManager(environ={})
    info = plugins.plugins["ebkit-tmp-future"]
    assert (info.status, info.source, info.version) == ("incompatible", "entry point", "1.2.3")
    assert info.requires_ebkit == ">=99,<100"
    assert info.error == f"it requires ebkit>=99,<100, but this is ebkit {running_version()}"
    assert info.components == {}
    (line,) = stderr_lines(capsys)
    assert line == (
        "ebkit: skipped plugin 'ebkit-tmp-future': incompatible: it requires ebkit>=99,<100, "
        f"but this is ebkit {running_version()} (update it with `ebkit install -U "
        "ebkit-tmp-future` or disable it with EBKIT_DISABLE_PLUGINS=ebkit-tmp-future)"
    )
    assert "ebkit_tmp_future" not in sys.modules
    assert plugins.lookup("loss", "gan").component.name == "gan"


def test_an_incompatible_plugin_is_an_error_in_strict_mode(distributions) -> None:
    distributions(
        "ebkit_tmp_future",
        {"ebkit_tmp_future": EXPLODES_IF_IMPORTED},
        {"future": "ebkit_tmp_future"},
        requires=("ebkit<0.0.1",),
    )
    with pytest.raises(PluginError, match=r"'ebkit-tmp-future' is incompatible: .*ebkit<0\.0\.1"):
        PluginManager(environ={"EBKIT_STRICT_PLUGINS": "1"})


def test_a_disabled_incompatible_plugin_is_only_disabled(distributions, capsys) -> None:
    distributions(
        "ebkit_tmp_future",
        {"ebkit_tmp_future": EXPLODES_IF_IMPORTED},
        {"future": "ebkit_tmp_future"},
        requires=("ebkit>=99",),
    )
    plugins = PluginManager(environ={"EBKIT_DISABLE_PLUGINS": "ebkit-tmp-future"})
    assert plugins.plugins["ebkit-tmp-future"].status == "disabled"
    assert stderr_lines(capsys) == []


@pytest.mark.parametrize(
    "requires",
    [
        ("ebkit>=0.1,<100",),
        ("ebkit",),  # no range: any ebkit
        ('ebkit>=99; extra == "future"', "ebkit>=0"),  # the extra is not installed
        ("ebkit-losses>=99", "ebkit_pt<0.0.1"),  # other distributions, not ebkit
        ("ebkit (>=0.1)",),
    ],
)
def test_a_distribution_whose_range_includes_this_ebkit_loads(
    distributions, capsys, requires
) -> None:
    distributions(
        "ebkit_tmp_good",
        {"ebkit_tmp_good": GOOD_PLUGIN},
        {"good": "ebkit_tmp_good"},
        requires=requires,
    )
    info = PluginManager(environ={}).plugins["ebkit-tmp-good"]
    assert info.status == "loaded", info.error
    assert stderr_lines(capsys) == []


def test_the_declared_range_is_reported_for_loaded_plugins(distributions) -> None:
    distributions(
        "ebkit_tmp_good",
        {"ebkit_tmp_good": GOOD_PLUGIN},
        {"good": "ebkit_tmp_good"},
        requires=("ebkit<100,>=0.1",),
    )
    info = PluginManager(environ={}).plugins["ebkit-tmp-good"]
    assert info.as_json()["requires_ebkit"] == ">=0.1,<100"


def test_declared_ebkit_range_combines_lines_and_ignores_others() -> None:
    assert declared_ebkit_range(["numpy>=1", "ebkit-pt>=2"]) is None
    assert declared_ebkit_range(['ebkit>=5; extra == "docs"']) is None
    supported = declared_ebkit_range(["Ebkit>=0.1", "torch", "ebkit<0.3", "ebkit !!! broken"])
    assert format_range(supported) == ">=0.1,<0.3"
    assert supported_by(supported, "0.2.5")
    assert supported_by(supported, "0.2.9.dev1")  # development versions count
    assert not supported_by(supported, "0.3.0.dev1")  # PEP 440: <0.3 excludes 0.3's pre-releases
    assert not supported_by(supported, "0.3.0")
    assert not supported_by(supported, "0.0.9")


def test_plugin_distributions_reads_metadata_only(distributions) -> None:
    distributions(
        "Ebkit_Tmp.Future",
        {"ebkit_tmp_future": EXPLODES_IF_IMPORTED},
        {"b": "ebkit_tmp_future", "a": "ebkit_tmp_future"},
        requires=("ebkit>=99",),
    )
    found = plugin_distributions()["ebkit-tmp-future"]
    assert found.version == "1.2.3"
    assert found.requires == ["ebkit>=99"]
    assert [entry_point.name for entry_point in found.entry_points] == ["a", "b"]
    assert "ebkit_tmp_future" not in sys.modules


def test_a_hook_module_written_for_another_hook_version_is_incompatible(capsys) -> None:
    plugin = module_plugin("later", ebkit_energies=energies("e-later"))
    plugin.EBKIT_HOOK_VERSION = HOOK_VERSION + 1
    plugins = manager(later=plugin)
    info = plugins.plugins["later"]
    assert info.status == "incompatible"
    assert f"written for hook version {HOOK_VERSION + 1}" in info.error
    assert f"has hook version {HOOK_VERSION}" in info.error
    assert added(plugins, "energy") == []
    (line,) = stderr_lines(capsys)
    assert "'later'" in line and "EBKIT_DISABLE_PLUGINS=later" in line


@pytest.mark.parametrize("declared", [HOOK_VERSION, (HOOK_VERSION, HOOK_VERSION + 1)])
def test_a_hook_module_declaring_this_hook_version_loads(capsys, declared) -> None:
    plugin = module_plugin("current", ebkit_energies=energies("e-current"))
    plugin.EBKIT_HOOK_VERSION = declared
    plugins = manager(current=plugin)
    assert plugins.plugins["current"].status == "loaded"
    assert plugins.lookup("energy", "e-current").plugin == "current"
    assert stderr_lines(capsys) == []


@pytest.mark.parametrize("declared", ["1", 1.0, (), True])
def test_an_invalid_hook_version_declaration_is_broken(capsys, declared) -> None:
    plugin = module_plugin("odd", ebkit_energies=energies("e-odd"))
    plugin.EBKIT_HOOK_VERSION = declared
    info = manager(odd=plugin).plugins["odd"]
    assert info.status == "broken" and "EBKIT_HOOK_VERSION" in info.error


# -- ebkit_commands ---------------------------------------------------------------------------


def add_hello(cli: click.Group) -> None:
    @cli.command()
    @click.argument("who", default="world")
    def hello(who: str) -> None:
        """Say hello."""
        click.echo(f"hello {who} from a plugin")


def broken_commands(cli: click.Group) -> None:
    raise RuntimeError("cannot add commands")


def test_ebkit_commands_adds_a_command_to_the_script(ebkit_plugins, monkeypatch, capsys) -> None:
    monkeypatch.setattr(cli, "commands", dict(cli.commands))  # keep the global group clean
    ebkit_plugins({"greeter": module_plugin("greeter", ebkit_commands=add_hello)})
    with pytest.raises(SystemExit) as exited:
        main(["hello", "tester"])
    assert exited.value.code in (0, None)
    assert "hello tester from a plugin" in capsys.readouterr().out


def test_a_failing_ebkit_commands_hook_is_skipped(ebkit_plugins, monkeypatch, capsys) -> None:
    monkeypatch.setattr(cli, "commands", dict(cli.commands))
    plugins = ebkit_plugins(
        {
            "noisy": module_plugin(
                "noisy", ebkit_commands=broken_commands, ebkit_energies=energies("e")
            )
        }
    )
    with pytest.raises(SystemExit) as exited:
        main(["components", "--json"])
    assert exited.value.code in (0, None)
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if line.strip()]
    assert len(lines) == 1 and "'noisy'" in lines[0] and "cannot add commands" in lines[0]
    assert plugins.plugins["noisy"].status == "broken"
    assert '"name": "generator"' in captured.out


def test_ebkit_cli_runs_a_command_added_by_a_plugin(ebkit_plugins, ebkit_cli, monkeypatch) -> None:
    monkeypatch.setattr(cli, "commands", dict(cli.commands))
    ebkit_plugins({"greeter": module_plugin("greeter", ebkit_commands=add_hello)})
    result = ebkit_cli("hello", "fixture")
    assert result.exit_code == 0, result.output
    assert "hello fixture from a plugin" in result.output


def test_option_records_from_plugins_are_kept() -> None:
    record = energy("opts", options=(Option("width", int, 4, "width"),))
    plugins = manager(p=module_plugin("p", ebkit_energies=lambda: [record]))
    assert plugins.lookup("energy", "opts").component is record
