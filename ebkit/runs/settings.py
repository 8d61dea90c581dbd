"""The ``train`` options of a run as typed sections: the one place their defaults, help,
bounds and choices are written.

Users set them by flat name (``--steps``, ``-o train.energy_lr=2e-4``, ``steps = 500``
under ``[train]`` in a TOML file) and ``config.json`` stores them flat, as always. In
code they are typed attributes grouped by what they control::

    config.train.optimisation.energy_lr
    config.train.semi_supervised.labels

Everything else derives from the dataclass fields below: the :class:`Option` records that
validate user values (:data:`TRAIN_OPTIONS`), ``ebkit components show train``, the flags'
help and the engine's TrainSettings (from :class:`OptimisationSettings`); no torch here.
"""

from __future__ import annotations

import dataclasses
import re
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ebkit.core.errors import UsageError
from ebkit.plugin.components import Component, Option
from ebkit.runs.setting_fields import setting

__all__ = [
    "TRAIN_COMPONENT",
    "TRAIN_OPTIONS",
    "ConditioningSettings",
    "HardwareSettings",
    "LoggingSettings",
    "OptimisationSettings",
    "ScheduleSettings",
    "SemiSupervisedSettings",
    "TrainOptions",
    "flag_help",
    "flags",
    "section_of",
    "setting",
    "train_option",
]


@dataclass(frozen=True)
class OptimisationSettings:
    """Steps, batches, seed and the optimisers (Adam, Kingma & Ba 2015, or SGD) of the
    energy and a trainable sampler: the engine's own settings (its TrainSettings)."""

    steps: int | None = setting(
        None,
        "number of training steps; auto = a component's choice, else 2000 images, 8000 vectors",
        minimum=1,
        flag="--steps",
    )
    batch_size: int | None = setting(
        None,
        "samples per batch (data and contrastive); auto = a component's choice, else 64",
        minimum=2,
        flag="--batch-size",
    )
    seed: int = setting(0, "seed of every random generator of the run", minimum=0, flag="--seed")
    energy_lr: float = setting(1e-3, "Adam learning rate of the energy", minimum=0.0)
    sampler_lr: float | None = setting(
        None, "Adam learning rate of a trainable sampler; auto = the loss's, else 0.001", minimum=0
    )
    beta1: float | None = setting(
        None,
        "Adam beta1; auto = a component's choice, else 0.5 (Radford et al. 2016, DCGAN)",
        minimum=0.0,
        maximum=1.0,
    )
    beta2: float | None = setting(
        None, "Adam beta2; auto = a component's choice, else 0.999", minimum=0.0, maximum=1.0
    )
    energy_optimizer: str = setting(
        "adam",
        "optimiser of the energy: adam (energy_lr, beta1, beta2) or sgd (plain SGD at "
        "energy_lr; the GAN grid of Zhao et al. 2017, EBGAN, Table 1, tries both)",
        choices=("adam", "sgd"),
    )
    sampler_optimizer: str = setting(
        "adam",
        "optimiser of a trainable sampler: adam or sgd (at sampler_lr)",
        choices=("adam", "sgd"),
    )


@dataclass(frozen=True)
class HardwareSettings:
    """Where and how the run computes: the device, mixed precision, compiled networks."""

    device: str = setting(
        "auto",
        "where to train: auto (CUDA where available), cpu, cuda or cuda:N",
        flag="--device",
    )
    precision: str = setting(
        "fp32",
        "precision of the networks' forward passes (autocast); losses, per-sample energies "
        "and Langevin steps stay float32; fp16 scales each optimiser's gradients",
        choices=("fp32", "bf16", "fp16"),
        flag="--precision",
    )
    compile: bool = setting(
        False,
        "compile the energy and trainable sampler networks with torch.compile (training "
        "stays eager, with one line saying why, where the platform cannot compile)",
        flag="--compile",
    )
    workers: int = setting(
        0,
        "worker processes that read and decode the batches of a streaming dataset (folder, "
        "npz of uint8 images, shards); 0: read them in the training process",
        minimum=0,
        flag="--workers",
    )

    def __post_init__(self) -> None:
        # The name's form is checked here, where the options are read; whether the device
        # is there, when the run is built (ebkit.core.hardware.resolve_device).
        if not re.fullmatch(r"auto|cpu|cuda(:\d+)?", self.device):
            raise UsageError(
                f"train.device: {self.device!r} is not a device (accepted: auto, cpu, cuda, cuda:N)"
            )


