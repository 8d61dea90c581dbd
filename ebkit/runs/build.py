"""Building the components of a run from its resolved configuration."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from ebkit.core.engine import Components
from ebkit.core.errors import EbkitError, UsageError
from ebkit.core.interfaces import (
    ContrastiveSampler,
    Dataset,
    DataSpec,
    EnergyFunction,
    LossFunctional,
    Regularizer,
)
from ebkit.plugin.manager import PluginManager
from ebkit.runs.config import ComponentConfig, RunConfig


@contextlib.contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Seed parameter initialisation without leaking into the caller's global RNG
    (``nn.Module`` constructors draw from it)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda: no CUDA device is available (accepted: auto, cpu)")
    return torch.device(name)


def build_dataset(manager: PluginManager, config: RunConfig) -> Dataset:
    entry = manager.lookup("dataset", config.data.id)
    path = config.data_path
    if path is not None and not Path(path).exists():
        raise UsageError(f"--data-path {path} does not exist")
    try:
        dataset = entry.component.load_factory()(path, **config.data.options)
    except ValueError as error:
        raise UsageError(f"dataset {entry.qualified_id!r}: {error}") from None
    _expect(dataset, Dataset, entry.qualified_id)
    return dataset


def build_components(manager: PluginManager, config: RunConfig) -> Components:
    """Build dataset, energy, sampler, loss and regularizers for a run."""
    dataset = build_dataset(manager, config)
    spec = conditional_spec(dataset.spec, config)
    energy, sampler, loss, regularizers = build_models(manager, config, spec)
    return Components(dataset, energy, sampler, loss, regularizers)


def conditional_spec(spec: DataSpec, config: RunConfig) -> DataSpec:
    """The dataset's spec, marked conditional when the run trains with
    ``train.conditional`` (which needs a labelled dataset)."""
    if not config.train.get("conditional", False):
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
    seed = int(config.train["seed"]) * 1000
    energy = _build("energy", manager, config.energy, spec, seed, EnergyFunction)
    sampler = _build("sampler", manager, config.sampler, spec, seed + 1, ContrastiveSampler)
    loss = _build("loss", manager, config.loss, spec, seed + 2, LossFunctional)
    regularizers = {}
    for index, choice in enumerate(config.regularizers):
        regularizer = _build("regularizer", manager, choice, spec, seed + 100 + index, Regularizer)
        regularizers[manager.lookup("regularizer", choice.id).name] = regularizer
    return energy, sampler, loss, regularizers


def _build(
    kind: str,
    manager: PluginManager,
    choice: ComponentConfig,
    spec: DataSpec,
    seed: int,
    expected: type,
) -> Any:
    entry = manager.lookup(kind, choice.id)
    factory = entry.component.load_factory()
    try:
        with seeded(seed):
            built = factory(spec, **choice.options)
    except ValueError as error:
        # Components reject option combinations they cannot honour with ValueError.
        raise UsageError(f"{kind} {entry.qualified_id!r}: {error}") from None
    _expect(built, expected, entry.qualified_id)
    if spec.conditional and kind in ("energy", "sampler") and not built.accepts_labels:
        raise UsageError(
            f"{kind} {entry.qualified_id!r} cannot condition on class labels (--conditional); "
            f"see `ebkit components {kind}` and docs/conditional.md for the ones that can"
        )
    return built


def _expect(obj: object, expected: type, component_id: str) -> None:
    if not isinstance(obj, expected):
        raise EbkitError(
            f"component {component_id!r} built a {type(obj).__name__}, "
            f"not an ebkit.{expected.__name__} (a bug in its plugin)"
        )
