"""The learning-rate halving of BEGAN (Berthelot et al., 2017: halve the rates when the
convergence measure M_global stalls) through a run: the began loss's M_global is the
schedule's default metric; the run halves, logs the rates and resumes the schedule exactly."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
import torch

from ebkit.plugin.manager import PluginManager
from ebkit.runs.checkpoints import latest_checkpoint, load_checkpoint
from ebkit.runs.config import resolve_config
from ebkit.runs.schedules import STATE_KEY
from ebkit.runs.training import resume_run, train_run

LOGGED_AND_HALVED = [
    "train.log_every=1",
    "train.checkpoint_every=4",
    "train.sample_every=0",
    "train.sample_count=4",
    "train.lr_halve_patience=2",
    "train.lr_halve_smoothing=0",
]


@pytest.fixture
def began_config(plugins: PluginManager, tiny_began: list[str]):
    def build(steps: int):
        return resolve_config(
            plugins,
            names={
                "energy": "autoencoder", "sampler": "generator", "loss": "began", "data": "digits"
            },
            train={"steps": steps},
            overrides=[*tiny_began, *LOGGED_AND_HALVED],
        )  # fmt: skip

    return build


def test_a_began_run_halves_on_m_global_and_resumes_the_schedule_exactly(
    plugins: PluginManager, began_config, tmp_path: Path
) -> None:
    straight, stopped = tmp_path / "straight", tmp_path / "stopped"
    train_run(began_config(8), straight, manager=plugins, progress=False)
    train_run(began_config(4), stopped, manager=plugins, progress=False)
    resume_run(stopped, steps=8, manager=plugins, progress=False)

    records = [json.loads(line) for line in (straight / "metrics.jsonl").read_text().splitlines()]
    lrs = [record["lr_energy"] for record in records]
    assert lrs[0] == 1e-3 and min(lrs) < 1e-3, "the schedule should halve within 8 steps"
    assert all(later <= earlier for earlier, later in itertools.pairwise(lrs))
    assert {"lr_sampler", "m_global", "k"} <= set(records[-1])

    resumed = [json.loads(line) for line in (stopped / "metrics.jsonl").read_text().splitlines()]
    assert resumed == records
    (weights_a, meta_a), (weights_b, meta_b) = (
        load_checkpoint(latest_checkpoint(run)) for run in (straight, stopped)
    )
    assert meta_a["optimizers"] == meta_b["optimizers"]
    group = meta_a["optimizers"]["energy"]["param_groups"][0]
    assert group["lr"] == 1e-3 / 2 ** group[STATE_KEY]["halvings"]
    assert weights_a.keys() == weights_b.keys()
    assert all(torch.equal(weights_a[key], weights_b[key]) for key in weights_a)
