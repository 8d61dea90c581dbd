"""What the engine gives losses beyond energies: the step's data batch (``Trainer.batch``,
read by step extensions such as score matching's) and the training of a loss's own
parameters by the energy's optimiser (noise-contrastive estimation's log-partition
constant); and the conformance check of losses trained without contrastive samples."""

from __future__ import annotations

import itertools

import pytest
import torch
from torch import Tensor, nn

from ebkit.builtins.energies.networks import MLPEnergy
from ebkit.builtins.losses.cd import CDLoss
from ebkit.builtins.losses.none import DataEnergyLoss
from ebkit.builtins.samplers.langevin import LangevinSampler
from ebkit.builtins.samplers.none import NoSampler
from ebkit.core.engine import Components, Trainer, TrainSettings
from ebkit.core.extensions import StepExtension
from ebkit.core.interfaces import DataBatch, Dataset, DataSpec, EnergyOutput, LossOutput
from ebkit.testing import check_loss

SPEC = DataSpec((2,))


class GaussianData(Dataset):
    spec = SPEC

    def sample(self, batch_size: int, generator: torch.Generator) -> DataBatch:
        return DataBatch(torch.randn(batch_size, 2, generator=generator))


def energy() -> MLPEnergy:
    with torch.random.fork_rng():
        torch.manual_seed(0)
        return MLPEnergy(SPEC, width=8, n_layers=2)


class RecordBatch(StepExtension):
    """Keeps the batch the trainer exposes and the energy of it the step computed."""

    def __init__(self) -> None:
        self.seen: list[tuple[Tensor, Tensor]] = []

    def energy_terms(self, trainer, real, fake):
        assert trainer.batch is not None
        self.seen.append((trainer.batch.x.clone(), real.energy.detach().clone()))
        return None


def test_extensions_read_the_data_batch_of_the_step() -> None:
    record = RecordBatch()
    parts = Components(GaussianData(), energy(), NoSampler(SPEC), DataEnergyLoss(SPEC))
    trainer = Trainer(parts, TrainSettings(steps=2, batch_size=5), extensions=[record])
    assert trainer.batch is None
    expected = GaussianData().sample(5, torch.Generator().manual_seed(0)).x
    with torch.no_grad():
        expected_energy = parts.energy(expected).energy
    trainer.train_step()
    x, seen_energy = record.seen[0]
    assert torch.equal(x, expected)
    assert torch.allclose(seen_energy, expected_energy)  # the very batch the energy saw
    trainer.train_step()
    assert not torch.equal(record.seen[1][0], x)  # the next step's batch


class OffsetLoss(DataEnergyLoss):
    """mean (E(x) + c)² with a learnt offset c: its minimum moves c to −mean E."""

    def __init__(self, spec: DataSpec) -> None:
        super().__init__(spec)
        self.offset = nn.Parameter(torch.tensor(3.0))

    def energy_loss(self, real: EnergyOutput, fake: EnergyOutput | None) -> LossOutput:
        return LossOutput((real.energy + self.offset).square().mean())


def test_the_energy_optimiser_trains_the_loss_parameters() -> None:
    loss = OffsetLoss(SPEC)
    parts = Components(GaussianData(), energy(), NoSampler(SPEC), loss)
    trainer = Trainer(parts, TrainSettings(steps=3, batch_size=8, energy_lr=0.1))
    trainer.fit()
    assert loss.offset.item() < 3.0 - 0.1  # Adam moved it by about lr per step
    assert "loss.offset" in {f"loss.{name}" for name, _ in loss.named_parameters()}
    group = trainer.energy_optimizer.param_groups[0]["params"]
    assert group[-1] is loss.offset


def test_losses_without_parameters_leave_the_energy_optimiser_as_it_was() -> None:
    parts = Components(GaussianData(), energy(), LangevinSampler(SPEC, steps=2), CDLoss(SPEC))
    trainer = Trainer(parts, TrainSettings(steps=1, batch_size=4))
    params = trainer.energy_optimizer.param_groups[0]["params"]
    assert [id(p) for p in params] == [id(p) for p in parts.energy.parameters()]


# -- the conformance check of data-only losses ----------------------------------------------


def test_a_data_only_loss_passes_the_check() -> None:
    check_loss(DataEnergyLoss)
    check_loss(DataEnergyLoss, DataSpec((2,), -4.0, 4.0))


class Frozen(DataEnergyLoss):
    """Returns a loss detached from everything: nothing trains."""

    def energy_loss(self, real: EnergyOutput, fake: EnergyOutput | None) -> LossOutput:
        return LossOutput(real.energy.detach().mean() * 0 + torch.zeros((), requires_grad=True))


class SharedState(DataEnergyLoss):
    """Scales the loss by a counter shared by every instance, state kept outside the module
    (so a second run with the same seed trains differently)."""

    calls = itertools.count(1)

    def energy_loss(self, real: EnergyOutput, fake: EnergyOutput | None) -> LossOutput:
        if real.energy.grad_fn is None:  # the check's fixed energies: stay deterministic
            return LossOutput(real.energy.mean())
        return LossOutput(real.energy.mean() * next(self.calls))


@pytest.mark.parametrize(
    ("loss", "message"),
    [(Frozen, "left the energy's parameters unchanged"), (SharedState, "same seed")],
)
def test_the_check_catches_a_data_only_loss_that_does_not_train(loss, message) -> None:
    with pytest.raises(AssertionError, match=message):
        check_loss(loss)
