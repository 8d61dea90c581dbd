"""Fixtures shared by the core's tests."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def one_torch_thread() -> Iterator[None]:
    """Tiny models train far faster on one thread, above all on a busy machine."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture
def kill_after_checkpoint() -> Callable[[Sequence[str], Path, int], None]:
    """A function that starts ``python -m ebkit ARGS`` for the run ``out``, waits for the
    checkpoint of ``step`` to be complete and SIGKILLs the process: the crash that
    ``--resume`` must survive."""

    def kill(args: Sequence[str], out: Path, step: int) -> None:
        process = subprocess.Popen(
            [sys.executable, "-m", "ebkit", *args, "--out", str(out)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        sidecar = out / "checkpoints" / f"step-{step:07d}.json"
        deadline = time.monotonic() + 120
        while not sidecar.exists() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        process.send_signal(signal.SIGKILL)
        process.wait()
        assert process.returncode == -signal.SIGKILL, "the run finished before it could be killed"

    return kill
