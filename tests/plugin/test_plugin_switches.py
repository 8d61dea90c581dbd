"""Tests for the plugin manager's environment switches (EBKIT_LOAD_PLUGINS,
EBKIT_DISABLE_PLUGINS, EBKIT_STRICT_PLUGINS) and the built-in families."""

from __future__ import annotations

from pathlib import Path

import pytest
from plugin_doubles import (
    added,
    energies,
    manager,
    stderr_lines,
)

from ebkit import UsageError
from ebkit.plugin.manager import PluginManager, module_plugin

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
