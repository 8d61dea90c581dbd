"""Tests for the plugin manager in ebkit.plugin.manager: the built-ins, plugins' components,
isolation of broken plugins, name resolution and commands added by plugins."""

from __future__ import annotations

import click
import pytest
from plugin_doubles import (
    TOY_DATASETS,
    added,
    energies,
    energy,
    energy_factory,
    manager,
    raise_runtime_error,
    stderr_lines,
)

from ebkit import Component, Option, PluginError, UsageError
from ebkit.cli.main import cli, main
from ebkit.plugin.manager import module_plugin

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
