"""Example ebkit logger plugin: registers the ``csv`` logger.

ebkit imports this module to list components and to build ``ebkit --help``: it imports
nothing heavy, and the factory is a ``"module:Class"`` string resolved only when a run
asks for ``--logger csv``.
"""

from __future__ import annotations

from ebkit import Component, Option, hookimpl

EBKIT_HOOK_VERSION = 1
"""The version of ebkit's plugin hooks this module implements (see ebkit.HOOK_VERSION)."""


@hookimpl
def ebkit_loggers() -> list[Component]:
    return [
        Component(
            name="csv",
            summary="rows step,tag,value in RUN_DIR/log.csv: metrics, picture paths, mean energies",
            factory="ebkit_csv_logger.logger:CsvLogger",
            options=(Option("file", str, "log.csv", "the CSV file's name in the run directory"),),
        )
    ]
