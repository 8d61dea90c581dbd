"""Smoke test of ``benchmarks/optimizer.py``: both trainers step and the ratio is printed."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "optimizer.py"


@pytest.mark.integration("ebkit-autoencoder", "ebkit-losses")
def test_the_per_tensor_trainer_really_runs_per_tensor_adam(capsys) -> None:
    sys.path.append(str(SCRIPT.parent))
    try:
        optimizer = importlib.import_module(SCRIPT.stem)
        args = optimizer.argparse.Namespace(
            energy="autoencoder", sampler="generator", loss="margin", data="8gaussians"
        )
        fused, plain = optimizer.trainer(args, False), optimizer.trainer(args, True)
        assert fused.energy_optimizer.defaults["fused"] is True
        assert plain.energy_optimizer.defaults["foreach"] is False
        assert not plain.energy_optimizer.defaults["fused"]
        # The same parameters: the comparison times the optimiser, not other networks.
        assert [p.shape for p in plain.energy_optimizer.param_groups[0]["params"]] == [
            p.shape for p in fused.energy_optimizer.param_groups[0]["params"]
        ]
        assert optimizer.main(["--steps", "2", "--rounds", "1"]) == 0
        assert "ratio per-tensor / fused: " in capsys.readouterr().out
    finally:
        sys.path.remove(str(SCRIPT.parent))
        sys.modules.pop(SCRIPT.stem, None)