@dataclass(frozen=True)
class ConditioningSettings:
    """Class-conditional runs: the energy and the sampler see the labels, model p(x | class)."""

    conditional: bool = setting(
        False,
        "conditional run: model p(x | class) with the dataset's labels, which go to the "
        "energy and the sampler (a labelled dataset, components that accept labels)",
        flag="--conditional",
    )


@dataclass(frozen=True)
class SemiSupervisedSettings:
    """Semi-supervised runs (Rasmus et al. 2015; EBGAN-LN in Zhao et al. 2017): a few
    labelled examples add a cross-entropy on the energy's class logits."""

    labels: int = setting(
        0,
        "semi-supervised: train with this many labelled examples, balanced over the classes "
        "and chosen by the seed, the rest of the training split unlabelled (needs an energy "
        "with class logits, e.g. ladder; 0: no labels)",
        minimum=0,
        flag="--labels",
    )
    test_fraction: float = setting(
        0.2,
        "semi-supervised: share of each class held out for testing, never trained on",
        minimum=0.0,
        maximum=1.0,
        maximum_inclusive=False,
    )
    supervised_weight: float = setting(
        1.0,
        "semi-supervised: weight of the labelled cross-entropy in the energy's loss",
        minimum=0.0,
    )
    eval_every: int = setting(
        500,
        "semi-supervised: steps between held-out error evaluations (and at the end)",
        minimum=1,
    )


@dataclass(frozen=True)
class ScheduleSettings:
    """What changes over the steps: the sampler's training window, the learning rates."""

    sampler_steps: int = setting(
        0,
        "train a trainable sampler only for this many steps, then keep it frozen while the "
        "energy trains on (EBGAN-LN); 0: all steps",
        minimum=0,
    )
    lr_decay_start: float | None = setting(
        None,
        "from this fraction of the steps on, decay every learning rate linearly to 0 at the "
        "last step (Rasmus et al. 2015: 0.67); 1: no decay; auto = 1 for images, 0.5 for "
        "vectors (the decay settles samples onto narrow modes)",
        minimum=0.0,
        maximum=1.0,
    )
    lr_halve_patience: int = setting(
        0,
        "halve every learning rate when the smoothed lr_halve_metric has not improved for "
        "this many steps (checked at each logged step over every step's value, so a halving "
        "lands up to log_every - 1 steps late; 0: never; not together with lr_decay_start "
        "< 1); BEGAN (Berthelot et al. 2017) halves when M_global stalls",
        minimum=0,
    )
    lr_halve_metric: str = setting(
        "m_global",
        "the logged metric (lower is better) whose stall halves the learning rates; "
        "m_global is the began loss's convergence measure",
    )
    lr_halve_smoothing: float = setting(
        0.99,
        "decay of the moving average of lr_halve_metric (0: the raw, noisy value; 0.99 "
        "averages over about 100 steps)",
        minimum=0.0,
        maximum=1.0,
        maximum_inclusive=False,
    )
    lr_halve_min_lr: float = setting(
        1e-6, "halving never takes a learning rate below this", minimum=0.0
    )


@dataclass(frozen=True)
class LoggingSettings:
    """What the run writes as it trains: metrics, pictures and checkpoints."""

    log_every: int = setting(
        10, "steps between metrics.jsonl records (the last step is always logged)", minimum=1
    )
    sample_every: int = setting(
        500, "steps between sample pictures (0: only at the end)", minimum=0
    )
    checkpoint_every: int = setting(
        1000, "steps between checkpoints (0: only at the end)", minimum=0
    )
    sample_count: int = setting(64, "samples drawn for each picture", minimum=1)
    keep_checkpoints: int = setting(
        5,
        "checkpoints kept: older ones are removed after each save, except those marked with "
        "a checkpoints/step-NNNNNNN.keep file; the newest is never removed (0: keep all)",
        minimum=0,
    )


