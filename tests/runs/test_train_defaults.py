"""Training options left at auto take their values from the kind of data."""

from __future__ import annotations

import numpy as np
import pytest

from ebkit import Component, EnergyOutput, LossFunctional, LossOutput
from ebkit.core.contributions import RunContributions
from ebkit.core.engine import Trainer
from ebkit.core.errors import PluginError, UsageError
from ebkit.core.interfaces import DataSpec
from ebkit.plugin.manager import PluginManager, module_plugin
from ebkit.runs.config import RunConfig, resolve_config
from ebkit.runs.settings import TrainOptions
from ebkit.runs.train_defaults import (
    AUTO_TRAIN_OPTIONS,
    IMAGE_TRAIN_DEFAULTS,
    VECTOR_TRAIN_DEFAULTS,
    batch_size_for,
    resolve_train_defaults,
)
from ebkit.runs.training import build_trainer


def test_vectors_train_longer_with_a_learning_rate_decay_images_keep_2000_steps() -> None:
    auto = TrainOptions.from_values({"seed": 3})
    assert auto["steps"] is None and auto["lr_decay_start"] is None
    vector = resolve_train_defaults(auto, DataSpec((2,), -4.7, 4.7))
    assert (vector["steps"], vector["lr_decay_start"], vector["seed"]) == (8000, 0.5, 3)
    image = resolve_train_defaults(auto, DataSpec((1, 8, 8)))
    assert (image["steps"], image["lr_decay_start"]) == (2000, 1.0)
    assert IMAGE_TRAIN_DEFAULTS == {
        "steps": 2000,
        "lr_decay_start": 1.0,
        "sampler_lr": 1e-3,
        "batch_size": 64,
        "beta1": 0.5,
        "beta2": 0.999,
    }
    assert auto["batch_size"] is None and vector["batch_size"] == image["batch_size"] == 64
    assert auto["sampler_lr"] is None and vector["sampler_lr"] == image["sampler_lr"] == 1e-3


def test_every_auto_option_has_a_value_for_each_kind_of_data() -> None:
    auto = {"steps", "lr_decay_start", "sampler_lr", "batch_size", "beta1", "beta2"}
    assert auto == AUTO_TRAIN_OPTIONS
    assert set(VECTOR_TRAIN_DEFAULTS) == set(IMAGE_TRAIN_DEFAULTS) == AUTO_TRAIN_OPTIONS


def test_values_that_were_set_are_kept() -> None:
    train = TrainOptions.from_values({"steps": 10, "lr_decay_start": 1.0})
    resolved = resolve_train_defaults(train, DataSpec((2,)))
    assert (resolved["steps"], resolved["lr_decay_start"]) == (10, 1.0)


class Asks(RunContributions):
    """A component that asks for some ``train`` values."""

    def __init__(self, **values: int | float) -> None:
        self.values = values

    def train_defaults(self) -> dict[str, int | float]:
        return self.values


def test_components_set_what_the_user_left_at_auto_the_loss_winning() -> None:
    energy, sampler, loss = Asks(steps=100), Asks(steps=300, lr_decay_start=0.9), Asks(steps=500)
    auto = TrainOptions.from_values({})
    resolved = resolve_train_defaults(auto, DataSpec((2,)), (energy, sampler, loss))
    assert (resolved["steps"], resolved["lr_decay_start"]) == (500, 0.9)
    # Only the energy asks: its value, the rest from the data kind.
    resolved = resolve_train_defaults(auto, DataSpec((1, 8, 8)), (energy, Asks(), Asks()))
    assert (resolved["steps"], resolved["lr_decay_start"]) == (100, 1.0)
    given = TrainOptions.from_values({"steps": 7})
    assert resolve_train_defaults(given, DataSpec((2,)), (energy, sampler, loss))["steps"] == 7


def test_the_base_components_ask_for_nothing() -> None:
    assert RunContributions().train_defaults() == {}
    assert RunContributions().step_extensions() == ()


