"""Conformance checks for plugin authors, in the spirit of scikit-learn's ``check_estimator``.

``check_energy``, ``check_sampler``, ``check_loss`` and ``check_regularizer`` verify a
component against its interface: shapes, finite values, gradients, seeded determinism,
state round trips and option round trips. ``check_dataset`` lives in
:mod:`ebkit.testing.datasets`; ``check_conditional_energy`` and
``check_conditional_sampler`` (components that set ``accepts_labels``, in conditional
specs) in :mod:`ebkit.testing.conditional`. Torch is imported only inside the checks.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from ebkit.plugin.components import Component

__all__ = [
    "check_energy",
    "check_loss",
    "check_option_round_trip",
    "check_regularizer",
    "check_sampler",
]

if TYPE_CHECKING:
    from ebkit.core.interfaces import DataSpec, EnergyFunction

Factory = Component | Callable[..., Any]


# -- conformance checks -----------------------------------------------------------------


def _build(
    kind: str, factory: Factory, spec: DataSpec, options: Mapping[str, Any], seed: int = 0
) -> Any:
    """Build the component under test along ebkit's one build path."""
    return _make(kind, factory, options, spec=spec, seed=seed)


def _make(kind: str, factory: Factory, options: Mapping[str, Any], **where: Any) -> Any:
    """:func:`ebkit.runs.build.make_component` for a component record (its options
    validated, after their round trip is checked) or a bare factory (options as given:
    it declares no option records to check them against)."""
    from ebkit.runs.build import make_component

    if isinstance(factory, Component):
        check_option_round_trip(factory)
        record, validate = factory, True
    else:
        record = Component(name="under-test", summary="the factory under test", factory=factory)
        validate = False
    # The checks assert the interface themselves, with messages for plugin authors.
    return make_component(record, kind, options, validate=validate, check=False, **where)


def check_option_round_trip(component: Component) -> None:
    """Every option's default survives the trip through its command-line text form."""
    for option in component.options:
        if option.default is None:
            continue
        text = (
            ",".join(str(item) for item in option.default)
            if isinstance(option.default, list)
            else str(option.default).lower()
            if isinstance(option.default, bool)
            else str(option.default)
        )
        again = option.coerce(text)
        assert again == option.default, (
            f"option {option.name!r}: default {option.default!r} reads back as {again!r}"
        )


def _default_specs() -> list[DataSpec]:
    from ebkit.core.interfaces import DataSpec

    return [DataSpec((2,), -4.0, 4.0), DataSpec((1, 8, 8))]


def _inputs(spec: DataSpec, batch: int, seed: int) -> Any:
    import torch

    generator = torch.Generator().manual_seed(seed)
    unit = torch.rand((batch, *spec.event_shape), generator=generator)
    return spec.low + (spec.high - spec.low) * unit


def check_energy(
    factory: Factory, spec: DataSpec | None = None, *, batch: int = 6, **options: Any
) -> None:
    """Check an energy: EnergyOutput with ``(B,)`` finite energies, the fields it claims
    in ``provides`` with the right shapes, gradients to every parameter and to the input,
    and identical weights and outputs when built twice with the same seed."""
    import torch

    from ebkit.core.interfaces import EnergyFunction, EnergyOutput

    for data_spec in [spec] if spec is not None else _default_specs():
        energy = _build("energy", factory, data_spec, options)
        assert isinstance(energy, EnergyFunction), f"built {type(energy).__name__}"
        twin = _build("energy", factory, data_spec, options)
        _assert_same_state(energy, twin, "two builds with the same seed")
        x = _inputs(data_spec, batch, seed=1).requires_grad_(True)
        output = energy(x)
        assert isinstance(output, EnergyOutput), "forward must return an EnergyOutput"
        assert output.energy.shape == (batch,), (
            f"energy shape {tuple(output.energy.shape)}, expected ({batch},)"
        )
        assert torch.isfinite(output.energy).all(), "energies are not finite"
        _check_provided_fields(energy, output, data_spec, batch)
        output.energy.sum().backward()
        assert x.grad is not None and torch.isfinite(x.grad).all(), "no finite input gradient"
        trainable = [p for p in energy.parameters() if p.requires_grad]
        for name, parameter in energy.named_parameters():
            if parameter.requires_grad:
                assert parameter.grad is not None, f"parameter {name!r} gets no gradient"
                assert torch.isfinite(parameter.grad).all(), f"gradient of {name!r} not finite"
        assert trainable, "an energy needs trainable parameters"
        energy.eval()
        twin.eval()
        with torch.no_grad():
            probe = _inputs(data_spec, batch, seed=2)
            assert torch.equal(energy(probe).energy, energy(probe).energy), (
                "eval-mode energies differ between two calls"
            )


