"""``benchmarks/overhead.py`` times ebkit against a hand-written loop only while the two
compute the same thing: its weight check must find them bit for bit equal (the hand loop
once missed the auto-encoder's code ReLU and the engine's fused Adam)."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "overhead.py"


@pytest.mark.integration("ebkit-autoencoder", "ebkit-losses")
@pytest.mark.parametrize("arch", ["mlp", "conv"])
def test_the_hand_loop_trains_bit_for_bit_as_ebkit(arch: str) -> None:
    sys.path.append(str(SCRIPT.parent))
    try:
        overhead = importlib.import_module(SCRIPT.stem)
        argv = ["--arch", arch, "--energy-width", "16", "--sampler-width", "16"]
        config = overhead.run_config(overhead.parse_args([*argv, "--batch-size", "8"]))
        verdict, same = overhead.check_equivalence(config, torch.device("cpu"), steps=2)
        assert same and "bit for bit" in verdict, verdict
    finally:
        sys.path.remove(str(SCRIPT.parent))
        for name in (SCRIPT.stem, "overhead_hand_loop", "speed"):
            sys.modules.pop(name, None)
