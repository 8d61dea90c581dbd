"""Fixtures of the command-line tests."""

from __future__ import annotations

import pytest


@pytest.fixture
def run_cli(ebkit_plugins, ebkit_cli, feature_penalty_plugin):
    """``ebkit_cli`` against the built-ins and a test regularizer, ``feature-penalty``."""
    ebkit_plugins({"ebkit-tests": feature_penalty_plugin})
    return ebkit_cli


@pytest.fixture
def installed_cli(ebkit_plugins, ebkit_cli):
    """``ebkit_cli`` against the installed plugins (entry points loaded)."""
    ebkit_plugins(entry_points=True)
    return ebkit_cli
