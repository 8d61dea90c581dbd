"""Tests for ebkit.runs.schedules: halving the learning rates when a metric stalls, its state
in checkpoints and ``--resume``, and the ``train.lr_halve_*`` options."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
import torch

from ebkit import Component, LossFunctional, LossOutput
from ebkit.core.engine import TrainSettings
from ebkit.core.errors import UsageError
from ebkit.plugin.manager import PluginManager, module_plugin
from ebkit.runs.checkpoints import latest_checkpoint, load_checkpoint
from ebkit.runs.config import RunConfig, resolve_config
from ebkit.runs.schedules import (
    MIN_RELATIVE_IMPROVEMENT,
    STATE_KEY,
    LRHalving,
    improved,
    lr_halving_from_train_options,
    smoothed_value,
)
from ebkit.runs.settings import ScheduleSettings
from ebkit.runs.training import resume_run, settings_from_config, train_run


class FakeTrainer:
    """The two optimisers a trainer exposes, and nothing else."""

    def __init__(self, energy_lr: float = 1e-3, sampler_lr: float = 2e-3) -> None:
        self.energy_optimizer = torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], energy_lr)
        self.sampler_optimizer = torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], sampler_lr)

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"energy": self.energy_optimizer, "sampler": self.sampler_optimizer}


def drive(callback: LRHalving, trainer: FakeTrainer, values: list[float]) -> list[dict]:
    """Feed one metric value per step; return each step's metrics after the callback."""
    callback.on_train_start(trainer)
    logged = []
    for value in values:
        metrics = {"m_global": torch.tensor(value), "loss_energy": 0.0}
        callback.on_step_end(trainer, metrics)
        logged.append(metrics)
    return logged


# -- the rule, by hand -------------------------------------------------------------------


def test_moving_average_by_hand() -> None:
    assert smoothed_value(None, 4.0, 0.5) == 4.0  # starts at the first value
    assert smoothed_value(4.0, 2.0, 0.5) == 3.0
    assert smoothed_value(3.0, 2.0, 0.5) == 2.5
    assert smoothed_value(3.0, 2.0, 0.0) == 2.0  # no smoothing: the raw value


def test_improvement_needs_the_relative_margin() -> None:
    assert MIN_RELATIVE_IMPROVEMENT == 1e-3
    assert improved(5.0, None, 1e-3)
    assert improved(0.998, 1.0, 1e-3)
    assert not improved(0.9995, 1.0, 1e-3)  # within 0.1 % of the best
    assert not improved(1.2, 1.0, 1e-3)
    assert improved(-1.01, -1.0, 1e-3)  # |best| for negative metrics


def test_halves_after_patience_steps_without_improvement() -> None:
    trainer = FakeTrainer()
    callback = LRHalving(2, smoothing=0.0)
    # best: 1.0, 0.9, –, – (halve), –, 0.5, –, – (halve)
    values = [1.0, 0.9, 0.9, 0.9, 0.95, 0.5, 0.5, 0.5]
    logged = drive(callback, trainer, values)
    # The logged lr is the one each step used, before the halving it triggers.
    assert [m["lr_energy"] for m in logged] == [1e-3] * 4 + [5e-4] * 4
    assert [m["lr_sampler"] for m in logged] == [2e-3] * 4 + [1e-3] * 4
    assert trainer.energy_optimizer.param_groups[0]["lr"] == 2.5e-4
    assert trainer.sampler_optimizer.param_groups[0]["lr"] == 5e-4
    assert callback.state_dict() == {
        "smoothed": 0.5,
        "best": 0.5,
        "since_best": 0,
        "halvings": 2,
    }


def test_a_steady_decrease_never_halves() -> None:
    trainer = FakeTrainer()
    logged = drive(LRHalving(1, smoothing=0.5), trainer, [1.0 - 0.01 * t for t in range(50)])
    assert {m["lr_energy"] for m in logged} == {1e-3}


def test_the_moving_average_is_not_fooled_by_one_lucky_batch() -> None:
    # A falling metric with one lucky batch (0.5): the raw best of 0.5 is out of reach, so
    # the raw rule halves while the metric still falls. The average keeps improving:
    # 1, 0.95 (best), 0.95, 0.945, 0.9355, 0.92195.
    values = [1.0, 0.5, 0.95, 0.9, 0.85, 0.8]
    raw, smooth = FakeTrainer(), FakeTrainer()
    drive(LRHalving(3, smoothing=0.0), raw, values)
    drive(LRHalving(3, smoothing=0.9), smooth, values)
    assert raw.energy_optimizer.param_groups[0]["lr"] == 5e-4
    assert smooth.energy_optimizer.param_groups[0]["lr"] == 1e-3


