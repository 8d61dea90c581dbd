"""Tests for the built-ins' registration: each family's hook module declares exactly the
keyword parameters of the classes it registers (so the options cannot drift from the
code that reads them), with the same defaults, and stays free of heavy imports."""

from __future__ import annotations

import ast
import importlib
import inspect
from pathlib import Path
from typing import Any

import pytest

from ebkit.builtins.samplers.generator import GeneratorSampler
from ebkit.builtins.samplers.generator_langevin import GENERATOR_PREFIX
from ebkit.builtins.samplers.langevin import LANGEVIN_OPTION_NAMES, LangevinSampler
from ebkit.plugin.components import ALL_KINDS
from ebkit.plugin.manager import BUILTIN_FAMILIES, BUILTIN_NAMESPACE, ComponentEntry, PluginManager

BUILTINS = PluginManager(load_entry_points=False, environ={})
ENTRIES = [
    entry
    for kind in ALL_KINDS
    for entry in BUILTINS.components(kind)
    if entry.namespace == BUILTIN_NAMESPACE
]


def keyword_parameters(factory: Any, *, positional: int = 1) -> dict[str, inspect.Parameter]:
    """The parameters a factory takes by keyword after its ``positional`` first ones
    (``spec``, or a dataset's ``path``; loggers take options only)."""
    parameters = list(inspect.signature(factory).parameters.values())[positional:]
    keywords = (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return {parameter.name: parameter for parameter in parameters if parameter.kind in keywords}


def takes_more_keywords(factory: Any) -> bool:
    return any(
        parameter.kind is inspect.Parameter.VAR_KEYWORD
        for parameter in inspect.signature(factory).parameters.values()
    )


def generator_langevin_keywords() -> dict[str, inspect.Parameter]:
    """The generator's keywords (prefixed where Langevin uses the name) and Langevin's but
    ``init``: what ``GeneratorLangevinSampler`` passes on to the two halves."""
    generator = {
        (GENERATOR_PREFIX + name if name in LANGEVIN_OPTION_NAMES else name): parameter
        for name, parameter in keyword_parameters(GeneratorSampler).items()
    }
    langevin = keyword_parameters(LangevinSampler)
    del langevin["init"]
    return {**generator, **langevin}


FORWARDED = {
    # replay: its own keywords, the rest go to the LangevinSampler that moves its chains.
    "replay": lambda: keyword_parameters(LangevinSampler),
    "generator-langevin": generator_langevin_keywords,
}
"""The keywords that factories taking ``**options`` pass on, by component name."""


def accepted_keywords(entry: ComponentEntry) -> dict[str, inspect.Parameter]:
    factory = entry.component.load_factory()
    accepted = keyword_parameters(factory, positional=0 if entry.kind == "logger" else 1)
    if takes_more_keywords(factory):
        assert entry.name in FORWARDED, f"{entry.qualified_id}: where do its **options go?"
        accepted = {**FORWARDED[entry.name](), **accepted}
    return accepted


def comparable(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def test_every_family_registers_components() -> None:
    assert {entry.plugin for entry in ENTRIES} == set(BUILTIN_FAMILIES)
    assert len(ENTRIES) >= 20


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda entry: f"{entry.kind}-{entry.name}")
def test_options_are_the_factorys_keyword_parameters(entry: ComponentEntry) -> None:
    accepted = accepted_keywords(entry)
    declared = {option.name: option for option in entry.component.options}
    assert sorted(declared) == sorted(accepted), entry.qualified_id
    for name, option in declared.items():
        default = accepted[name].default
        if default is not inspect.Parameter.empty:
            assert comparable(option.default) == comparable(default), f"{entry.qualified_id}.{name}"


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda entry: f"{entry.kind}-{entry.name}")
def test_the_factory_lives_in_the_family_that_registers_it(entry: ComponentEntry) -> None:
    """Registration sits next to the classes: a family's records name classes of its own
    package."""
    module = str(entry.component.factory).split(":")[0]
    package = BUILTIN_FAMILIES[entry.plugin].rsplit(".", 1)[0]
    assert module.startswith(package + ".")


ALLOWED_IMPORTS = ("__future__", "dataclasses", "ebkit.plugin.components", "ebkit.plugin.hookspecs")


@pytest.mark.parametrize("plugin", sorted(BUILTIN_FAMILIES))
def test_hook_modules_import_only_the_plugin_api(plugin: str) -> None:
    """Listing components imports every hook module: they must not pull in torch, numpy or
    the classes they register (which do)."""
    module = importlib.import_module(BUILTIN_FAMILIES[plugin])
    tree = ast.parse(Path(module.__file__).read_text())
    imported = [
        node.module if isinstance(node, ast.ImportFrom) else alias.name
        for node in ast.walk(tree)
        if isinstance(node, (ast.Import, ast.ImportFrom))
        for alias in node.names
    ]
    assert imported and all(name in ALLOWED_IMPORTS for name in imported), imported
