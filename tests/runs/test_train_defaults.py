"""Training options left at auto take their values from the kind of data."""

from __future__ import annotations

from ebkit.core.interfaces import DataSpec
from ebkit.runs.settings import TrainOptions
from ebkit.runs.training import IMAGE_TRAIN_DEFAULTS, resolve_train_defaults


def test_vectors_train_longer_with_a_learning_rate_decay_images_keep_2000_steps() -> None:
    auto = TrainOptions.from_values({"seed": 3})
    assert auto["steps"] is None and auto["lr_decay_start"] is None
    vector = resolve_train_defaults(auto, DataSpec((2,), -4.7, 4.7))
    assert (vector["steps"], vector["lr_decay_start"], vector["seed"]) == (8000, 0.5, 3)
    image = resolve_train_defaults(auto, DataSpec((1, 8, 8)))
    assert (image["steps"], image["lr_decay_start"]) == (2000, 1.0)
    assert IMAGE_TRAIN_DEFAULTS == {"steps": 2000, "lr_decay_start": 1.0}


def test_values_that_were_set_are_kept() -> None:
    train = TrainOptions.from_values({"steps": 10, "lr_decay_start": 1.0})
    resolved = resolve_train_defaults(train, DataSpec((2,)))
    assert (resolved["steps"], resolved["lr_decay_start"]) == (10, 1.0)
