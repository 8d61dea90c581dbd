"""The run directory: creating it for a new run, reusing one that a run left before its
first checkpoint, reading its config, trimming its metrics, and the lock that keeps a
second process from writing into a run being trained.

The lock is ``RUN/.ebkit.lock``, held with an operating-system file lock (``flock`` on
POSIX, ``msvcrt.locking`` on Windows), which the system releases when the holding
process dies however it dies; a lock file left by a killed process is therefore taken
over at once. The file records the holder's process id and host for the message a
second writer sees.
"""

from __future__ import annotations

import json
import os
import socket
import sys
from pathlib import Path
from types import TracebackType
from typing import Any

from ebkit.core.errors import EbkitError, UsageError
from ebkit.core.files import atomic_write

LOCK_NAME = ".ebkit.lock"
# What a run stopped before its first checkpoint may leave behind: such a folder is
# reused by a new run instead of being refused.
_EARLY_RUN_FILES = frozenset({"config.json", "metrics.jsonl", "curves.png", LOCK_NAME})


class RunInUse(EbkitError):
    """Another process is training the run: exit code 75 (EX_TEMPFAIL, try again later)."""

    exit_code = 75


class RunLock:
    """The lock of a run directory, as a context manager: ``with RunLock(run_dir): ...``.

    Acquiring creates the directory if needed; a second holder gets :class:`RunInUse`.
    """

    def __init__(self, run_dir: str | Path) -> None:
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / LOCK_NAME
        self._handle: int | None = None

    def acquire(self) -> RunLock:
        while self._handle is None:
            try:
                self.run_dir.mkdir(parents=True, exist_ok=True)
                handle = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as error:
                raise EbkitError(
                    f"cannot write to --out {self.run_dir}: {error.strerror or error}"
                ) from None
            if not _try_lock(handle):
                holder = _read_holder(handle)
                os.close(handle)
                raise RunInUse(
                    f"{self.run_dir} is in use by another ebkit process{holder}; wait for it "
                    "to finish or stop it, then run the command again"
                )
            # Another process may have removed the file between our open and our lock
            # (releasing its own lock): then we locked a file no one else will see.
            try:
                same = os.path.samestat(os.fstat(handle), os.stat(self.path))
            except FileNotFoundError:
                same = False
            if not same:
                os.close(handle)
                continue
            record = json.dumps({"pid": os.getpid(), "host": socket.gethostname()})
            os.ftruncate(handle, 0)
            os.write(handle, record.encode())
            self._handle = handle
        return self

    def release(self) -> None:
        if self._handle is None:
            return
        # Removed while still locked, so no one locks the old file after we let go.
        self.path.unlink(missing_ok=True)
        os.close(self._handle)  # closing releases the system lock
        self._handle = None

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.release()


def _try_lock(handle: int) -> bool:
    """Lock ``handle`` without waiting; ``False`` if another process holds it."""
    if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
        import msvcrt

        try:
            msvcrt.locking(handle, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    import fcntl

    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    except OSError:
        # A file system without locks (some network mounts): judge by the recorded
        # process instead, which is alive only if it runs on this host.
        return not _holder_alive(handle)
    return True


def _holder_alive(handle: int) -> bool:
    holder = _holder(handle)
    if holder.get("host") != socket.gethostname() or not isinstance(holder.get("pid"), int):
        return False
    try:
        os.kill(holder["pid"], 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return holder["pid"] != os.getpid()


def _holder(handle: int) -> dict[str, Any]:
    try:
        os.lseek(handle, 0, os.SEEK_SET)
        record = json.loads(os.read(handle, 4096) or b"{}")
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def _read_holder(handle: int) -> str:
    holder = _holder(handle)
    if "pid" not in holder:
        return ""
    return f" (process {holder['pid']} on {holder.get('host', 'an unknown host')})"


def say(line: str) -> None:
    """One line of news for the user (skipped checkpoints, reused folders), on stderr."""
    print(line, file=sys.stderr, flush=True)


def check_new_run_dir(path: str | Path) -> Path:
    """Refuse ``--out`` for a new run unless it is missing, empty, or holds a run
    stopped before its first checkpoint; nothing is written."""
    run_dir = Path(path)
    if run_dir.exists() and not run_dir.is_dir():
        raise UsageError(f"--out {run_dir} exists and is not a directory")
    if not is_empty_run_dir(run_dir) and not is_early_run(run_dir):
        raise UsageError(
            f"--out {run_dir} already holds files; choose a new directory, or continue the run "
            "with --resume (nothing in it was changed)"
        )
    return run_dir


def is_empty_run_dir(run_dir: Path) -> bool:
    """Whether ``run_dir`` is missing or holds nothing but perhaps a lock file."""
    return not run_dir.is_dir() or all(entry.name == LOCK_NAME for entry in run_dir.iterdir())


def is_early_run(run_dir: Path) -> bool:
    """Whether ``run_dir`` holds only what a run stopped before its first checkpoint
    leaves (its config, metrics, pictures and an unfinished checkpoint write)."""
    if not run_dir.is_dir() or not (run_dir / "config.json").is_file():
        return False
    for entry in run_dir.iterdir():
        if entry.name == "samples" and entry.is_dir():
            if any(not item.name.endswith(".png") for item in entry.iterdir()):
                return False
        elif entry.name == "checkpoints" and entry.is_dir():
            if any(item.suffix == ".json" or item.is_dir() for item in entry.iterdir()):
                return False
        elif entry.name not in _EARLY_RUN_FILES:
            return False
    return True


def prepare_run_dir(path: str | Path) -> Path:
    """Create a new run directory; refuse one that already holds files, but empty one
    that holds only a run stopped before its first checkpoint (said in one line).
    Call it holding the directory's lock when another process might use it."""
    run_dir = check_new_run_dir(path)
    try:
        if run_dir.is_dir() and is_early_run(run_dir):
            say(f"{run_dir} held a run stopped before its first checkpoint; starting afresh in it")
            _clear_early_run(run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        probe = run_dir / ".ebkit-write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as error:
        raise EbkitError(f"cannot write to --out {run_dir}: {error.strerror or error}") from None
    return run_dir


def _clear_early_run(run_dir: Path) -> None:
    for entry in run_dir.iterdir():
        if entry.is_dir():
            for item in entry.iterdir():
                item.unlink()
            entry.rmdir()
        elif entry.name != LOCK_NAME:
            entry.unlink()


def read_run_config(run_dir: Path) -> dict[str, Any]:
    """The ``config.json`` of an existing run, as JSON."""
    path = Path(run_dir) / "config.json"
    if not path.is_file():
        raise UsageError(f"{run_dir} is not an ebkit run directory (no config.json)")
    try:
        return json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as error:
        raise EbkitError(f"{path} is not valid JSON ({error})") from None


def truncate_metrics(path: Path, step: int) -> list[dict[str, Any]]:
    """Drop metric records after ``step`` (logged after the checkpoint a run resumes
    from); return the records kept."""
    if not path.is_file():
        return []
    kept = []
    for line in path.read_text(errors="replace").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            break  # a line cut short by a kill: nothing after it was written either
        if not isinstance(record, dict) or record.get("step", 0) > step:
            break
        kept.append(record)
    atomic_write(path, lambda tmp: tmp.write_text("".join(json.dumps(r) + "\n" for r in kept)))
    return kept
