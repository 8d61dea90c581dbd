"""Tests for the training engine (ebkit.core.engine): determinism, exact resume of a step,
non-finite losses, requirement checks and RNG hygiene."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from ebkit import (
    Component,
    EnergyFunction,
    EnergyOutput,
    LossFunctional,
    LossOutput,
    NonFiniteLossError,
    Option,
    UsageError,
)
from ebkit.core.engine import Callback, Trainer, metrics_to_floats
from ebkit.plugin.manager import PluginManager, module_plugin
from ebkit.runs.checkpoints import (
    latest_checkpoint,
    load_checkpoint,
    restore_trainer_state,
    save_checkpoint,
    trainer_state,
)
from ebkit.runs.config import RunConfig, resolve_config
from ebkit.runs.training import build_trainer, train_run

SMALL = [
    "energy.width=32",
    "sampler.width=32",
    "sampler.latent_dim=4",
    "train.batch_size=16",
]


class NanAfter(LossFunctional):
    """A margin-free loss that becomes NaN from its ``bad_from``-th call on."""

    def __init__(self, spec, *, bad_from: int = 1) -> None:
        super().__init__(spec)
        self.bad_from = bad_from
        self.register_buffer("calls", torch.zeros((), dtype=torch.int64))

    def energy_loss(self, real, fake) -> LossOutput:
        self.calls += 1
        loss = real.energy.mean() - fake.energy.mean()
        if int(self.calls) >= self.bad_from:
            loss = loss * float("nan")
        return LossOutput(loss, {"gap": (fake.energy.mean() - real.energy.mean()).detach()})

    def sampler_loss(self, fake) -> LossOutput:
        return LossOutput(fake.energy.mean())


class NeedsResidual(NanAfter):
    """A loss that reads the per-pixel residual, like BEGAN's."""

    requires = frozenset({"residual"})


class Quadratic(EnergyFunction):
    """An energy without features (so the feature penalty cannot use it)."""

    def __init__(self, spec) -> None:
        super().__init__(spec)
        self.scale = torch.nn.Parameter(torch.ones(()))

    def forward(self, x) -> EnergyOutput:
        return EnergyOutput(energy=self.scale * x.flatten(1).pow(2).sum(1))


class DropoutMLP(EnergyFunction):
    """An MLP energy with dropout, whose masks draw random numbers in every step."""

    provides = frozenset({"features"})

    def __init__(self, spec) -> None:
        super().__init__(spec)
        self.hidden = torch.nn.Sequential(
            torch.nn.Linear(spec.dim, 32), torch.nn.ReLU(), torch.nn.Dropout(0.5)
        )
        self.head = torch.nn.Linear(32, 1)

    def forward(self, x) -> EnergyOutput:
        features = self.hidden(x.flatten(1))
        return EnergyOutput(energy=self.head(features).squeeze(1), features=features)


TEST_PLUGIN = module_plugin(
    "engine-test",
    ebkit_losses=lambda: [
        Component(
            name="nan-after",
            summary="becomes NaN",
            factory=NanAfter,
            options=(Option("bad_from", int, 1, "first NaN call", minimum=1),),
        ),
        Component(name="needs-residual", summary="reads residuals", factory=NeedsResidual),
    ],
    ebkit_energies=lambda: [
        Component(name="quadratic", summary="x²", factory=Quadratic),
        Component(name="dropout-mlp", summary="MLP with dropout", factory=DropoutMLP),
    ],
)


@pytest.fixture(scope="module")
def plugins(feature_penalty_plugin) -> PluginManager:
    return PluginManager(
        load_entry_points=False,
        environ={},
        extra_plugins={"engine-test": TEST_PLUGIN, "ebkit-tests": feature_penalty_plugin},
    )


def make_config(
    plugins,
    *,
    energy="mlp",
    loss="gan",
    data="25gaussians",
    regularizers=("feature-penalty",),
    seed=0,
    steps=30,
    extra=(),
) -> RunConfig:
    return resolve_config(
        plugins,
        names={"energy": energy, "sampler": "generator", "loss": loss, "data": data},
        regularizers=list(regularizers),
        train={"steps": steps, "seed": seed},
        overrides=[opt for opt in SMALL if energy == "mlp" or "energy" not in opt] + list(extra),
    )


def weights_after(plugins, config: RunConfig, steps: int) -> dict[str, torch.Tensor]:
    trainer = build_trainer(config, plugins)
    for _ in range(steps):
        trainer.train_step()
    return trainer_state(trainer)[0]


def same_tensors(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[key], b[key]) for key in a)


# -- determinism ---------------------------------------------------------------------------------


