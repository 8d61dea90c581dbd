"""Building the components of a run from its resolved configuration."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import torch

from ebkit.core import hardware
from ebkit.core.engine import Components
from ebkit.core.errors import EbkitError, UsageError
from ebkit.core.hardware import resolve_device as resolve_device
from ebkit.core.interfaces import (
    ContrastiveSampler,
    Dataset,
    DataSpec,
    EnergyFunction,
    LossFunctional,
    Regularizer,
)
from ebkit.plugin.components import Component
from ebkit.plugin.manager import PluginManager, building_with
from ebkit.runs.config import ComponentConfig, RunConfig
from ebkit.runs.directory import say

_INTERFACES: dict[str, type] = {
    "energy": EnergyFunction,
    "sampler": ContrastiveSampler,
    "loss": LossFunctional,
    "regularizer": Regularizer,
    "dataset": Dataset,
}


@contextlib.contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Seed parameter initialisation without leaking into the caller's global RNG
    (``nn.Module`` constructors draw from it)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def can_compile() -> bool:
    """Whether ``--compile`` can compile here; if not, say why in one line (the run
    trains eagerly, which computes the same)."""
    reason = hardware.compile_unavailable()
    if reason is not None:
        say(f"--compile: torch.compile cannot run here ({reason}); training without it")
    return reason is None


def build_dataset(manager: PluginManager, config: RunConfig) -> Dataset:
    """The run's dataset, from its files at ``config.data_path`` (if it reads any)."""
    return build_component(
        manager, "dataset", config.data.id, config.data.options, path=config.data_path
    )


def build_components(manager: PluginManager, config: RunConfig) -> Components:
    """Build dataset, energy, sampler, loss and regularizers for a run."""
    dataset = build_dataset(manager, config)
    spec = conditional_spec(dataset.spec, config)
    energy, sampler, loss, regularizers = build_models(manager, config, spec)
    return Components(dataset, energy, sampler, loss, regularizers)


def conditional_spec(spec: DataSpec, config: RunConfig) -> DataSpec:
    """The dataset's spec, marked conditional when the run trains with
    ``train.conditional`` (which needs a labelled dataset)."""
    if not config.train.conditioning.conditional:
        return spec
    if not spec.num_classes:
        raise UsageError(
            f"--conditional needs a dataset with class labels; {config.data.id!r} has none "
            "(labelled: digits, mnist, cifar10, folder with class sub-folders, npz with y)"
        )
    return dataclasses.replace(spec, conditional=True)


def build_models(
    manager: PluginManager, config: RunConfig, spec: DataSpec
) -> tuple[EnergyFunction, ContrastiveSampler, LossFunctional, dict[str, Regularizer]]:
    """Build everything but the dataset from its :class:`DataSpec` (what ``ebkit sample``
    needs: no training data). Parameters are initialised from the run's seed, each
    component from its own offset, so adding a regularizer does not change the energy's
    initial weights."""
    seed = config.train.optimisation.seed * 1000

    def build(kind: str, choice: ComponentConfig, offset: int) -> Any:
        return build_component(
            manager, kind, choice.id, choice.options, spec=spec, seed=seed + offset
        )

    energy = build("energy", config.energy, 0)
    sampler = build("sampler", config.sampler, 1)
    loss = build("loss", config.loss, 2)
    regularizers = {}
    for index, choice in enumerate(config.regularizers):
        regularizers[manager.lookup("regularizer", choice.id).name] = build(
            "regularizer", choice, 100 + index
        )
    return energy, sampler, loss, regularizers


def build_component(
    manager: PluginManager,
    kind: str,
    component_id: str,
    options: Mapping[str, Any],
    *,
    spec: DataSpec | None = None,
    path: str | Path | None = None,
    seed: int | None = None,
) -> Any:
    """The one way a component is built from its kind, name or qualified id and options:
    what training, saved runs, evaluation and :func:`ebkit.build_component` all call.

    Energies, samplers, losses and regularizers are built for ``spec``; datasets from
    the files at ``path``, if they read any. See :func:`make_component`."""
    entry = manager.lookup(kind, component_id)
    with building_with(manager):  # a sampler's chain kernel is looked up in the same one
        return make_component(
            entry.component,
            kind,
            options,
            spec=spec,
            path=path,
            seed=seed,
            label=entry.qualified_id,
        )


def make_component(
    component: Component,
    kind: str,
    options: Mapping[str, Any],
    *,
    spec: DataSpec | None = None,
    path: str | Path | None = None,
    seed: int | None = None,
    label: str | None = None,
    validate: bool = True,
    check: bool = True,
) -> Any:
    """Build the component record ``component`` (of ``kind``, shown as ``label``).

    ``options`` are validated, coerced and completed with their defaults as ``-o``
    values are (``validate=False`` passes them as they are, for a bare factory without
    option records). With ``seed``, parameters are initialised from a forked global RNG
    seeded with it, leaving the caller's RNG as it was. A ``ValueError`` of the factory
    (an option combination it cannot honour) becomes a one-line :class:`UsageError`.
    ``check`` refuses an object that does not implement the kind's interface, and an
    energy or sampler that cannot take the labels of a conditional ``spec``."""
    label = label or component.name
    section = {
        "dataset": "data",
        "regularizer": component.name,
        "logger": f"logger.{component.name}",
    }.get(kind, kind)
    resolved = component.resolve_options(options, prefix=section) if validate else dict(options)
    if kind == "dataset":
        if path is not None and not Path(path).exists():
            raise UsageError(f"--data-path {path} does not exist")
        arguments: tuple[Any, ...] = (None if path is None else str(path),)
    elif kind == "logger":
        arguments = ()  # a logger is built from its options alone
    else:
        arguments = (spec,)
    factory = component.load_factory()
    try:
        with seeded(seed) if seed is not None else contextlib.nullcontext():
            built = factory(*arguments, **resolved)
    except ValueError as error:
        # Components reject option combinations they cannot honour with ValueError.
        raise UsageError(f"{kind} {label!r}: {error}") from None
    if check and kind in _INTERFACES:  # loggers are checked by ebkit.tracking
        _expect(built, _INTERFACES[kind], label)
        conditional = spec is not None and spec.conditional
        if conditional and kind in ("energy", "sampler") and not built.accepts_labels:
            raise UsageError(
                f"{kind} {label!r} cannot condition on class labels (--conditional); "
                f"see `ebkit components {kind}` and docs/conditional.md for the ones that can"
            )
    return built


def _expect(obj: object, expected: type, component_id: str) -> None:
    if not isinstance(obj, expected):
        raise EbkitError(
            f"component {component_id!r} built a {type(obj).__name__}, "
            f"not an ebkit.{expected.__name__} (a bug in its plugin)"
        )
