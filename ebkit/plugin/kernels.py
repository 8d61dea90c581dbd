"""Chain kernels: the MCMC samplers that other samplers run their chains with.

``replay`` (persistent chains) and ``generator-langevin`` (G(z) refined by MCMC) move
their chains with Langevin dynamics unless their option ``kernel`` names another sampler
of the registry, e.g. ``hmc`` from the ebkit-hmc plugin. A sampler can serve as a kernel
when it follows :class:`ChainKernel`: start points (:meth:`~ChainKernel.initial`),
chains run from given points (:meth:`~ChainKernel.refine`), the diagnostics of the last
call (:meth:`~ChainKernel.metrics`) and the number of chain steps per call (``steps``).
:func:`build_chain_kernel` looks the name up and builds it; ``docs/plugins.md`` (chain
kernels) is the guide.

Importing this module does not import torch.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from ebkit.core.errors import UsageError

if TYPE_CHECKING:
    import torch
    from torch import Tensor

    from ebkit.core.interfaces import ContrastiveSampler, DataSpec, EnergyFunction

__all__ = [
    "BUILTIN_KERNEL",
    "KERNEL_METHODS",
    "ChainKernel",
    "build_chain_kernel",
    "is_builtin_kernel",
    "parse_kernel_options",
]

BUILTIN_KERNEL = "langevin"
"""The kernel of ``replay`` and ``generator-langevin`` when ``kernel`` is not set: their
own Langevin options build it, exactly as before kernels could be chosen."""

KERNEL_METHODS = ("initial", "refine", "metrics")
"""The methods a sampler needs, besides ``steps``, to serve as a chain kernel."""


@runtime_checkable
class ChainKernel(Protocol):
    """What a sampler provides to run the chains of another sampler.

    It is an ordinary :class:`ebkit.ContrastiveSampler` (its own :meth:`sample` is
    ``refine(initial(n, generator), ...)``) that also has:

    - ``steps: int``, the chain steps one :meth:`refine` runs; 0 means :meth:`refine`
      returns its start unchanged (``generator-langevin`` then returns raw G(z));
    - :meth:`initial`, start points from the kernel's own noise (``replay`` fills its
      buffer and its fresh restarts with them);
    - :meth:`refine`, the chains run from given start points;
    - :meth:`metrics`, the diagnostics of the last :meth:`refine`, logged under the
      outer sampler's name.

    Optionally ``start_energy``, the energies ``(B,)`` of the last start points as the
    chain saw them (``None`` before a call): ``generator-langevin`` logs their mean as
    ``energy_raw``. A kernel built inside another sampler is its sub-module, so its
    registered buffers (an adapted step size) are saved in checkpoints, and it follows
    the outer sampler's ``train()``/``eval()`` mode.
    """

    steps: int

    def initial(
        self,
        n: int,
        generator: torch.Generator | None,
        *,
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
    ) -> Tensor:
        """``n`` start points ``(n, *event_shape)``, drawn from ``generator`` on its
        device, or from torch's default generator on ``device`` when it is ``None``."""
        ...

    def refine(
        self,
        start: Tensor,
        energy: EnergyFunction,
        generator: torch.Generator,
        labels: Tensor | None = None,
    ) -> Tensor:
        """Run ``steps`` chain steps from ``start: (B, *event_shape)`` (not modified) on
        ``energy`` (E(x | y) for ``labels: (B,)`` in a conditional run); all randomness
        from ``generator``. Returns the detached end points, same shape."""
        ...

    def metrics(self) -> dict[str, Tensor | float]:
        """Scalar diagnostics of the last :meth:`refine` (tensors or floats)."""
        ...


def is_builtin_kernel(name: str) -> bool:
    """Whether ``name`` asks for the built-in Langevin chains (``langevin`` or
    ``ebkit/langevin``), which the outer sampler builds from its own options."""
    return name in (BUILTIN_KERNEL, f"ebkit/{BUILTIN_KERNEL}")


def parse_kernel_options(text: str) -> dict[str, str]:
    """``"leapfrog_steps=5 step_size=0.1"`` -> ``{"leapfrog_steps": "5", "step_size":
    "0.1"}``: ``NAME=VALUE`` pairs separated by spaces (a list value takes commas,
    ``widths=64,64``). Raises ``ValueError`` naming the first malformed pair."""
    try:
        pairs = shlex.split(text)
    except ValueError as error:
        raise ValueError(f"kernel_options {text!r} cannot be split: {error}") from None
    options: dict[str, str] = {}
    for pair in pairs:
        name, equals, value = pair.partition("=")
        name = name.strip()
        if not equals or not name or not value:
            raise ValueError(
                f"kernel_options: {pair!r} is not NAME=VALUE (pairs are separated by spaces, "
                "e.g. 'leapfrog_steps=5 step_size=0.1')"
            )
        if name in options:
            raise ValueError(f"kernel_options: {name!r} is given twice")
        options[name] = value
    return options


def build_chain_kernel(
    name: str,
    spec: DataSpec,
    options: str | Mapping[str, Any] = "",
) -> ContrastiveSampler:
    """Build the sampler ``name`` (short name or qualified id) as a chain kernel for
    ``spec``, with ``options`` (a ``kernel_options`` text or a mapping) validated, coerced
    and completed with the kernel's defaults as ``-o`` values are. The name is looked up
    in the plugin manager building the outer sampler (``ebkit.build_component``'s
    ``manager``), else in the process-wide one.

    Raises ``ValueError`` (which a sampler factory turns into a one-line usage error)
    for an unknown name, a bad option, a sampler that is not a :class:`ChainKernel`, or
    one that cannot take the class labels of a conditional ``spec``. The kernel is built
    in the caller's RNG: inside a sampler's factory, from the run's seed.
    """
    from ebkit.core.interfaces import ContrastiveSampler
    from ebkit.plugin.manager import active_plugin_manager

    values = parse_kernel_options(options) if isinstance(options, str) else dict(options)
    try:
        entry = active_plugin_manager().lookup("sampler", name)
        resolved = entry.component.resolve_options(values, prefix="kernel_options")
    except UsageError as error:
        raise ValueError(f"kernel {name!r}: {error}") from None
    kernel = entry.component.load_factory()(spec, **resolved)
    missing = [method for method in KERNEL_METHODS if not callable(getattr(kernel, method, None))]
    if not isinstance(getattr(kernel, "steps", None), int):
        missing.append("steps")
    if not isinstance(kernel, ContrastiveSampler) or missing:
        lacking = ", ".join(missing) if missing else "the ContrastiveSampler interface"
        raise ValueError(
            f"kernel {entry.qualified_id!r} is not a chain kernel: it lacks {lacking} "
            "(see the chain kernel protocol in docs/plugins.md)"
        )
    if spec.conditional and not kernel.accepts_labels:
        raise ValueError(
            f"kernel {entry.qualified_id!r} cannot condition on class labels (--conditional)"
        )
    return kernel