def test_the_same_seed_gives_identical_weights(plugins) -> None:
    config = make_config(plugins, seed=3)
    first = weights_after(plugins, config, 5)
    second = weights_after(plugins, make_config(plugins, seed=3), 5)
    assert same_tensors(first, second)


def test_a_different_seed_gives_different_weights(plugins) -> None:
    first = weights_after(plugins, make_config(plugins, seed=3), 5)
    other = weights_after(plugins, make_config(plugins, seed=4), 5)
    assert first.keys() == other.keys()
    differing = [key for key in first if not torch.equal(first[key], other[key])]
    assert any(key.startswith("energy.") for key in differing)
    assert any(key.startswith("sampler.") for key in differing)
    assert "rng.data" in differing and "rng.sample" in differing


def test_training_changes_the_weights(plugins) -> None:
    config = make_config(plugins)
    before = trainer_state(build_trainer(config, plugins))[0]
    after = weights_after(plugins, config, 2)
    changed = [key for key in before if key.endswith("weight") and key.startswith("energy.")]
    assert changed and all(not torch.equal(before[key], after[key]) for key in changed)


def test_train_step_counts_and_reports_finite_metrics(plugins) -> None:
    trainer = build_trainer(make_config(plugins), plugins)
    metrics = metrics_to_floats(trainer.train_step())
    assert trainer.step == 1
    assert "penalty_feature-penalty" in metrics
    assert metrics and all(math.isfinite(value) for value in metrics.values())


# -- exact resume of a step ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "energy"),
    [("25gaussians", "mlp"), ("digits", "mlp"), ("digits", "dropout-mlp")],
    ids=["toy", "digits", "digits-dropout"],
)
def test_checkpoint_restore_resumes_the_exact_next_step(
    plugins, tmp_path: Path, data, energy
) -> None:
    config = make_config(plugins, data=data, energy=energy)
    original = build_trainer(config, plugins)
    for _ in range(3):
        original.train_step()
    weights = save_checkpoint(original, tmp_path)
    tensors, meta = load_checkpoint(weights)

    resumed = build_trainer(config, plugins)
    restore_trainer_state(resumed, tensors, meta)
    assert resumed.step == original.step == 3
    assert same_tensors(trainer_state(resumed)[0], trainer_state(original)[0])
    for name, optimizer in original.optimizers().items():
        saved = optimizer.state_dict()
        loaded = resumed.optimizers()[name].state_dict()
        # Through JSON, betas come back as a list; the values must be the same.
        assert json.loads(json.dumps(saved["param_groups"])) == json.loads(
            json.dumps(loaded["param_groups"])
        )
        for index, slots in saved["state"].items():
            for key, value in slots.items():
                assert torch.equal(loaded["state"][index][key], value), (name, index, key)

    for _ in range(2):
        expected = metrics_to_floats(original.train_step())
        actual = metrics_to_floats(resumed.train_step())
        assert actual == expected
    assert same_tensors(trainer_state(resumed)[0], trainer_state(original)[0])


def test_the_checkpoint_of_an_untrained_trainer_restores(plugins, tmp_path: Path) -> None:
    config = make_config(plugins, data="digits")
    original = build_trainer(config, plugins)
    tensors, meta = load_checkpoint(save_checkpoint(original, tmp_path))
    resumed = build_trainer(config, plugins)
    restore_trainer_state(resumed, tensors, meta)
    assert metrics_to_floats(resumed.train_step()) == metrics_to_floats(original.train_step())


# -- non-finite losses --------------------------------------------------------------------------


def test_a_nan_loss_stops_training_naming_the_step(plugins) -> None:
    config = make_config(plugins, loss="nan-after", regularizers=(), extra=["loss.bad_from=3"])
    trainer = build_trainer(config, plugins)
    for _ in range(5):
        trainer.train_step()  # the step notes a NaN loss on the device, without a sync
    with pytest.raises(NonFiniteLossError) as caught:
        trainer.check_finite()  # what logging, checkpoints and pictures call first
    message = str(caught.value)
    assert "step 3" in message and "nan" in message and "energy loss" in message
    assert "\n" not in message
    with pytest.raises(NonFiniteLossError, match="step 3"):
        trainer.draw_samples(4, seed=0)


