"""The dataclass field of a ``train`` option (:mod:`ebkit.runs.settings`): its default and
what the :class:`ebkit.plugin.components.Option` built from it needs."""

from __future__ import annotations

from dataclasses import field
from typing import Any

__all__ = ["setting"]


def setting(
    default: Any,
    help: str,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    minimum_inclusive: bool = True,
    maximum_inclusive: bool = True,
    choices: tuple[str, ...] | None = None,
    flag: str | None = None,
) -> Any:
    """A dataclass field carrying what an :class:`Option` needs; ``flag`` names the
    ``ebkit train`` flag that sets it too (``--steps``), if any."""
    metadata = {
        "help": help,
        "minimum": minimum,
        "maximum": maximum,
        "minimum_inclusive": minimum_inclusive,
        "maximum_inclusive": maximum_inclusive,
        "choices": choices,
        "flag": flag,
    }
    return field(default=default, metadata=metadata)