def _check_provided_fields(energy: EnergyFunction, output: Any, spec: DataSpec, batch: int) -> None:
    import dataclasses

    import torch

    from ebkit.core.interfaces import EnergyOutput

    optional = {field.name for field in dataclasses.fields(EnergyOutput)} - {"energy"}
    unknown = energy.provides - optional
    assert not unknown, f"provides names unknown fields {sorted(unknown)}"
    for field in energy.provides:
        value = getattr(output, field)
        assert value is not None, f"{field} is in provides but the output has none"
        assert value.shape[0] == batch and torch.isfinite(value).all(), f"bad {field}"
    if "features" in energy.provides:
        assert output.features.ndim == 2, "features must be (B, F)"
    for field in ("reconstruction", "residual"):
        if field in energy.provides:
            assert tuple(getattr(output, field).shape[1:]) == spec.event_shape, (
                f"{field} must have the data's event shape"
            )
    if "logits" in energy.provides:
        assert output.logits.ndim == 2, "logits must be (B, C)"


def _assert_same_state(first: Any, second: Any, what: str) -> None:
    import torch

    a, b = first.state_dict(), second.state_dict()
    assert a.keys() == b.keys(), f"{what}: different state keys"
    for key in a:
        assert torch.equal(a[key], b[key]), f"{what}: {key!r} differs"


def check_sampler(
    factory: Factory,
    spec: DataSpec | None = None,
    *,
    energy: EnergyFunction | None = None,
    n: int = 5,
    **options: Any,
) -> None:
    """Check a sampler: ``(n, *event_shape)`` finite samples, a graph to the parameters
    exactly when ``trainable``, the same samples from the same generator seed, and a
    state_dict round trip that reproduces them."""
    import torch

    from ebkit.core.interfaces import ContrastiveSampler

    for data_spec in [spec] if spec is not None else _default_specs():
        target = energy if energy is not None else _QuadraticEnergy(data_spec)
        sampler = _build("sampler", factory, data_spec, options)
        assert isinstance(sampler, ContrastiveSampler), f"built {type(sampler).__name__}"
        samples = sampler.sample(n, target, torch.Generator().manual_seed(3))
        assert samples.shape == (n, *data_spec.event_shape), (
            f"samples shape {tuple(samples.shape)}, expected ({n}, *{data_spec.event_shape})"
        )
        assert torch.isfinite(samples).all(), "samples are not finite"
        if sampler.trainable:
            assert samples.requires_grad, "a trainable sampler's samples must keep their graph"
            samples.sum().backward()
            assert any(p.grad is not None for p in sampler.parameters()), "no gradient flows"
        else:
            assert not samples.requires_grad, "samples of a fixed sampler must be detached"
        sampler.eval()
        first = sampler.sample(n, target, torch.Generator().manual_seed(4))
        again = sampler.sample(n, target, torch.Generator().manual_seed(4))
        assert torch.equal(first, again), "the same generator seed gave different samples"
        clone = _build("sampler", factory, data_spec, options, seed=99)
        clone.load_state_dict(sampler.state_dict())
        clone.eval()
        copied = clone.sample(n, target, torch.Generator().manual_seed(4))
        assert torch.equal(first, copied), "state_dict does not capture the sampler's state"


def check_loss(
    factory: Factory, spec: DataSpec | None = None, *, batch: int = 6, **options: Any
) -> None:
    """Check a loss: scalar finite energy loss with gradients to both energies (or to
    the fields the loss ``requires``, such as BEGAN's residual), a scalar sampler loss
    (if implemented) with gradients to the contrastive energies (or those fields),
    deterministic values, metrics that are scalars, and state updates that survive a
    state_dict round trip. A loss without contrastive samples (``needs_contrastive`` false)
    gets :func:`ebkit.testing.data_only.check_data_only_loss` instead, a few training steps
    included."""
    import torch

    from ebkit.core.interfaces import LossFunctional, LossOutput

    data_spec = spec if spec is not None else _default_specs()[1]
    loss = _build("loss", factory, data_spec, options)
    assert isinstance(loss, LossFunctional), f"built {type(loss).__name__}"
    real, fake = _energy_outputs(data_spec, batch)
    if not loss.needs_contrastive:  # trained with --sampler none: it never sees samples
        from ebkit.testing.data_only import check_data_only_loss

        check_data_only_loss(lambda: _build("loss", factory, data_spec, options), data_spec, real)
        return
    result = loss.energy_loss(real, fake)
    assert isinstance(result, LossOutput), "energy_loss must return a LossOutput"
    _assert_scalar(result.loss, "energy loss")
    _assert_metrics(result.metrics)
    again = loss.energy_loss(real, fake)
    assert torch.equal(result.loss, again.loss), "energy_loss is not deterministic"
    assert result.loss.requires_grad, "the energy loss is detached from the energies"
    result.loss.backward()
    # A loss may read the scalar energy or the fields it requires (BEGAN: the residual).
    read = ("energy", *sorted(loss.requires))
    assert _has_gradient(real, read), "the energy loss ignores the data's energies"
    assert _has_gradient(fake, read), "the energy loss ignores the contrastive energies"
    try:
        sampler_result = loss.sampler_loss(fake)
    except NotImplementedError:
        sampler_result = None
    if sampler_result is not None:
        _assert_scalar(sampler_result.loss, "sampler loss")
        _assert_metrics(sampler_result.metrics)
        for field in read:
            getattr(fake, field).grad = None
        sampler_result.loss.backward()
        assert _has_gradient(fake, read), "the sampler loss ignores the contrastive energies"
    _assert_metrics(loss.update_state(real.detach(), fake.detach()))
    clone = _build("loss", factory, data_spec, options)
    clone.load_state_dict(loss.state_dict())
    assert torch.equal(clone.energy_loss(real, fake).loss, loss.energy_loss(real, fake).loss), (
        "state_dict does not capture the loss's state"
    )


