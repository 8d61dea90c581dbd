"""Writing pictures: PNG files replaced atomically, and matplotlib figures without pyplot.

Every file is written atomically (a temporary file in the same directory, then
``os.replace``), so a reader never sees half a PNG, even if the run is killed mid-write.
Figures use matplotlib's object-oriented ``Figure`` API, imported when first needed:
that renders with Agg without ``matplotlib.use`` or pyplot, so it works headless and
never changes the backend (or leaks figures) of a notebook that calls it.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["DPI", "PathLike", "new_figure", "save_figure", "write_atomically"]

PathLike = str | os.PathLike[str]

DPI = 100
"""Dots per inch of every matplotlib picture: a figure of W×H inches is a 100·W×100·H PNG."""


def new_figure(size: tuple[float, float]) -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=size, dpi=DPI)


def save_figure(figure: Figure, path: PathLike) -> Path:
    return write_atomically(path, lambda target: figure.savefig(target, format="png", dpi=DPI))


def write_atomically(path: PathLike, write: Callable[[str], object]) -> Path:
    """Call ``write(temporary_path)``, then move the result onto ``path`` in one step.

    The temporary file sits in the target's directory (``os.replace`` is atomic only
    within one file system) and is removed if writing fails. The writer creates it, so
    the PNG gets the usual umask permissions (``mkstemp`` would make it owner-only).
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.parent / f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    try:
        write(str(temporary))
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return target
