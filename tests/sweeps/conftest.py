"""A tiny 2-D sweep spec for the sweep tests: trials of a few steps of a one-layer
energy, so that a dozen of them take seconds."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

BASE = """
[data]
name = "8gaussians"
[energy]
name = "mlp"
n_layers = 1
width = 8
[sampler]
name = "langevin"
steps = 2
[loss]
name = "cd"
[train]
steps = {steps}
batch_size = 16
sample_every = 0
sample_count = 16
log_every = 2
"""


def toy_spec_text(
    body: str,
    *,
    steps: int = 4,
    name: str = "toy",
    objective: str = "log.loss_energy",
    search_trials: int | None = None,
) -> str:
    """A whole spec: the [sweep] table, ``body`` (the [grid] or [search]) and the base run."""
    head = f"""[sweep]
name = "{name}"
objective = "{objective}"
heartbeat_interval = 1
grace_period = 3
pictures = false
"""
    if search_trials is not None:
        head += f'trials = {search_trials}\nsampler = "random"\n'
    return head + body + BASE.format(steps=steps)


@pytest.fixture
def write_spec(tmp_path: Path) -> Callable[..., Path]:
    """``write_spec(body, **options)``: the spec file ``tmp_path/spec.toml``."""

    def write(body: str, **options: object) -> Path:
        path = tmp_path / "spec.toml"
        path.write_text(toy_spec_text(body, **options))  # type: ignore[arg-type]
        return path

    return write
