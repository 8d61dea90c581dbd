"""The chains of the composite samplers (``replay``, ``generator-langevin``): Langevin
from their own options, or the chain kernel their ``kernel`` option names
(:mod:`ebkit.plugin.kernels`)."""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

from ebkit.builtins.samplers.langevin import LANGEVIN_OPTION_NAMES, LangevinSampler
from ebkit.core.interfaces import ContrastiveSampler, DataSpec
from ebkit.plugin.kernels import build_chain_kernel, is_builtin_kernel

__all__ = ["LANGEVIN_DEFAULTS", "make_chain"]

LANGEVIN_DEFAULTS: dict[str, Any] = {
    name: parameter.default
    for name, parameter in inspect.signature(LangevinSampler).parameters.items()
    if name in LANGEVIN_OPTION_NAMES
}
"""The Langevin options' defaults, as :class:`LangevinSampler` declares them."""


def make_chain(
    spec: DataSpec,
    kernel: str,
    kernel_options: str,
    langevin_options: Mapping[str, Any],
    defaults: Mapping[str, Any],
) -> ContrastiveSampler:
    """A :class:`LangevinSampler` with ``langevin_options`` for the built-in kernel, else
    the registry's ``kernel`` built with ``kernel_options``.

    ``defaults`` are the outer sampler's own defaults of Langevin options (it may change
    them, as ``generator-langevin`` does ``steps``); a Langevin option set away from its
    default next to another kernel is an error, not silently ignored."""
    if is_builtin_kernel(kernel):
        if kernel_options.strip():
            raise ValueError(
                f"kernel_options are for a kernel other than langevin (got {kernel_options!r}); "
                "set the Langevin options directly (sampler.steps, sampler.step_size...)"
            )
        return LangevinSampler(spec, **langevin_options)
    expected = {**LANGEVIN_DEFAULTS, **defaults}
    for name, value in langevin_options.items():
        if name in expected and value != expected[name]:
            raise ValueError(
                f"{name} is a Langevin option and kernel={kernel}; set the kernel's own "
                f"options in kernel_options (e.g. kernel_options='steps=10')"
            )
    return build_chain_kernel(kernel, spec, kernel_options)
