"""Building the components of a run from its resolved configuration."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from ebkit.config import RunConfig
from ebkit.engine import Components
from ebkit.errors import EbkitError, UsageError
from ebkit.interfaces import (
    ContrastiveSampler,
    Dataset,
    EnergyFunction,
    LossFunctional,
    Regularizer,
)
from ebkit.plugins import PluginManager


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
    dataset = entry.component.load_factory()(path, **config.data.options)
    _expect(dataset, Dataset, entry.qualified_id)
    return dataset


def build_components(manager: PluginManager, config: RunConfig) -> Components:
    """Build dataset, energy, sampler, loss and regularizers; parameters are initialised
    from the run's seed (each component from its own offset, so adding a regularizer
    does not change the energy's initial weights)."""
    seed = int(config.train["seed"])
    dataset = build_dataset(manager, config)
    spec = dataset.spec
    built: dict[str, Any] = {}
    for offset, (kind, choice, expected) in enumerate(
        [
            ("energy", config.energy, EnergyFunction),
            ("sampler", config.sampler, ContrastiveSampler),
            ("loss", config.loss, LossFunctional),
        ]
    ):
        entry = manager.lookup(kind, choice.id)
        with seeded(seed * 1000 + offset):
            built[kind] = entry.component.load_factory()(spec, **choice.options)
        _expect(built[kind], expected, entry.qualified_id)
    regularizers: dict[str, Regularizer] = {}
    for index, choice in enumerate(config.regularizers):
        entry = manager.lookup("regularizer", choice.id)
        with seeded(seed * 1000 + 100 + index):
            regularizer = entry.component.load_factory()(spec, **choice.options)
        _expect(regularizer, Regularizer, entry.qualified_id)
        regularizers[entry.name] = regularizer
    return Components(dataset, built["energy"], built["sampler"], built["loss"], regularizers)


def _expect(obj: object, expected: type, component_id: str) -> None:
    if not isinstance(obj, expected):
        raise EbkitError(
            f"component {component_id!r} built a {type(obj).__name__}, "
            f"not an ebkit.{expected.__name__} (a bug in its plugin)"
        )
