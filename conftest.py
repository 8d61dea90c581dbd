"""Settings for the whole test run: ``tests/`` and the first-party plugins' tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread() -> Iterator[None]:
    """The tests train tiny models, fastest on one thread: on a busy 2-core machine
    torch's threads wait on each other (400 steps of a 2-D auto-encoder took 187 s
    with the default threads at load 12, 8 s on one). Subprocesses get
    ``OMP_NUM_THREADS=1`` from the tests that start them."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
