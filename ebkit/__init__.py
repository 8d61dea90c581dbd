"""ebkit: a plugin-based toolkit for energy-based models on PyTorch.

The names below are the public API that plugins and library users import: the
interfaces and records plugins implement, and the library entry points
(:func:`build_component`, :func:`train`, :func:`resume`, :func:`load_run`, the
:class:`Trainer`). Importing ``ebkit`` stays light: everything backed by torch loads on
first use, so listing plugins or printing ``--help`` never imports torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ebkit.architectures import ARCHITECTURES, choose_architecture
from ebkit.components import Component, Option
from ebkit.errors import EbkitError, NonFiniteLossError, PluginError, UsageError
from ebkit.hookspecs import HOOK_VERSION, hookimpl

__version__ = "0.1.0"

_LAZY: dict[str, str] = {
    "DataBatch": "ebkit.interfaces",
    "DataSpec": "ebkit.interfaces",
    "Dataset": "ebkit.interfaces",
    "EnergyFunction": "ebkit.interfaces",
    "EnergyOutput": "ebkit.interfaces",
    "ContrastiveSampler": "ebkit.interfaces",
    "LossFunctional": "ebkit.interfaces",
    "LossOutput": "ebkit.interfaces",
    "Regularizer": "ebkit.interfaces",
    "energy_metrics": "ebkit.interfaces",
    "TensorDataset": "ebkit.data",
    "build_component": "ebkit.library",
    "train": "ebkit.library",
    "resume": "ebkit.library",
    "load_run": "ebkit.library",
    "SavedRun": "ebkit.saved_run",
    "Trainer": "ebkit.engine",
    "TrainSettings": "ebkit.engine",
    "Components": "ebkit.engine",
    "Callback": "ebkit.engine",
    "PluginManager": "ebkit.plugins",
    "get_plugin_manager": "ebkit.plugins",
}

__all__ = [
    "ARCHITECTURES",
    "HOOK_VERSION",
    "Callback",
    "Component",
    "Components",
    "ContrastiveSampler",
    "DataBatch",
    "DataSpec",
    "Dataset",
    "EbkitError",
    "EnergyFunction",
    "EnergyOutput",
    "LossFunctional",
    "LossOutput",
    "NonFiniteLossError",
    "Option",
    "PluginError",
    "PluginManager",
    "Regularizer",
    "SavedRun",
    "TensorDataset",
    "TrainSettings",
    "Trainer",
    "UsageError",
    "__version__",
    "build_component",
    "choose_architecture",
    "energy_metrics",
    "get_plugin_manager",
    "hookimpl",
    "load_run",
    "resume",
    "train",
]

if TYPE_CHECKING:
    from ebkit.data import TensorDataset
    from ebkit.engine import Callback, Components, Trainer, TrainSettings
    from ebkit.interfaces import (
        ContrastiveSampler,
        DataBatch,
        Dataset,
        DataSpec,
        EnergyFunction,
        EnergyOutput,
        LossFunctional,
        LossOutput,
        Regularizer,
        energy_metrics,
    )
    from ebkit.library import build_component, load_run, resume, train
    from ebkit.plugins import PluginManager, get_plugin_manager
    from ebkit.saved_run import SavedRun


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'ebkit' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