def _has_gradient(output: Any, fields: tuple[str, ...]) -> bool:
    return any(getattr(output, field).grad is not None for field in fields)


def check_regularizer(
    factory: Factory, spec: DataSpec | None = None, *, batch: int = 6, **options: Any
) -> None:
    """Check a regularizer: a finite scalar penalty with a gradient to the fields it
    ``requires``, a float weight and a valid target."""
    import torch

    from ebkit.core.interfaces import Regularizer

    data_spec = spec if spec is not None else _default_specs()[1]
    regularizer = _build("regularizer", factory, data_spec, options)
    assert isinstance(regularizer, Regularizer), f"built {type(regularizer).__name__}"
    assert regularizer.target in ("energy", "sampler"), f"bad target {regularizer.target!r}"
    assert isinstance(regularizer.weight, float), "weight must be a float"
    real, fake = _energy_outputs(data_spec, batch)
    penalty = regularizer.penalty(real if regularizer.target == "energy" else None, fake)
    _assert_scalar(penalty, "penalty")
    assert torch.equal(
        penalty, regularizer.penalty(real if regularizer.target == "energy" else None, fake)
    ), "penalty is not deterministic"
    if penalty.requires_grad:
        penalty.backward()
    for field in regularizer.requires:
        assert getattr(fake, field).grad is not None, f"penalty ignores {field}"


def _energy_outputs(spec: DataSpec, batch: int) -> tuple[Any, Any]:
    import torch

    from ebkit.core.interfaces import EnergyOutput

    generator = torch.Generator().manual_seed(5)

    def output() -> EnergyOutput:
        def leaf(*shape: int) -> torch.Tensor:
            return torch.rand(shape, generator=generator).mul(3).requires_grad_(True)

        return EnergyOutput(
            energy=leaf(batch),
            features=leaf(batch, 7),
            reconstruction=leaf(batch, *spec.event_shape),
            logits=leaf(batch, 10),
            residual=leaf(batch, *spec.event_shape),  # drawn last: the others stay as they were
        )

    return output(), output()


def _assert_scalar(value: Any, what: str) -> None:
    import torch

    assert isinstance(value, torch.Tensor) and value.ndim == 0, f"{what} must be a 0-d tensor"
    assert torch.isfinite(value), f"{what} is not finite"


def _assert_metrics(metrics: Mapping[str, Any]) -> None:
    import torch

    for key, value in metrics.items():
        assert isinstance(key, str), "metric names must be strings"
        if isinstance(value, torch.Tensor):
            assert value.numel() == 1, f"metric {key!r} is not a scalar"
            assert not value.requires_grad, f"metric {key!r} keeps a graph (detach it)"
        else:
            assert isinstance(value, (int, float)), f"metric {key!r} is not a number"


def _quadratic_energy_class() -> type:
    from ebkit.core.interfaces import EnergyFunction, EnergyOutput

    class QuadraticEnergy(EnergyFunction):
        """E(x) = ½‖x‖² with one trainable scale, for exercising samplers; in a
        conditional spec E(x | y) = ½‖x − y·1‖², centred on the class index."""

        accepts_labels = True

        def __init__(self, spec: DataSpec) -> None:
            import torch

            super().__init__(spec)
            self.scale = torch.nn.Parameter(torch.ones(()))

        def forward(self, x: Any, labels: Any = None) -> EnergyOutput:
            flat = x.flatten(1)
            if self.spec.conditional:
                assert labels is not None, "a conditional energy needs labels"
                flat = flat - labels.to(flat.dtype).unsqueeze(1)
            return EnergyOutput(energy=0.5 * self.scale * flat.pow(2).sum(1))

    return QuadraticEnergy


def _QuadraticEnergy(spec: DataSpec) -> EnergyFunction:
    return _quadratic_energy_class()(spec)
