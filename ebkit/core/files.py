"""Writing files so that a crash, a power loss or a full disk never leaves a damaged one.

Every file is written to a temporary name in its folder, flushed to the disk
(``fsync``), renamed into place, and then the folder itself is flushed, so after a
power loss the name points either at the old content or at the complete new one. A
full disk is one clear line (:class:`DiskFullError`) and leaves the earlier files as
they were.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from ebkit.core.errors import EbkitError

_DISK_FULL_ERRNOS = frozenset(
    {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC), getattr(errno, "EFBIG", errno.ENOSPC)}
)
# Writers in other languages (safetensors is Rust) report the same failure as text.
_DISK_FULL_TEXTS = ("No space left on device", "StorageFull", "Disk quota exceeded")
_HASH_CHUNK_BYTES = 1 << 20


class DiskFullError(EbkitError):
    """The disk (or the user's quota) is full; what was written before is intact."""

    def __init__(self, path: Path) -> None:
        super().__init__(
            f"the disk is full: no space left to write {path}; the files written before are "
            "intact (free some space, then run the command again)"
        )


def is_disk_full(error: BaseException) -> bool:
    """Whether ``error`` says the disk or the quota is full."""
    if isinstance(error, OSError) and error.errno in _DISK_FULL_ERRNOS:
        return True
    return any(text in str(error) for text in _DISK_FULL_TEXTS)


@contextlib.contextmanager
def disk_full_is_one_line(path: Path) -> Iterator[None]:
    """Turn a full disk while writing ``path`` into :class:`DiskFullError`."""
    try:
        yield
    except Exception as error:
        if is_disk_full(error):
            raise DiskFullError(path) from None
        raise


def fsync_file(path: Path) -> None:
    """Flush ``path``'s content to the disk."""
    handle = os.open(path, os.O_RDONLY)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)


def fsync_directory(path: Path) -> None:
    """Flush a folder's entries (a rename in it) to the disk; a no-op where folders
    cannot be opened (Windows)."""
    try:
        handle = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(handle)
    except OSError:
        pass  # some file systems cannot flush a folder; the rename is still atomic
    finally:
        os.close(handle)


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Call ``write(temporary_path)``, flush the result to the disk and rename it to
    ``path``; on any failure the temporary file is removed and ``path`` is untouched."""
    with disk_full_is_one_line(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(
            dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"
        )
        os.close(handle)
        try:
            write(Path(temporary))
            fsync_file(Path(temporary))
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        fsync_directory(path.parent)


def write_json(path: Path, payload: Any) -> None:
    """Write ``payload`` as JSON atomically; NaN and infinities are refused (they are not
    JSON), so no reader ever meets ``Infinity``."""
    text = json.dumps(payload, indent=2, allow_nan=False) + "\n"
    atomic_write(path, lambda tmp: tmp.write_text(text))


def append_line(path: Path, line: str) -> None:
    """Append one line (a full disk is :class:`DiskFullError`)."""
    with disk_full_is_one_line(path), path.open("a") as handle:
        handle.write(line + "\n")


def sha256_of(path: Path) -> str:
    """The SHA-256 of a file's bytes, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_HASH_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()