@pytest.mark.parametrize(
    ("asked", "message"),
    [
        ({"seed": 8}, "Asks.train_defaults() names 'seed'; a component may set only"),
        ({"steps": 0}, "Asks.train_defaults().steps"),
        ({"lr_decay_start": 2.0}, "Asks.train_defaults().lr_decay_start"),
        ({"sampler_lr": -1.0}, "Asks.train_defaults().sampler_lr"),
    ],
)
def test_a_component_asking_for_what_it_may_not_is_a_plugin_error(
    asked: dict[str, int | float], message: str
) -> None:
    auto = TrainOptions.from_values({})
    with pytest.raises(PluginError) as caught:
        resolve_train_defaults(auto, DataSpec((2,)), (Asks(**asked),))
    assert message in str(caught.value)


class LongerOnVectors(LossFunctional):
    """A loss that asks for 30 steps, a sampler lr and batches of 256 on vectors (like EBGAN's
    margin)."""

    def energy_loss(self, real: EnergyOutput, fake: EnergyOutput) -> LossOutput:
        return LossOutput(real.energy.mean() - fake.energy.mean())

    def train_defaults(self) -> dict[str, int | float]:
        if self.spec.is_image:
            return {}
        return {"steps": 30, "sampler_lr": 0.004, "batch_size": 256}


def _built_with_longer(
    data: str, train: dict[str, int | float], data_path: str | None = None
) -> tuple[RunConfig, Trainer]:
    """A run of the ``LongerOnVectors`` loss on ``data``, built as ``ebkit train`` builds it."""
    plugin = module_plugin(
        "longer",
        ebkit_losses=lambda: [
            Component(name="longer", summary="asks for more on vectors", factory=LongerOnVectors)
        ],
    )
    manager = PluginManager(environ={}, extra_plugins={"longer": plugin})
    config = resolve_config(
        manager,
        names={"energy": "mlp", "sampler": "langevin", "loss": "longer", "data": data},
        data_path=data_path,
        train=train,
    )
    return config, build_trainer(config, manager)


@pytest.mark.parametrize(
    ("given", "steps", "sampler_lr"), [({}, 30, 0.004), ({"steps": 5, "sampler_lr": 0.01}, 5, 0.01)]
)
def test_a_built_run_records_the_steps_its_loss_asked_for(given, steps, sampler_lr) -> None:
    config, trainer = _built_with_longer("moons", given)
    assert trainer.settings.steps == steps == config.as_json()["train"]["steps"]
    assert trainer.settings.sampler_lr == sampler_lr == config.as_json()["train"]["sampler_lr"]


def _built_on_points(tmp_path, n: int, train: dict[str, int]) -> tuple[RunConfig, Trainer]:
    data = tmp_path / "points.npz"
    np.savez(data, x=np.random.default_rng(0).uniform(-1, 1, (n, 2)).astype(np.float32))
    return _built_with_longer("npz", train, data_path=str(data))


def test_an_automatic_batch_larger_than_the_data_is_cut_to_it_and_recorded(tmp_path) -> None:
    config, trainer = _built_on_points(tmp_path, 100, {})
    assert trainer.settings.batch_size == 100 == config.as_json()["train"]["batch_size"]
    config, trainer = _built_on_points(tmp_path, 300, {})
    assert trainer.settings.batch_size == 256  # the loss's ask, which the data can fill


def test_a_batch_the_user_set_larger_than_the_data_is_refused(tmp_path) -> None:
    with pytest.raises(UsageError, match="--batch-size 128 exceeds the 100 training examples"):
        _built_on_points(tmp_path, 100, {"batch_size": 128})


def test_a_data_file_of_one_point_is_refused_without_naming_an_unset_batch_size() -> None:
    train = TrainOptions().replace(batch_size=64)
    with pytest.raises(UsageError, match="holds 1 training example; a batch needs at least 2"):
        batch_size_for(train, range(1), auto=True)


def test_batch_size_for_leaves_an_endless_or_large_enough_dataset_alone() -> None:
    train = TrainOptions().replace(batch_size=64)
    assert batch_size_for(train, object(), auto=True) is train  # a stream has no length
    assert batch_size_for(train, range(64), auto=False) is train