@dataclass(frozen=True)
class TrainOptions:
    """Every ``train`` option of a run, by section (see the module docstring)."""

    optimisation: OptimisationSettings = field(default_factory=OptimisationSettings)
    hardware: HardwareSettings = field(default_factory=HardwareSettings)
    conditioning: ConditioningSettings = field(default_factory=ConditioningSettings)
    semi_supervised: SemiSupervisedSettings = field(default_factory=SemiSupervisedSettings)
    schedule: ScheduleSettings = field(default_factory=ScheduleSettings)
    logging: LoggingSettings = field(default_factory=LoggingSettings)

    @classmethod
    def sections(cls) -> tuple[tuple[str, type], ...]:
        """``(attribute, section class)`` pairs, in the order options are listed."""
        hints = typing.get_type_hints(cls)
        return tuple((item.name, hints[item.name]) for item in dataclasses.fields(cls))

    @classmethod
    def from_values(cls, values: Mapping[str, Any], *, where: str = "train") -> TrainOptions:
        """Validate and coerce user values given by flat name (CLI strings or TOML/JSON
        values); the options not given keep their defaults. Errors name ``where.KEY``."""
        resolved = TRAIN_COMPONENT.resolve_options(values, prefix=where)
        return cls._from_flat(resolved)

    @classmethod
    def from_saved(cls, values: Mapping[str, Any]) -> tuple[TrainOptions, dict[str, Any]]:
        """The options of a saved run's ``config.json``: options it predates keep their
        defaults (each read the same way before it existed). Keys this version does not
        know are returned apart, so that rewriting ``config.json`` keeps them."""
        known = {option.name for option in TRAIN_OPTIONS}
        unknown = {key: value for key, value in values.items() if key not in known}
        given = {key: value for key, value in values.items() if key in known}
        return cls.from_values(given, where="config.json: train"), unknown

    @classmethod
    def _from_flat(cls, flat: Mapping[str, Any]) -> TrainOptions:
        parts = {}
        for attribute, section in cls.sections():
            names = [item.name for item in dataclasses.fields(section)]
            parts[attribute] = section(**{name: flat[name] for name in names if name in flat})
        return cls(**parts)

    def as_flat(self) -> dict[str, Any]:
        """The options by flat name, as ``config.json`` stores them."""
        flat: dict[str, Any] = {}
        for attribute, _ in self.sections():
            flat.update(dataclasses.asdict(getattr(self, attribute)))
        return flat

    def replace(self, **values: Any) -> TrainOptions:
        """A copy with some options changed by flat name, validated like user input."""
        return self.from_values({**self.as_flat(), **values})

    def __getitem__(self, name: str) -> Any:
        """Read an option by flat name (``config.train["seed"]``, for older scripts)."""
        flat = self.as_flat()
        if name not in flat:
            raise KeyError(name)
        return flat[name]


def _without_none(hint: Any) -> Any:
    """``int`` for ``int | None`` (an option whose default is auto), else ``hint``."""
    arguments = [argument for argument in typing.get_args(hint) if argument is not type(None)]
    return arguments[0] if len(arguments) == 1 and type(None) in typing.get_args(hint) else hint


def _options() -> tuple[Option, ...]:
    options = []
    for _, section in TrainOptions.sections():
        hints = typing.get_type_hints(section)
        for item in dataclasses.fields(section):
            meta = item.metadata
            options.append(
                Option(
                    item.name,
                    _without_none(hints[item.name]),
                    item.default,
                    meta["help"],
                    choices=meta["choices"],
                    minimum=meta["minimum"],
                    maximum=meta["maximum"],
                    minimum_inclusive=meta["minimum_inclusive"],
                    maximum_inclusive=meta["maximum_inclusive"],
                )
            )
    names = [option.name for option in options]
    if len(set(names)) != len(names):
        raise RuntimeError("two train sections declare the same option name")
    return tuple(options)


TRAIN_OPTIONS: tuple[Option, ...] = _options()
"""The ``train`` options as :class:`Option` records, derived from the sections."""

# Not a plugin component: a record only so ``train.*`` options are validated and shown
# (``ebkit components show train``) like any component's.
TRAIN_COMPONENT = Component(
    name="train",
    summary="training loop settings: optimisation, hardware, conditioning, "
    "semi-supervised, schedule, logging",
    factory="ebkit.runs.settings:TrainOptions",
    options=TRAIN_OPTIONS,
)


def section_of(name: str) -> str:
    """The section attribute (``optimisation``...) holding the option ``name``."""
    for attribute, section in TrainOptions.sections():
        if name in {item.name for item in dataclasses.fields(section)}:
            return attribute
    raise KeyError(name)


def train_option(name: str) -> Option:
    """The :class:`Option` record of the ``train`` option ``name``."""
    option = TRAIN_COMPONENT.option(name)
    if option is None:
        raise KeyError(name)
    return option


def flags() -> dict[str, str]:
    """``{option name: ebkit train flag}`` for the options that have a flag."""
    result = {}
    for _, section in TrainOptions.sections():
        for item in dataclasses.fields(section):
            if item.metadata["flag"]:
                result[item.name] = item.metadata["flag"]
    return result


def flag_help(name: str) -> str:
    """The ``ebkit train --help`` text of the flag that sets the option ``name``."""
    option = train_option(name)
    text = option.help[0].upper() + option.help[1:]
    bounds = option.describe_bounds()
    if bounds:
        text += f" ({bounds})"
    if option.type is bool:
        return text + "."  # a flag: given or not
    return f"{text} [default: {option.describe_default()}]."
