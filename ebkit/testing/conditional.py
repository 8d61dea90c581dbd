"""Conformance checks of components that condition on class labels (``accepts_labels``):
the conditional energy and the conditional sampler, in conditional specs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ebkit.testing.conformance import (
    Factory,
    _build,
    _check_provided_fields,
    _inputs,
    _QuadraticEnergy,
)

if TYPE_CHECKING:
    from ebkit.core.interfaces import DataSpec, EnergyFunction

__all__ = ["check_conditional_energy", "check_conditional_sampler"]


def _conditional_specs() -> list[DataSpec]:
    from ebkit.core.interfaces import DataSpec

    return [
        DataSpec((2,), -4.0, 4.0, num_classes=3, conditional=True),
        DataSpec((1, 8, 8), num_classes=3, conditional=True),
    ]


def check_conditional_energy(
    factory: Factory, spec: DataSpec | None = None, *, batch: int = 6, **options: Any
) -> None:
    """Check an energy that sets ``accepts_labels`` in conditional specs (default: a
    3-class 2-D spec and a 3-class 8×8 image spec): ``forward(x, labels)`` gives
    ``(B,)`` finite energies, gradients to the input and to every parameter (the label
    layers included), the label changes the energy, and a call without labels fails."""
    import torch

    from ebkit.core.interfaces import EnergyFunction
    from ebkit.core.labels import class_cycle

    for data_spec in [spec] if spec is not None else _conditional_specs():
        assert data_spec.conditional and data_spec.num_classes, "use a conditional spec"
        energy = _build("energy", factory, data_spec, options)
        assert isinstance(energy, EnergyFunction), f"built {type(energy).__name__}"
        assert energy.accepts_labels, "the energy does not set accepts_labels"
        x = _inputs(data_spec, batch, seed=1).requires_grad_(True)
        labels = class_cycle(batch, data_spec.num_classes)
        output = energy(x, labels)
        assert output.energy.shape == (batch,), (
            f"energy shape {tuple(output.energy.shape)}, expected ({batch},)"
        )
        assert torch.isfinite(output.energy).all(), "energies are not finite"
        _check_provided_fields(energy, output, data_spec, batch)
        output.energy.sum().backward()
        assert x.grad is not None and torch.isfinite(x.grad).all(), "no finite input gradient"
        for name, parameter in energy.named_parameters():
            if parameter.requires_grad:
                assert parameter.grad is not None, f"parameter {name!r} gets no gradient"
        energy.eval()
        with torch.no_grad():
            probe = _inputs(data_spec, batch, seed=2)
            shifted = (labels + 1) % data_spec.num_classes
            assert not torch.equal(energy(probe, labels).energy, energy(probe, shifted).energy), (
                "the label does not change the energy"
            )
            try:
                energy(probe)
            except (TypeError, ValueError):
                pass
            else:
                raise AssertionError("a conditional energy must refuse a call without labels")


def check_conditional_sampler(
    factory: Factory,
    spec: DataSpec | None = None,
    *,
    energy: EnergyFunction | None = None,
    n: int = 6,
    **options: Any,
) -> None:
    """Check a sampler that sets ``accepts_labels`` in conditional specs: ``(n,
    *event_shape)`` finite samples for ``labels: (n,)``, the same samples for the same
    seed and labels, different samples for other labels (against ``energy``, by default
    ½‖x − y·1‖², whose minimum moves with the class), a graph to the parameters exactly
    when ``trainable``."""
    import torch

    from ebkit.core.interfaces import ContrastiveSampler
    from ebkit.core.labels import class_cycle

    for data_spec in [spec] if spec is not None else _conditional_specs():
        assert data_spec.conditional and data_spec.num_classes, "use a conditional spec"
        target = energy if energy is not None else _QuadraticEnergy(data_spec)
        sampler = _build("sampler", factory, data_spec, options)
        assert isinstance(sampler, ContrastiveSampler), f"built {type(sampler).__name__}"
        assert sampler.accepts_labels, "the sampler does not set accepts_labels"
        labels = class_cycle(n, data_spec.num_classes)
        samples = sampler.sample(n, target, torch.Generator().manual_seed(3), labels)
        assert samples.shape == (n, *data_spec.event_shape), (
            f"samples shape {tuple(samples.shape)}, expected ({n}, *{data_spec.event_shape})"
        )
        assert torch.isfinite(samples).all(), "samples are not finite"
        if sampler.trainable:
            samples.sum().backward()
            assert any(p.grad is not None for p in sampler.parameters()), "no gradient flows"
        sampler.eval()
        first = sampler.sample(n, target, torch.Generator().manual_seed(4), labels)
        again = sampler.sample(n, target, torch.Generator().manual_seed(4), labels)
        assert torch.equal(first, again), "the same seed and labels gave different samples"
        shifted = (labels + 1) % data_spec.num_classes
        other = sampler.sample(n, target, torch.Generator().manual_seed(4), shifted)
        assert not torch.equal(first, other), "the labels do not change the samples"
