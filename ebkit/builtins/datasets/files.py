"""Helpers shared by the datasets that read files from ``--data-path``.

Every problem with such input (no path, missing files, a wrong magic number, a truncated
or corrupt file, mismatched counts, an empty folder, a missing array) is a
:class:`ebkit.core.errors.UsageError`: one line naming the file, exit code 2. These are files
the user pointed ``--data-path`` at, so they are treated as a mistake in the request
rather than as a failure of ebkit (exit code 1 is kept for ebkit's own data, such as the
embedded digits). Each dataset holds its samples once, as one float32 tensor filled piece
by piece, and serves them through :class:`ebkit.core.data.TensorDataset`.
"""

from __future__ import annotations

from torch import Tensor


def one_line(message: object) -> str:
    """Collapse whitespace so that a library's multi-line message stays on one line."""
    return " ".join(str(message).split())


def to_unit_range_(x: Tensor) -> Tensor:
    """Map byte values 0..255 held in a float tensor onto [-1, 1], in place."""
    return x.div_(127.5).sub_(1.0)
