"""Tests for plugins installed as distributions with entry points: loading under the
distribution's name, import failures, and compatibility with this ebkit."""

from __future__ import annotations

import sys

import pytest
from plugin_doubles import (
    added,
    energies,
    manager,
    stderr_lines,
)

from ebkit import PluginError
from ebkit.plugin.compat import (
    declared_ebkit_range,
    format_range,
    plugin_distributions,
    running_version,
    supported_by,
)
from ebkit.plugin.hookspecs import HOOK_VERSION
from ebkit.plugin.manager import PluginManager, module_plugin

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
