"""The conformance check of a loss trained without contrastive samples
(``needs_contrastive = False``, paired with ``--sampler none``), which
:func:`ebkit.testing.check_loss` runs for such a loss.

Such a loss receives ``fake=None``, and its objective may need more than energies: score
matching differentiates E with respect to x, so it computes its term in a step extension
(reading ``trainer.batch``) instead of in ``energy_loss``. The check therefore also trains
a small energy with it for a few steps, the way ``ebkit train`` would. Torch is imported
only inside the check.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ebkit.core.interfaces import DataSpec, EnergyOutput, LossFunctional

__all__ = ["check_data_only_loss"]

STEPS = 3
"""Training steps the check takes with the loss (the first with a fixed initial energy)."""


def check_data_only_loss(build: Any, spec: DataSpec, real: EnergyOutput, *, batch: int = 6) -> None:
    """Check the loss ``build()`` returns for ``spec``: ``energy_loss(real, None)`` is a
    finite deterministic scalar with scalar metrics; a small MLP energy trained for
    :data:`STEPS` steps with the ``none`` sampler and this loss gets finite losses, scalar
    metrics, parameters that move, and the same parameters again from a second run with
    the same seed; the loss's state survives a ``state_dict`` round trip."""
    import torch

    from ebkit.core.interfaces import LossOutput
    from ebkit.testing.conformance import _assert_metrics, _assert_scalar

    loss = build()
    result = loss.energy_loss(real, None)
    assert isinstance(result, LossOutput), "energy_loss must return a LossOutput"
    _assert_scalar(result.loss, "energy loss")
    assert torch.equal(result.loss, loss.energy_loss(real, None).loss), (
        "energy_loss is not deterministic"
    )
    _assert_metrics(result.metrics)
    first, metrics = _train(build(), spec, batch)
    second, _ = _train(build(), spec, batch)
    _assert_metrics(metrics)
    assert all(torch.equal(a, b) for a, b in zip(first[1], second[1], strict=True)), (
        "two runs with the same seed trained different energies (draw randomness from the "
        "trainer's generators, never from torch's global RNG)"
    )
    assert any(not torch.equal(a, b) for a, b in zip(first[0], first[1], strict=True)), (
        "training with the loss left the energy's parameters unchanged"
    )
    clone = build()
    clone.load_state_dict(loss.state_dict())
    assert torch.equal(clone.energy_loss(real, None).loss, result.loss), (
        "state_dict does not capture the loss's state"
    )


def _train(loss: LossFunctional, spec: DataSpec, batch: int) -> tuple[Any, dict[str, Any]]:
    """Train a seeded 2-hidden-layer SiLU MLP energy with ``loss`` on uniform data in
    ``[low, high]``; return its parameters before and after, and the last step's metrics."""
    import torch

    from ebkit.builtins.energies.networks import MLPEnergy
    from ebkit.builtins.samplers.none import NoSampler
    from ebkit.core.engine import Components, Trainer, TrainSettings
    from ebkit.core.interfaces import DataBatch, Dataset

    class UniformData(Dataset):
        def __init__(self) -> None:
            self.spec = spec

        def sample(self, batch_size: int, generator: torch.Generator) -> DataBatch:
            unit = torch.rand((batch_size, *spec.event_shape), generator=generator)
            return DataBatch(spec.low + (spec.high - spec.low) * unit)

    with torch.random.fork_rng():
        torch.manual_seed(0)
        # Smooth (SiLU), so that losses differentiating E twice (score matching) see a Hessian.
        energy = MLPEnergy(spec, width=8, n_layers=2, activation="swish")
    before = [p.detach().clone() for p in energy.parameters()]
    parts = Components(UniformData(), energy, NoSampler(spec), loss)
    trainer = Trainer(parts, TrainSettings(steps=STEPS, batch_size=batch, seed=3))
    metrics: dict[str, Any] = {}
    for _ in range(STEPS):
        metrics = trainer.train_step()
    trainer.check_finite()
    return (before, [p.detach().clone() for p in energy.parameters()]), metrics
