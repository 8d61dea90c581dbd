"""The values of the ``train`` options a user left at auto: from what the run's
components ask for, then from the kind of data (vectors or images)."""

from __future__ import annotations

from collections.abc import Sequence, Sized
from typing import Any

from ebkit.core.contributions import RunContributions
from ebkit.core.errors import PluginError, UsageError
from ebkit.core.interfaces import DataSpec
from ebkit.runs.settings import TRAIN_OPTIONS, TrainOptions

AUTO_TRAIN_OPTIONS = frozenset(option.name for option in TRAIN_OPTIONS if option.default is None)
"""The ``train`` options whose default is auto (``None``): the only ones a component's
``train_defaults()`` may set, each with a value by data kind below."""

_OPTIMISER_DEFAULTS: dict[str, Any] = {
    "sampler_lr": 1e-3,
    "batch_size": 64,
    "beta1": 0.5,
    "beta2": 0.999,
}
"""The auto ``train`` options whose value does not depend on the data kind."""

VECTOR_TRAIN_DEFAULTS: dict[str, Any] = {
    "steps": 8000,
    "lr_decay_start": 0.5,
    **_OPTIMISER_DEFAULTS,
}
"""``train`` options left at auto on vector data (the 2-D toys): their steps are cheap,
and a linear decay of the learning rates over the second half settles the samples onto
narrow modes."""

IMAGE_TRAIN_DEFAULTS: dict[str, Any] = {"steps": 2000, "lr_decay_start": 1.0, **_OPTIMISER_DEFAULTS}
"""``train`` options left at auto on images."""


def resolve_train_defaults(
    train: TrainOptions, spec: DataSpec, components: Sequence[RunContributions] = ()
) -> TrainOptions:
    """``train`` with the options left at auto (``None``) set, so that ``config.json``
    records the values the run used: from what ``components`` (energy, sampler, loss, in
    that order) ask for in their ``train_defaults()``, a later one winning, then from the
    kind of data."""
    defaults = dict(IMAGE_TRAIN_DEFAULTS if spec.is_image else VECTOR_TRAIN_DEFAULTS)
    for component in components:
        defaults.update(_checked_train_defaults(component))
    chosen = {name: value for name, value in defaults.items() if train[name] is None}
    return train.replace(**chosen) if chosen else train


def _checked_train_defaults(component: RunContributions) -> dict[str, int | float]:
    """A component's ``train_defaults()``, refused with one line naming the component
    when it names an option that has no auto value or gives a value the option refuses."""
    asked = dict(component.train_defaults())
    name = type(component).__name__
    for option in asked:
        if option not in AUTO_TRAIN_OPTIONS:
            raise PluginError(
                f"{name}.train_defaults() names {option!r}; a component may set only the "
                f"train options left at auto: {', '.join(sorted(AUTO_TRAIN_OPTIONS))}"
            )
    try:
        TrainOptions.from_values(asked, where=f"{name}.train_defaults()")
    except UsageError as error:
        raise PluginError(str(error)) from None
    return asked


def batch_size_for(train: TrainOptions, dataset: object, *, auto: bool) -> TrainOptions:
    """``train`` with a batch that ``dataset`` can fill. A batch size at auto (``auto``:
    the user did not set it) larger than a finite dataset is cut to its number of
    examples, so that a small data file trains with the defaults (``config.json`` records
    the cut); a larger one the user set is refused with one line, before the run
    directory is created."""
    batch_size = train.optimisation.batch_size
    if not isinstance(dataset, Sized) or batch_size <= len(dataset):
        return train
    if auto:
        if len(dataset) < 2:
            raise UsageError(
                f"the dataset holds {len(dataset)} training example"
                f"{'' if len(dataset) == 1 else 's'}; a batch needs at least 2"
            )
        return train.replace(batch_size=len(dataset))
    raise UsageError(
        f"--batch-size {batch_size} exceeds the {len(dataset)} training examples of the "
        f"dataset (accepted: 2 to {len(dataset)})"
    )
