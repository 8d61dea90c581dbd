"""What the components of a run need from each other, checked before training starts."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ebkit.core.errors import UsageError

if TYPE_CHECKING:
    from ebkit.core.engine import Components

__all__ = ["check_requirements"]


def check_requirements(components: Components) -> None:
    """Refuse components that cannot train together, naming what is missing: a loss
    without use for contrastive samples paired with a sampler that draws them, a loss or
    regularizer reading an :class:`~ebkit.core.interfaces.EnergyOutput` field the energy
    does not provide, a sampler-side regularizer on a sampler that does not train."""
    provided = components.energy.provides
    sampler, loss = components.sampler, components.loss
    if sampler.draws_samples and not loss.needs_contrastive:
        raise UsageError(
            f"the loss {type(loss).__name__} ignores contrastive samples; pair it with "
            "--sampler none"
        )
    readers = [(f"loss {type(components.loss).__name__}", components.loss.requires)]
    readers += [
        (f"regularizer {name!r}", reg.requires) for name, reg in components.regularizers.items()
    ]
    for reader, required in readers:
        missing = sorted(required - provided)
        if missing:
            raise UsageError(
                f"{reader} needs the energy's {', '.join(missing)}, which "
                f"{type(components.energy).__name__} does not provide "
                f"(it provides: {', '.join(sorted(provided)) or 'only the energy'})"
            )
    if components.regularizers and not components.sampler.trainable:
        sampler_side = [n for n, r in components.regularizers.items() if r.target == "sampler"]
        if sampler_side:
            raise UsageError(
                f"regularizer {sampler_side[0]!r} acts on the sampler's loss, but the "
                f"sampler {type(components.sampler).__name__} is not trainable"
            )
