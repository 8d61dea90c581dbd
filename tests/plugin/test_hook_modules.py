"""No hook module imports torch: ``ebkit --help``, ``ebkit plugins`` and ``ebkit components``
import every hook module and must answer in a fraction of a second, so the components'
classes (and torch with them) load only when a component is built.

One test over the built-in families' hook modules and those of the first-party plugins
that are installed (the plugins' own tests no longer repeat it)."""

from __future__ import annotations

import subprocess
import sys
from importlib import metadata

import pytest

from ebkit.plugin.manager import BUILTIN_FAMILIES

FIRST_PARTY_PLUGINS = (
    "ebkit-autoencoder",
    "ebkit-estimation",
    "ebkit-hmc",
    "ebkit-ladder",
    "ebkit-lecun",
    "ebkit-losses",
    "ebkit-pt",
    "ebkit-rae",
)


def first_party_hook_modules() -> list[str]:
    """The hook modules that the installed first-party plugins declare as entry points."""
    return sorted(
        entry_point.module
        for entry_point in metadata.entry_points(group="ebkit")
        if entry_point.dist is not None
        and entry_point.dist.name.lower().replace("_", "-") in FIRST_PARTY_PLUGINS
    )


@pytest.mark.parametrize("module", [*BUILTIN_FAMILIES.values(), *first_party_hook_modules()])
def test_the_hook_module_imports_no_torch(module: str) -> None:
    code = f"import importlib, sys; importlib.import_module({module!r})\n"
    code += "sys.exit('torch' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr or f"importing {module} imports torch"


@pytest.mark.integration(*FIRST_PARTY_PLUGINS)
def test_every_first_party_plugin_is_checked() -> None:
    assert len(first_party_hook_modules()) == len(FIRST_PARTY_PLUGINS)
