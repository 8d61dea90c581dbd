"""Fixtures shared by the core's tests, and the ``integration`` marker.

The core's tests run with only the built-in components installed. A test that checks the
core together with a first-party plugin says so with ``@pytest.mark.integration("ebkit-NAME")``
and is skipped, with the reason, where that plugin is not installed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from importlib import metadata
from pathlib import Path

import pytest


def _installed(distribution: str) -> bool:
    try:
        metadata.distribution(distribution)
    except metadata.PackageNotFoundError:
        return False
    return True


def pytest_runtest_setup(item: pytest.Item) -> None:
    for marker in item.iter_markers("integration"):
        missing = [name for name in marker.args if not _installed(name)]
        if missing:
            names = ", ".join(missing)
            pytest.skip(
                f"integration test with the plugin {names}, which is not installed "
                f"(pip install -e plugins/{missing[0]})"
            )


@pytest.fixture
def kill_after_checkpoint() -> Callable[[Sequence[str], Path, int], None]:
    """A function that starts ``python -m ebkit ARGS`` for the run ``out``, waits for the
    checkpoint of ``step`` to be complete and SIGKILLs the process: the crash that
    ``--resume`` must survive. The process computes on one thread, as the runs it is
    compared with bit for bit must (sums split among threads round differently): the
    tests' own processes run on one thread (the root ``conftest.py``), their subprocesses
    with ``OMP_NUM_THREADS=1``."""

    def kill(args: Sequence[str], out: Path, step: int) -> None:
        process = subprocess.Popen(
            [sys.executable, "-m", "ebkit", *args, "--out", str(out)],
            env={**os.environ, "OMP_NUM_THREADS": "1"},
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


@pytest.fixture(scope="session")
def feature_penalty_plugin() -> object:
    """A plugin with one regularizer, ``feature-penalty``, shaped like the pulling-away term
    of ebkit-pt (it reads the energy's ``features`` and weights the sampler's loss), so that
    tests of the core's regularizer plumbing need no plugin installed."""
    from ebkit import Component, Option, Regularizer
    from ebkit.plugin.manager import module_plugin

    class FeaturePenalty(Regularizer):
        """The mean squared feature of the contrastive samples."""

        requires = frozenset({"features"})

        def __init__(self, spec, *, weight: float = 0.1) -> None:
            super().__init__(spec, weight=weight, target="sampler")

        def penalty(self, real, fake):
            return fake.features.square().mean()

    component = Component(
        name="feature-penalty",
        summary="mean squared feature of the contrastive samples",
        factory=FeaturePenalty,
        options=(Option("weight", float, 0.1, "weight in the sampler's loss", minimum=0.0),),
    )
    return module_plugin("ebkit-tests", ebkit_regularizers=lambda: [component])


@pytest.fixture(scope="session")
def inception_state() -> dict:
    """A state dict with the published FID Inception's keys and shapes (no
    ``num_batches_tracked``, like the published file) and random values scaled so that
    activations neither vanish nor explode through the 94 layers (He et al. 2015)."""
    import math

    import torch

    from ebkit.metrics.inception import expected_state_shapes

    generator = torch.Generator().manual_seed(2015)
    state = {}
    for key, shape in expected_state_shapes().items():
        if key.endswith("conv.weight"):
            scale = math.sqrt(2 / math.prod(shape[1:]))
            state[key] = torch.randn(shape, generator=generator) * scale
        elif key.endswith(("bn.weight", "running_var")):
            state[key] = torch.rand(shape, generator=generator) * 0.5 + 0.75
        elif key == "fc.weight":
            state[key] = torch.randn(shape, generator=generator) / math.sqrt(shape[1])
        else:
            state[key] = torch.randn(shape, generator=generator) * 0.1
    return state


@pytest.fixture(scope="session")
def inception_weights(inception_state: dict, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``inception_state`` saved as the published file is, by ``torch.save`` (~95 MB)."""
    import torch

    path = tmp_path_factory.mktemp("inception") / "pt_inception-2015-12-05-6726825d.pth"
    torch.save(inception_state, path)
    return path
