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

from ebkit.core.architectures import ARCHITECTURES, choose_architecture
from ebkit.core.errors import EbkitError, NonFiniteLossError, PluginError, UsageError
from ebkit.plugin.components import Component, Option
from ebkit.plugin.hookspecs import HOOK_VERSION, hookimpl

__version__ = "0.1.0"

_LAZY: dict[str, str] = {
    "DataBatch": "ebkit.core.interfaces",
    "DataSpec": "ebkit.core.interfaces",
    "Dataset": "ebkit.core.interfaces",
    "EnergyFunction": "ebkit.core.interfaces",
    "EnergyOutput": "ebkit.core.interfaces",
    "ContrastiveSampler": "ebkit.core.interfaces",
    "LossFunctional": "ebkit.core.interfaces",
    "LossOutput": "ebkit.core.interfaces",
    "Regularizer": "ebkit.core.interfaces",
    "energy_metrics": "ebkit.core.interfaces",
    "TensorDataset": "ebkit.core.data",
    "energy_and_grad": "ebkit.core.chains",
    "floating_dtype": "ebkit.core.chains",
    "frozen": "ebkit.core.chains",
    "start_points": "ebkit.core.chains",
    "all_reduce_mean": "ebkit.core.parallel",
    "is_main_process": "ebkit.core.parallel",
    "process_rank": "ebkit.core.parallel",
    "world_size": "ebkit.core.parallel",
    "build_component": "ebkit.runs.library",
    "train": "ebkit.runs.library",
    "resume": "ebkit.runs.library",
    "load_run": "ebkit.runs.library",
    "SavedRun": "ebkit.runs.saved",
    "Trainer": "ebkit.core.engine",
    "TrainSettings": "ebkit.core.engine",
    "Components": "ebkit.core.engine",
    "Callback": "ebkit.core.engine",
    "StepExtension": "ebkit.core.extensions",
    "R1Penalty": "ebkit.core.gradient_penalty",
    "r1_penalty": "ebkit.core.gradient_penalty",
    "Logger": "ebkit.tracking.logger",
    "ChainKernel": "ebkit.plugin.kernels",
    "build_chain_kernel": "ebkit.plugin.kernels",
    "PluginManager": "ebkit.plugin.manager",
    "get_plugin_manager": "ebkit.plugin.manager",
}

__all__ = [
    "ARCHITECTURES",
    "HOOK_VERSION",
    "Callback",
    "ChainKernel",
    "Component",
    "Components",
    "ContrastiveSampler",
    "DataBatch",
    "DataSpec",
    "Dataset",
    "EbkitError",
    "EnergyFunction",
    "EnergyOutput",
    "Logger",
    "LossFunctional",
    "LossOutput",
    "NonFiniteLossError",
    "Option",
    "PluginError",
    "PluginManager",
    "R1Penalty",
    "Regularizer",
    "SavedRun",
    "StepExtension",
    "TensorDataset",
    "TrainSettings",
    "Trainer",
    "UsageError",
    "__version__",
    "all_reduce_mean",
    "build_chain_kernel",
    "build_component",
    "choose_architecture",
    "energy_and_grad",
    "energy_metrics",
    "floating_dtype",
    "frozen",
    "get_plugin_manager",
    "hookimpl",
    "is_main_process",
    "load_run",
    "process_rank",
    "r1_penalty",
    "resume",
    "start_points",
    "train",
    "world_size",
]

if TYPE_CHECKING:
    from ebkit.core.chains import energy_and_grad, floating_dtype, frozen, start_points
    from ebkit.core.data import TensorDataset
    from ebkit.core.engine import Callback, Components, Trainer, TrainSettings
    from ebkit.core.extensions import StepExtension
    from ebkit.core.gradient_penalty import R1Penalty, r1_penalty
    from ebkit.core.interfaces import (
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
    from ebkit.core.parallel import all_reduce_mean, is_main_process, process_rank, world_size
    from ebkit.plugin.kernels import ChainKernel, build_chain_kernel
    from ebkit.plugin.manager import PluginManager, get_plugin_manager
    from ebkit.runs.library import build_component, load_run, resume, train
    from ebkit.runs.saved import SavedRun
    from ebkit.tracking.logger import Logger


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'ebkit' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
