"""The hook module: light to import, its option records matching the classes' keywords."""

from __future__ import annotations

import importlib
import inspect
import subprocess
import sys

import pytest

from ebkit_estimation import ebkit_losses

RECORDS = ebkit_losses()


def test_listing_the_plugin_does_not_import_torch() -> None:
    code = "import sys, ebkit_estimation; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_the_plugin_registers_its_three_losses() -> None:
    assert sorted(record.name for record in RECORDS) == ["dsm", "nce", "ssm"]


@pytest.mark.parametrize("record", RECORDS, ids=lambda record: record.name)
def test_options_are_the_class_keywords_with_the_same_defaults(record) -> None:
    module, name = record.factory.split(":")
    parameters = inspect.signature(getattr(importlib.import_module(module), name)).parameters
    keywords = {
        key: parameter.default
        for key, parameter in parameters.items()
        if parameter.kind is inspect.Parameter.KEYWORD_ONLY
    }
    assert set(keywords) == {option.name for option in record.options}
    for option in record.options:
        default = keywords[option.name]
        expected = list(default) if isinstance(default, tuple) else default
        assert expected == option.default, option.name