def test_never_below_min_lr() -> None:
    trainer = FakeTrainer(energy_lr=1e-3, sampler_lr=1e-3)
    logged = drive(LRHalving(1, smoothing=0.0, min_lr=4e-4), trainer, [1.0] * 5)
    assert [m["lr_energy"] for m in logged] == [1e-3, 1e-3, 5e-4, 4e-4, 4e-4]


def test_every_parameter_group_is_halved() -> None:
    first, second = torch.nn.Parameter(torch.zeros(1)), torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.Adam([{"params": [first], "lr": 0.1}, {"params": [second]}], lr=0.4)
    trainer = FakeTrainer()
    trainer.energy_optimizer = optimizer
    drive(LRHalving(1, smoothing=0.0), trainer, [1.0, 1.0])
    assert [group["lr"] for group in optimizer.param_groups] == [0.05, 0.2]


def test_a_metric_the_run_does_not_log_is_a_usage_error() -> None:
    callback = LRHalving(5, metric="m_gobal")
    trainer = FakeTrainer()
    callback.on_train_start(trainer)
    with pytest.raises(UsageError, match=r"no metric 'm_gobal' \(it logs: loss_energy\)"):
        callback.on_step_end(trainer, {"loss_energy": 1.0})


def test_a_non_finite_value_leaves_the_state_alone() -> None:
    trainer = FakeTrainer()
    callback = LRHalving(1, smoothing=0.0)
    drive(callback, trainer, [1.0])
    before = callback.state_dict()
    callback.on_step_end(trainer, {"m_global": float("nan")})
    assert callback.state_dict() == before


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"patience": 0}, "patience must be at least 1"),
        ({"patience": 3, "smoothing": 1.0}, "smoothing must lie in"),
        ({"patience": 3, "min_lr": -1.0}, "min_lr must be"),
    ],
)
def test_invalid_settings_are_errors(arguments: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        LRHalving(**arguments)


# -- state -------------------------------------------------------------------------------


def test_the_state_rides_in_the_energy_optimisers_first_group() -> None:
    trainer = FakeTrainer()
    callback = LRHalving(2, smoothing=0.0)
    drive(callback, trainer, [1.0, 1.0, 1.0])
    group_state = trainer.energy_optimizer.state_dict()["param_groups"][0][STATE_KEY]
    assert group_state == callback.state_dict()
    # Through JSON (the checkpoint sidecar) and into a fresh optimiser and callback.
    saved = json.loads(json.dumps(trainer.energy_optimizer.state_dict()))
    resumed = FakeTrainer()
    resumed.energy_optimizer.load_state_dict(saved)
    again = LRHalving(2, smoothing=0.0)
    again.on_train_start(resumed)
    assert again.state_dict() == callback.state_dict()
    assert resumed.energy_optimizer.param_groups[0]["lr"] == 5e-4


def test_state_dict_round_trip_and_unknown_keys() -> None:
    callback = LRHalving(2)
    callback.load_state_dict({"smoothed": 0.3, "best": 0.25, "since_best": 4, "halvings": 1})
    assert callback.state_dict() == {"smoothed": 0.3, "best": 0.25, "since_best": 4, "halvings": 1}
    with pytest.raises(ValueError, match="unknown LRHalving state keys"):
        callback.load_state_dict({"patience": 3})


def test_the_train_options_build_the_callback() -> None:
    assert lr_halving_from_train_options(ScheduleSettings(lr_halve_patience=0)) is None
    callback = lr_halving_from_train_options(
        ScheduleSettings(
            lr_halve_patience=7,
            lr_halve_metric="loss_energy",
            lr_halve_smoothing=0.5,
            lr_halve_min_lr=1e-5,
        )
    )
    assert isinstance(callback, LRHalving)
    assert (callback.patience, callback.metric, callback.smoothing, callback.min_lr) == (
        7,
        "loss_energy",
        0.5,
        1e-5,
    )


# -- through a run -----------------------------------------------------------------------


class PlateauLoss(LossFunctional):
    """The energy gap E(x) − E(x̃), logging a ``plateau`` metric that never improves, so
    that the halving schedule halves after every ``lr_halve_patience`` steps."""

    def energy_loss(self, real, fake) -> LossOutput:
        gap = real.energy.mean() - fake.energy.mean()
        return LossOutput(gap, {"plateau": torch.ones(())})

    def sampler_loss(self, fake) -> LossOutput:
        return LossOutput(fake.energy.mean())


PLATEAU_ON_DIGITS = [
    "energy.width=8",
    "sampler.width=8",
    "sampler.latent_dim=4",
    "train.batch_size=8",
    "train.log_every=1",
    "train.checkpoint_every=4",
    "train.sample_every=0",
    "train.sample_count=4",
    "train.lr_halve_metric=plateau",
    "train.lr_halve_patience=2",
    "train.lr_halve_smoothing=0",
]


def plateau_config(plugins: PluginManager, steps: int):
    return resolve_config(
        plugins,
        names={"energy": "mlp", "sampler": "generator", "loss": "plateau", "data": "digits"},
        train={"steps": steps},
        overrides=PLATEAU_ON_DIGITS,
    )


@pytest.fixture(scope="module")
def plugins() -> PluginManager:
    plateau = Component(name="plateau", summary="a metric that never improves", factory=PlateauLoss)
    return PluginManager(
        load_entry_points=False,
        environ={},
        extra_plugins={
            "schedule-test": module_plugin("schedule-test", ebkit_losses=lambda: [plateau])
        },
    )


def test_the_options_resolve_with_their_defaults(plugins: PluginManager) -> None:
    train = resolve_config(
        plugins, names={"energy": "mlp", "sampler": "generator", "loss": "gan"}
    ).train.schedule
    assert train.lr_halve_patience == 0
    assert train.lr_halve_metric == "m_global"
    assert train.lr_halve_smoothing == 0.99
    assert train.lr_halve_min_lr == 1e-6


def test_a_config_without_newer_train_settings_keeps_their_defaults(
    plugins: PluginManager,
) -> None:
    # A config.json written before a setting existed (here: all but steps) still builds.
    payload = plateau_config(plugins, 5).as_json()
    payload["train"] = {"steps": 5}
    config = RunConfig.from_json(payload)
    settings = settings_from_config(config)
    assert settings.steps == 5
    assert settings.batch_size == TrainSettings().batch_size
    assert lr_halving_from_train_options(config.train.schedule) is None


def test_a_run_logs_the_learning_rates_and_resumes_the_schedule_exactly(
    plugins: PluginManager, tmp_path: Path
) -> None:
    straight, stopped = tmp_path / "straight", tmp_path / "stopped"
    train_run(plateau_config(plugins, 8), straight, manager=plugins, progress=False)
    train_run(plateau_config(plugins, 4), stopped, manager=plugins, progress=False)
    resume_run(stopped, steps=8, manager=plugins, progress=False)

    records = [json.loads(line) for line in (straight / "metrics.jsonl").read_text().splitlines()]
    lrs = [record["lr_energy"] for record in records]
    assert lrs[0] == 1e-3 and min(lrs) < 1e-3, "the schedule should halve within 8 steps"
    assert all(later <= earlier for earlier, later in itertools.pairwise(lrs))
    assert {"lr_sampler", "plateau"} <= set(records[-1])

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


# -- linear decay ------------------------------------------------------------------------


def test_linear_decay_factor_by_hand() -> None:
    from ebkit.runs.schedules import linear_decay_factor

    # 10 steps, decay from step 6 on: steps 1..6 at 1, then 4/4 .. 1/4.
    factors = [linear_decay_factor(step, 10, 6) for step in range(1, 11)]
    assert factors == [1.0] * 6 + [1.0, 0.75, 0.5, 0.25]
    assert linear_decay_factor(5, 4, 4) == 1.0  # nothing to decay


def test_linear_decay_sets_the_rates_and_logs_them() -> None:
    from types import SimpleNamespace

    from ebkit.runs.schedules import LinearDecay

    energy = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.0)
    sampler = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.0)
    trainer = SimpleNamespace(
        step=0,
        settings=SimpleNamespace(steps=4, energy_lr=0.4, sampler_lr=0.2),
        optimizers=lambda: {"energy": energy, "sampler": sampler},
    )
    decay = LinearDecay(0.5)
    decay.on_train_start(trainer)
    used = []
    for _ in range(4):
        trainer.step += 1
        metrics: dict = {}
        decay.on_step_end(trainer, metrics)
        used.append((metrics["lr_energy"], metrics["lr_sampler"]))
    flat = [rate for pair in used for rate in pair]
    assert flat == pytest.approx([0.4, 0.2, 0.4, 0.2, 0.4, 0.2, 0.2, 0.1])
    with pytest.raises(ValueError, match=r"start fraction must lie in \[0, 1\]"):
        LinearDecay(1.5)


def test_decay_and_halving_together_are_refused() -> None:
    from ebkit.runs.schedules import LinearDecay, lr_schedule_from_train_options

    train = ScheduleSettings(lr_halve_patience=0, lr_decay_start=0.5)
    assert isinstance(lr_schedule_from_train_options(train), LinearDecay)
    assert lr_schedule_from_train_options(ScheduleSettings(lr_decay_start=1.0)) is None
    with pytest.raises(UsageError, match="cannot be combined"):
        lr_schedule_from_train_options(
            ScheduleSettings(
                lr_halve_patience=3,
                lr_halve_metric="m_global",
                lr_halve_smoothing=0.9,
                lr_halve_min_lr=0.0,
                lr_decay_start=0.5,
            )
        )
