"""Testing kit for plugin authors: pytest fixtures and conformance checks.

Installed as a pytest plugin (entry point ``pytest11``), so in any test suite of a
project that has ebkit installed the fixtures of :mod:`ebkit.testing.fixtures`
(``ebkit_plugins``, ``ebkit_cli``) are available, and the checks of
:mod:`ebkit.testing.conformance`, :mod:`ebkit.testing.conditional` and
:mod:`ebkit.testing.datasets` can be imported from here::

    from ebkit.testing import check_energy

:class:`IsolatedVenv` (a virtual environment for tests that install distributions) loads
on first use, so the pytest plugin stays light.
"""

from typing import Any

from ebkit.testing.conditional import check_conditional_energy, check_conditional_sampler
from ebkit.testing.conformance import (
    check_energy,
    check_loss,
    check_option_round_trip,
    check_regularizer,
    check_sampler,
)
from ebkit.testing.datasets import check_dataset
from ebkit.testing.fixtures import ebkit_cli, ebkit_plugins

__all__ = [
    "IsolatedVenv",
    "check_conditional_energy",
    "check_conditional_sampler",
    "check_dataset",
    "check_energy",
    "check_loss",
    "check_option_round_trip",
    "check_regularizer",
    "check_sampler",
    "ebkit_cli",
    "ebkit_plugins",
    "explain",
]


def __getattr__(name: str) -> Any:
    if name in ("IsolatedVenv", "explain", "clean_environment"):
        from ebkit.testing import venv

        return getattr(venv, name)
    raise AttributeError(f"module 'ebkit.testing' has no attribute {name!r}")
