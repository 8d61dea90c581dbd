"""ebkit: a plugin-based toolkit for energy-based models on PyTorch.

The names below are the public API that plugins and library users import. Importing
``ebkit`` stays light: the torch-backed interfaces load on first use, so listing
plugins or printing ``--help`` never imports torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ebkit.architectures import ARCHITECTURES, choose_architecture
from ebkit.components import Component, Option
from ebkit.errors import EbkitError, NonFiniteLossError, PluginError, UsageError
from ebkit.hookspecs import hookimpl

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
    "TensorDataset": "ebkit.data",
}

__all__ = [
    "ARCHITECTURES",
    "Component",
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
    "Regularizer",
    "TensorDataset",
    "UsageError",
    "__version__",
    "choose_architecture",
    "hookimpl",
]

if TYPE_CHECKING:
    from ebkit.data import TensorDataset
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
    )


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'ebkit' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