def test_a_nan_loss_keeps_the_last_good_checkpoint(plugins, tmp_path: Path) -> None:
    config = make_config(
        plugins,
        loss="nan-after",
        regularizers=(),
        steps=10,
        extra=["loss.bad_from=5", "train.checkpoint_every=2", "train.log_every=1"],
    )
    run_dir = tmp_path / "run"
    with pytest.raises(NonFiniteLossError, match="step 5"):
        train_run(config, run_dir, manager=plugins, progress=False)
    assert latest_checkpoint(run_dir) == run_dir / "checkpoints" / "step-0000004.safetensors"
    tensors, meta = load_checkpoint(latest_checkpoint(run_dir))
    assert meta["step"] == 4
    assert all(
        torch.isfinite(value).all() for value in tensors.values() if value.is_floating_point()
    )
    assert not (run_dir / "checkpoints" / "step-0000005.json").exists()


# -- requirements are checked before training ------------------------------------------------------


def test_a_regularizer_needing_features_refuses_an_energy_without_them(
    plugins, tmp_path: Path
) -> None:
    config = make_config(plugins, energy="quadratic")
    with pytest.raises(UsageError) as caught:
        build_trainer(config, plugins)
    message = str(caught.value)
    assert "'feature-penalty'" in message and "features" in message and "Quadratic" in message
    run_dir = tmp_path / "run"
    with pytest.raises(UsageError, match="features"):
        train_run(config, run_dir, manager=plugins, progress=False)
    assert not run_dir.exists()  # nothing was written, so the same --out works next time


def test_a_loss_needing_residuals_refuses_an_energy_without_them(plugins) -> None:
    config = make_config(plugins, energy="quadratic", loss="needs-residual", regularizers=())
    with pytest.raises(UsageError, match="loss NeedsResidual needs the energy's residual"):
        build_trainer(config, plugins)


def test_an_energy_without_the_needed_fields_trains_without_that_regularizer(plugins) -> None:
    trainer = build_trainer(make_config(plugins, energy="quadratic", regularizers=()), plugins)
    trainer.train_step()
    assert trainer.step == 1


# -- RNG hygiene -----------------------------------------------------------------------------------


class Recorder(Callback):
    def __init__(self) -> None:
        self.events: list[tuple[str, int]] = []

    def on_train_start(self, trainer: Trainer) -> None:
        self.events.append(("start", trainer.step))

    def on_step_end(self, trainer: Trainer, metrics) -> None:
        self.events.append(("step", trainer.step))

    def on_train_end(self, trainer: Trainer) -> None:
        self.events.append(("end", trainer.step))


def test_fit_calls_the_callbacks_in_order(plugins) -> None:
    trainer = build_trainer(make_config(plugins, steps=3), plugins)
    recorder = Recorder()
    trainer.callbacks = [recorder]
    trainer.fit()
    assert recorder.events == [("start", 0), ("step", 1), ("step", 2), ("step", 3), ("end", 3)]


def test_the_trainer_does_not_touch_the_global_rng(plugins) -> None:
    torch.manual_seed(1234)
    before = torch.random.get_rng_state()
    trainer = build_trainer(make_config(plugins, data="digits"), plugins)
    for _ in range(3):
        trainer.train_step()
    trainer.draw_samples(4, seed=1)
    assert torch.equal(torch.random.get_rng_state(), before)


def test_training_does_not_depend_on_the_global_rng(plugins) -> None:
    config = make_config(plugins)
    torch.manual_seed(1)
    first = weights_after(plugins, config, 3)
    torch.manual_seed(2)
    second = weights_after(plugins, config, 3)
    assert same_tensors(first, second)


def test_training_with_dropout_does_not_depend_on_the_global_rng(plugins) -> None:
    config = make_config(plugins, energy="dropout-mlp")
    torch.manual_seed(1)
    first = weights_after(plugins, config, 3)
    torch.manual_seed(2)
    second = weights_after(plugins, config, 3)
    assert same_tensors(first, second)


def test_draw_samples_is_reproducible_and_restores_training_mode(plugins) -> None:
    trainer = build_trainer(make_config(plugins), plugins)
    trainer.train_step()
    first = trainer.draw_samples(6, seed=5)
    again = trainer.draw_samples(6, seed=5)
    assert first.shape == (6, 2) and not first.requires_grad
    assert torch.equal(first, again)
    assert all(module.training for module in trainer.modules().values())


def test_energy_metrics_by_hand() -> None:
    from ebkit import energy_metrics

    real = torch.tensor([1.0, 3.0], requires_grad=True)
    fake = torch.tensor([4.0, 8.0, 0.0], requires_grad=True)
    metrics = energy_metrics(real, fake)
    assert {k: float(v) for k, v in metrics.items()} == {
        "energy_real": 2.0,
        "energy_fake": 4.0,
        "energy_gap": 2.0,
    }
    assert not any(value.requires_grad for value in metrics.values())
